"""Stranded spool volumes: what `pingpipe edge-volumes` does about them, decided from what the cluster holds.

The edge StatefulSet keeps a pod's volume when it scales down (`whenScaled: Retain`): its SIGTERM
flush may have left messages there while Pub/Sub was down. A volume whose ordinal is beyond the
replicas, and no pod has mounted for `delay_seconds` (an autoscaler that grows back soon takes it
again), gets a drain Job: the edge's own pod, running `pingpipe edge --drain` on that claim, which
exits 0 once the volume is empty (deploy/kubernetes/drain-spool.yaml is the same by hand). When the
Job succeeded and the ordinal is still unused, the claim is deleted, then the Job (a pod the
StatefulSet made meanwhile, left Pending on that claim, is deleted to be made again). A Job that fails
(messages no route takes) keeps its volume, for an operator. As Mozilla's ingestion-edge
flush-manager does, with a StatefulSet's retained claims instead of released volumes.

Pure: `decide` and `drain_job` take what the API returned (kube.py fetches it).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

DRAIN_LABEL = "pingpipe-edge-drain"  # the drain Jobs' `app` label (the by-hand manifest's too)
CLAIM_UID = "pingpipe.dev/claim-uid"  # the drained claim's uid, on its Job: a later claim of that name is another volume


@dataclass(frozen=True)
class VolumeConfig:
    namespace: str = "default"
    statefulset: str = "pingpipe-edge"
    delay_seconds: float = 300.0  # detached this long before a drain: the HPA's scale-down window
    every_seconds: float = 30.0  # between two looks at the cluster


@dataclass(frozen=True)
class Claim:
    name: str
    uid: str
    ordinal: int
    mounted: bool  # a pod names it (running, or waiting for it)


@dataclass(frozen=True)
class Drain:
    name: str
    claim_uid: str
    state: str  # "active", "succeeded" or "failed"


@dataclass(frozen=True)
class Action:
    verb: str  # "drain", "delete-claim", "delete-job", "delete-pod" or "keep"
    name: str  # the claim's (drain, delete-claim, keep), the Job's (delete-job) or the pod's (delete-pod)
    why: str


def claims_of(statefulset: dict, claims: list[dict], pods: list[dict]) -> list[Claim]:
    """The StatefulSet's spool claims (`<template>-<set>-<ordinal>`), each with whether a pod names it."""
    template = statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["name"]
    pattern = re.compile(re.escape(f"{template}-{statefulset['metadata']['name']}-") + r"([0-9]+)")
    named = {
        v["persistentVolumeClaim"]["claimName"]
        for pod in pods
        if pod.get("status", {}).get("phase") not in ("Succeeded", "Failed")
        for v in pod.get("spec", {}).get("volumes", [])
        if "persistentVolumeClaim" in v
    }
    out = []
    for c in claims:
        m = pattern.fullmatch(c["metadata"]["name"])
        if m and not c["metadata"].get("deletionTimestamp"):
            out.append(Claim(c["metadata"]["name"], c["metadata"]["uid"], int(m.group(1)), c["metadata"]["name"] in named))
    return sorted(out, key=lambda c: c.ordinal)


def stuck_pods(claims: list[dict], pods: list[dict]) -> list[Action]:
    """A pod still waiting (Pending) for a claim being deleted: the StatefulSet grew back just as a
    drained volume was deleted. Deleted, so that the StatefulSet makes it again with a new claim
    (as Mozilla's flush-manager does); a running pod is never touched."""
    going = {c["metadata"]["name"] for c in claims if c["metadata"].get("deletionTimestamp")}
    out = []
    for pod in pods:
        if pod.get("status", {}).get("phase") != "Pending" or pod["metadata"].get("deletionTimestamp"):
            continue
        waits = going & {v["persistentVolumeClaim"]["claimName"] for v in pod["spec"].get("volumes", []) if "persistentVolumeClaim" in v}
        if waits:
            out.append(Action("delete-pod", pod["metadata"]["name"], f"pending on {min(waits)}, which is being deleted"))
    return out


