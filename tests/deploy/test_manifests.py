"""The Kubernetes manifests: valid against Kubernetes' own schemas (bundled by kubernetes-validate,
no cluster needed), and configured the way the edge reads its configuration."""

from __future__ import annotations

from pathlib import Path

import click
import kubernetes_validate
import pytest
import yaml

from pingpipe.cli import main

MANIFESTS = sorted((Path(__file__).resolve().parents[2] / "deploy" / "kubernetes").glob("*.yaml"))
VERSION = "1.30"  # GKE's regular channel at the time of writing


def documents():
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield pytest.param(doc, id=f"{path.name}:{doc['kind']}/{doc['metadata']['name']}")


@pytest.mark.parametrize("doc", list(documents()))
def test_every_manifest_is_valid_kubernetes(doc):
    kubernetes_validate.validate(doc, VERSION, strict=True)  # raises on any unknown or mistyped field


def by_kind(kind: str) -> list[dict]:
    return [d for p in MANIFESTS for d in yaml.safe_load_all(p.read_text()) if d and d["kind"] == kind]


def test_the_edge_runs_as_a_locked_down_non_root_pod_with_its_probes():
    (sts,) = by_kind("StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    (edge,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert edge["securityContext"]["readOnlyRootFilesystem"] is True
    assert edge["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert {"startupProbe", "livenessProbe", "readinessProbe"} <= set(edge)
    headless = [s for s in by_kind("Service") if s["spec"].get("clusterIP") == "None"]
    assert [s["metadata"]["name"] for s in headless] == [sts["spec"]["serviceName"]]
    assert by_kind("PodDisruptionBudget") and by_kind("ServiceAccount")
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"] == "Retain"


def test_the_edges_environment_names_only_options_of_pingpipe_edge_and_pingpipe():
    options = {p.envvar for p in [*main.params, *main.commands["edge"].params] if isinstance(p, click.Option) and p.envvar}
    (sts,) = by_kind("StatefulSet")
    names = {e["name"] for e in sts["spec"]["template"]["spec"]["containers"][0]["env"] if e["name"].startswith("PINGPIPE_")}
    assert names and names <= options, names - options
    grace = sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    flush = next(
        float(e["value"])
        for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]
        if e["name"] == "PINGPIPE_EDGE_SHUTDOWN_FLUSH_SECONDS"
    )
    assert flush < grace  # the shutdown flush ends before Kubernetes kills the pod


def test_the_drain_job_mounts_a_spool_volume_of_the_statefulset_and_runs_the_edges_drain():
    (sts,) = by_kind("StatefulSet")
    (job,) = [j for j in by_kind("Job") if j["metadata"]["name"].startswith("pingpipe-edge-drain")]
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    edge = main.commands["edge"]
    assert container["args"][0] == "edge" and "--drain" in container["args"]
    assert "--drain" in {o for p in edge.params for o in p.opts}
    options = {p.envvar for p in [*main.params, *edge.params] if isinstance(p, click.Option) and p.envvar}
    assert {e["name"] for e in container["env"]} <= options
    (template,) = sts["spec"]["volumeClaimTemplates"]
    claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert claims == [f"{template['metadata']['name']}-{sts['metadata']['name']}-ORDINAL"]  # the StatefulSet's PVC names
    assert pod["serviceAccountName"] == sts["spec"]["template"]["spec"]["serviceAccountName"]
    assert pod["securityContext"]["runAsUser"] == sts["spec"]["template"]["spec"]["securityContext"]["runAsUser"]


def test_the_setup_job_runs_pubsub_setup_on_the_edges_route_table():
    (job,) = [j for j in by_kind("Job") if j["metadata"]["name"] == "pingpipe-pubsub-setup"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    command = main.commands[container["args"][0]]
    options = {p.envvar for p in [*main.params, *command.params] if isinstance(p, click.Option) and p.envvar}
    assert {e["name"] for e in container["env"]} <= options
    assert {"--errors-topic"} <= set(container["args"]) and {o for p in command.params for o in p.opts} >= {"--errors-topic"}
    (config,) = [v for v in job["spec"]["template"]["spec"]["volumes"] if "configMap" in v]
    assert config["configMap"]["name"] in {c["metadata"]["name"] for c in by_kind("ConfigMap")}


def test_the_edges_grace_period_holds_the_prestop_wait_the_drain_and_the_flush():
    """SIGTERM comes after preStop; the edge then drains requests in flight, then flushes its spool.
    A grace period shorter than all three is a SIGKILL in the middle of the flush."""
    (stateful,) = by_kind("StatefulSet")
    pod = stateful["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: float(e["value"]) for e in container["env"] if e["name"].startswith("PINGPIPE_EDGE_SHUTDOWN_")}
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    needed = pre_stop + env["PINGPIPE_EDGE_SHUTDOWN_DRAIN_SECONDS"] + env["PINGPIPE_EDGE_SHUTDOWN_FLUSH_SECONDS"]
    assert pod["terminationGracePeriodSeconds"] >= needed + 5, (pod["terminationGracePeriodSeconds"], needed)
    assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}


def pod_specs(doc: dict) -> list[dict]:
    spec = doc.get("spec", {})
    if doc["kind"] == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    return [spec["template"]["spec"]] if "template" in spec else []


def test_every_volume_a_pod_mounts_is_made_by_a_manifest():
    """ConfigMaps, Secrets and claims named by a pod are defined here, or are a StatefulSet's claim
    (<template>-<set>-<ordinal>); a volume nobody makes leaves a pod Pending on a fresh cluster."""
    docs = [d for p in MANIFESTS for d in yaml.safe_load_all(p.read_text()) if d]
    made = {(d["kind"], d["metadata"]["name"]) for d in docs}
    claims = [
        f"{t['metadata']['name']}-{d['metadata']['name']}-"
        for d in docs
        if d["kind"] == "StatefulSet"
        for t in d["spec"]["volumeClaimTemplates"]
    ]
    for doc in docs:
        for spec in pod_specs(doc):
            for volume in spec.get("volumes", []):
                if "configMap" in volume:
                    assert ("ConfigMap", volume["configMap"]["name"]) in made, (doc["metadata"]["name"], volume)
                if "secret" in volume:
                    assert ("Secret", volume["secret"]["secretName"]) in made, (doc["metadata"]["name"], volume)
                if "persistentVolumeClaim" in volume:
                    name = volume["persistentVolumeClaim"]["claimName"]
                    assert ("PersistentVolumeClaim", name) in made or any(name.startswith(c) for c in claims), (
                        doc["metadata"]["name"],
                        name,
                    )


def test_every_pingpipe_container_logs_mozlog_json():
    """What Cloud Logging indexes by field, and what on-call's queries read."""
    containers = [
        c
        for d in [d for p in MANIFESTS for d in yaml.safe_load_all(p.read_text()) if d]
        for spec in pod_specs(d)
        for c in spec["containers"]
    ]
    assert containers
    for container in containers:
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        assert env.get("PINGPIPE_LOG_FORMAT") == "json", container["name"]
