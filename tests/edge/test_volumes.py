"""Stranded spool volumes: which get a drain Job, which are deleted, which are kept (edge/volumes.py),
and `pingpipe edge-volumes` making those calls to a Kubernetes API.

No Kubernetes API server runs here (no cluster, and none is packaged for this machine), so the calls
go over real HTTP to a fake of the API's documented paths (FakeKube below, which says so): it checks
each Job it is sent against Kubernetes' own schemas, and a claim's delete against its uid, as the
API does. The drain the Job runs, `pingpipe edge --drain`, is tested on the real Pub/Sub emulator
(tests/edge/test_pubsub.py)."""

from __future__ import annotations

import re
import subprocess
import threading
import uuid
from http.server import ThreadingHTTPServer
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from pingpipe.edge.volumes import CLAIM_UID, DRAIN_LABEL, Action, Claim, Drain, VolumeConfig, decide, drain_job, look, stuck_pods
from tests.helpers import PINGPIPE, JsonHandler

EDGE = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "edge.yaml"
STATEFULSET = next(d for d in yaml.safe_load_all(EDGE.read_text()) if d and d["kind"] == "StatefulSet")


def claim(ordinal: int, mounted: bool = False) -> Claim:
    return Claim(f"spool-pingpipe-edge-{ordinal}", f"uid-{ordinal}", ordinal, mounted)


def test_a_volume_beyond_the_replicas_is_drained_only_once_it_stayed_unused_for_the_delay():
    detached: dict[str, float] = {}
    claims = [claim(0, mounted=True), claim(1), claim(2, mounted=True)]  # 2: its pod is still stopping
    assert decide(1, claims, [], detached, now=100.0, delay=300) == []  # first seen: the wait starts
    assert decide(1, claims, [], detached, now=399.0, delay=300) == []
    assert decide(1, claims, [], detached, now=400.0, delay=300) == [
        Action("drain", claim(1).name, "ordinal 1 is beyond 1 replica(s), unused")
    ]
    assert decide(2, claims, [], detached, now=500.0, delay=300) == []  # the StatefulSet grew back: it is a pod's again
    assert decide(1, claims, [], detached, now=501.0, delay=300) == []  # and the wait starts over


def test_a_drained_volume_is_deleted_unless_its_ordinal_came_back_and_a_failed_drain_keeps_it():
    done, failed = Drain("drain-1", "uid-1", "succeeded"), Drain("drain-2", "uid-2", "failed")
    actions = decide(1, [claim(0, True), claim(1), claim(2)], [done, failed], {}, 0.0, 0)
    assert [(a.verb, a.name) for a in actions] == [
        ("delete-claim", claim(1).name),
        ("delete-job", "drain-1"),
        ("keep", claim(2).name),
    ]
    back = decide(2, [claim(0, True), claim(1, True)], [done], {}, 0.0, 0)  # scaled up while it drained: the pod keeps it
    assert [(a.verb, a.name) for a in back] == [("delete-job", "drain-1")]
    newer = Claim(claim(1).name, "uid-new", 1, False)  # a later volume of the same name: not the one drained
    assert [(a.verb, a.name) for a in decide(1, [newer], [done], {}, 0.0, 0)] == [("drain", newer.name), ("delete-job", "drain-1")]


def test_only_a_pod_left_pending_on_a_claim_being_deleted_is_deleted_to_be_made_again():
    going = {"metadata": {"name": "spool-pingpipe-edge-1", "uid": "u", "deletionTimestamp": "2026-12-07T10:00:00Z"}}

    def pod(name: str, phase: str) -> dict:
        volumes = [{"name": "spool", "persistentVolumeClaim": {"claimName": "spool-pingpipe-edge-1"}}]
        return {"metadata": {"name": name}, "spec": {"volumes": volumes}, "status": {"phase": phase}}

    assert stuck_pods([going], [pod("pingpipe-edge-1", "Pending")]) == [
        Action("delete-pod", "pingpipe-edge-1", "pending on spool-pingpipe-edge-1, which is being deleted")
    ]
    assert stuck_pods([going], [pod("pingpipe-edge-1", "Running")]) == []  # it flushes at its SIGTERM; never cut short here
    assert stuck_pods([{**going, "metadata": {"name": "spool-pingpipe-edge-1", "uid": "u"}}], [pod("pingpipe-edge-1", "Pending")]) == []