def drains_of(jobs: list[dict]) -> list[Drain]:
    """The drain Jobs (DRAIN_LABEL) and their state."""
    out = []
    for job in jobs:
        meta = job["metadata"]
        if meta.get("labels", {}).get("app") != DRAIN_LABEL or meta.get("deletionTimestamp"):
            continue
        done = {c["type"] for c in job.get("status", {}).get("conditions", []) if c.get("status") == "True"}
        state = "succeeded" if "Complete" in done else "failed" if "Failed" in done else "active"
        out.append(Drain(meta["name"], meta.get("annotations", {}).get(CLAIM_UID, ""), state))
    return out


def decide(replicas: int, claims: list[Claim], drains: list[Drain], detached: dict[str, float], now: float, delay: float) -> list[Action]:
    """What to do now. `detached` (claim uid -> when it was first seen beyond the replicas and
    unmounted) is the caller's memory across looks; this updates it."""
    by_claim = {d.claim_uid: d for d in drains}
    actions = []
    for claim in claims:
        drain, spare = by_claim.pop(claim.uid, None), claim.ordinal >= replicas and not claim.mounted
        if not spare:
            detached.pop(claim.uid, None)
        if drain is None:
            if spare and now - detached.setdefault(claim.uid, now) >= delay:
                actions.append(Action("drain", claim.name, f"ordinal {claim.ordinal} is beyond {replicas} replica(s), unused"))
        elif drain.state == "succeeded":
            if spare:
                actions.append(Action("delete-claim", claim.name, f"drained by {drain.name}"))
            actions.append(Action("delete-job", drain.name, "done"))
        elif drain.state == "failed":
            actions.append(Action("keep", claim.name, f"{drain.name} failed: messages stay on it (see its logs)"))
    for drain in by_claim.values():  # its claim is gone (deleted after the drain, or by hand)
        if drain.state != "failed":
            actions.append(Action("delete-job", drain.name, "its claim is gone"))
    live = {c.uid for c in claims}
    for uid in [u for u in detached if u not in live]:
        del detached[uid]
    return actions


def job_name(claim: str) -> str:
    return f"drain-{claim}"[:63]


def drain_job(statefulset: dict, claim: Claim) -> dict:
    """A Job that drains `claim`: the StatefulSet's pod (its image, config, identity and hardening)
    running `pingpipe edge --drain` on that volume, without ports, probes or a preStop wait."""
    pod = copy.deepcopy(statefulset["spec"]["template"])
    spec = pod["spec"]
    template = statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["name"]
    container = spec["containers"][0]
    for key in ("ports", "startupProbe", "livenessProbe", "readinessProbe", "lifecycle"):
        container.pop(key, None)
    container["args"] = ["edge", "--drain"]
    spec["containers"] = [container]
    spec["restartPolicy"] = "OnFailure"
    for key in ("terminationGracePeriodSeconds", "topologySpreadConstraints"):
        spec.pop(key, None)
    spec["volumes"] = [*spec.get("volumes", []), {"name": template, "persistentVolumeClaim": {"claimName": claim.name}}]
    pod["metadata"] = {"labels": {"app": DRAIN_LABEL}}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job_name(claim.name), "labels": {"app": DRAIN_LABEL}, "annotations": {CLAIM_UID: claim.uid}},
        "spec": {"backoffLimit": 4, "activeDeadlineSeconds": 86400, "template": pod},
    }


def look(kube, config: VolumeConfig, detached: dict[str, float], now: float, dry_run: bool = False) -> list[Action]:
    """One look at the cluster through `kube` (kube.Kube): decide, then act (unless `dry_run`)."""
    ns = config.namespace
    statefulset, held, pods = kube.statefulset(ns, config.statefulset), kube.claims(ns), kube.pods(ns)
    claims = claims_of(statefulset, held, pods)
    actions = decide(
        statefulset["spec"].get("replicas", 1), claims, drains_of(kube.jobs(ns, DRAIN_LABEL)), detached, now, config.delay_seconds
    )
    actions += stuck_pods(held, pods)
    by_name = {c.name: c for c in claims}
    for action in [] if dry_run else actions:
        if action.verb == "drain":
            kube.create_job(ns, drain_job(statefulset, by_name[action.name]))
        elif action.verb == "delete-claim":
            kube.delete_claim(ns, action.name, by_name[action.name].uid)
        elif action.verb == "delete-job":
            kube.delete_job(ns, action.name)
        elif action.verb == "delete-pod":
            kube.delete_pod(ns, action.name)
    return actions