def test_the_drain_job_is_the_edges_own_pod_running_its_drain_on_that_volume_and_valid_kubernetes():
    job = drain_job(STATEFULSET, claim(4))
    kubernetes_validate.validate(job, "1.30", strict=True)
    pod, edge = job["spec"]["template"]["spec"], STATEFULSET["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["edge", "--drain"] and container["image"] == edge["containers"][0]["image"]
    assert container["env"] == edge["containers"][0]["env"] and pod["serviceAccountName"] == edge["serviceAccountName"]
    assert not {"ports", "startupProbe", "livenessProbe", "readinessProbe", "lifecycle"} & container.keys()
    assert {"name": "spool", "persistentVolumeClaim": {"claimName": "spool-pingpipe-edge-4"}} in pod["volumes"]
    assert {m["name"] for m in container["volumeMounts"]} <= {v["name"] for v in pod["volumes"]}
    assert job["metadata"]["annotations"][CLAIM_UID] == "uid-4" and job["metadata"]["labels"]["app"] == DRAIN_LABEL
    assert pod["securityContext"] == edge["securityContext"]
    rules = (EDGE.parents[1] / "monitoring" / "rules.yaml").read_text()
    (failed,) = re.findall(r'kube_job_status_failed\{job_name=~"([^"]+)"\}', rules)
    assert re.fullmatch(failed, job["metadata"]["name"])  # its failure alerts (PingpipeEdgeDrainFailed)


class FakeKube:
    """A fake Kubernetes API (only the paths edge/kube.py calls), because none can run here."""

    def __init__(self, replicas: int, claims: list[str], mounted: list[str]):
        self.statefulset = {**STATEFULSET, "spec": {**STATEFULSET["spec"], "replicas": replicas}}
        self.claims = {n: {"metadata": {"name": n, "uid": str(uuid.uuid4())}} for n in claims}
        self.pods = [{"spec": {"volumes": [{"name": "spool", "persistentVolumeClaim": {"claimName": n}}]}} for n in mounted]
        self.jobs: dict[str, dict] = {}
        self.calls: list[str] = []
        fake = self

        class Handler(JsonHandler):
            def do_GET(self):
                fake.calls.append(f"GET {self.path}")
                base = "/namespaces/default/"
                if self.path == f"/apis/apps/v1{base}statefulsets/pingpipe-edge":
                    return self.send_json(200, fake.statefulset)
                if self.path == f"/api/v1{base}persistentvolumeclaims":
                    return self.send_json(200, {"items": list(fake.claims.values())})
                if self.path == f"/api/v1{base}pods":
                    return self.send_json(200, {"items": fake.pods})
                if self.path == f"/apis/batch/v1{base}jobs?labelSelector=app%3D{DRAIN_LABEL}":
                    return self.send_json(200, {"items": list(fake.jobs.values())})
                self.send_json(404, {"message": "not found"})

            def do_POST(self):
                job = self.read_json()
                fake.calls.append(f"POST {self.path} {job['metadata']['name']}")
                kubernetes_validate.validate(job, "1.30", strict=True)
                if job["metadata"]["name"] in fake.jobs:
                    return self.send_json(409, {"message": "already exists"})
                fake.jobs[job["metadata"]["name"]] = job
                self.send_json(201, job)

            def do_DELETE(self):
                kind, name = self.path.rsplit("/", 2)[-2:]
                held = fake.claims if kind == "persistentvolumeclaims" else fake.jobs
                uid = self.read_json().get("preconditions", {}).get("uid")
                fake.calls.append(f"DELETE {kind}/{name}")
                if name not in held:
                    return self.send_json(404, {"message": "not found"})
                if uid and held[name]["metadata"]["uid"] != uid:
                    return self.send_json(409, {"message": "Precondition failed: UID in precondition"})
                del held[name]
                self.send_json(200, {})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def finish(self, job: str, condition: str) -> None:
        self.jobs[job]["status"] = {"conditions": [{"type": condition, "status": "True"}]}


@pytest.fixture
def fake():
    server = FakeKube(1, [f"spool-pingpipe-edge-{n}" for n in range(3)], ["spool-pingpipe-edge-0"])
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_edge_volumes_drains_the_spare_volumes_then_deletes_the_drained_one_and_keeps_the_failed_one(fake):
    from pingpipe.edge.kube import Kube

    def once(*args: str) -> subprocess.CompletedProcess:
        command = [PINGPIPE, "edge-volumes", "--once", "--api-url", fake.url, "--delay-seconds", "0", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    dry = once("--dry-run")
    assert dry.returncode == 0 and "would drain spool-pingpipe-edge-1" in dry.stdout and fake.jobs == {}, dry.stdout + dry.stderr
    out = once()
    assert out.returncode == 0 and out.stdout.splitlines() == [
        "drain spool-pingpipe-edge-1: ordinal 1 is beyond 1 replica(s), unused",
        "drain spool-pingpipe-edge-2: ordinal 2 is beyond 1 replica(s), unused",
    ], out.stdout + out.stderr
    assert sorted(fake.jobs) == ["drain-spool-pingpipe-edge-1", "drain-spool-pingpipe-edge-2"]
    assert once().stdout == ""  # the Jobs run: nothing more to do
    fake.finish("drain-spool-pingpipe-edge-1", "Complete")
    fake.finish("drain-spool-pingpipe-edge-2", "Failed")
    detached: dict[str, float] = {}
    actions = look(Kube(fake.url), VolumeConfig(delay_seconds=0), detached, 0.0)
    assert [(a.verb, a.name) for a in actions] == [
        ("delete-claim", "spool-pingpipe-edge-1"),
        ("delete-job", "drain-spool-pingpipe-edge-1"),
        ("keep", "spool-pingpipe-edge-2"),
    ]
    assert sorted(fake.claims) == ["spool-pingpipe-edge-0", "spool-pingpipe-edge-2"] and list(fake.jobs) == ["drain-spool-pingpipe-edge-2"]
    fake.server.shutdown()
    fake.server.server_close()  # the API unreachable
    down = once()
    assert down.returncode == 1 and "Traceback" not in down.stderr and len(down.stderr.strip().splitlines()) == 1
    assert down.stderr.startswith("Error: GET /apis/apps/v1/namespaces/default/statefulsets/pingpipe-edge:"), down.stderr
