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
        for i, doc in enumerate(yaml.safe_load_all(path.read_text())):
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


def test_the_edges_environment_names_only_options_of_pingpipe_edge():
    options = {p.envvar for p in main.commands["edge"].params if isinstance(p, click.Option) and p.envvar}
    (sts,) = by_kind("StatefulSet")
    names = {e["name"] for e in sts["spec"]["template"]["spec"]["containers"][0]["env"] if e["name"].startswith("PINGPIPE_")}
    assert names and names <= options, names - options
    grace = sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    flush = next(float(e["value"]) for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]
                 if e["name"] == "PINGPIPE_EDGE_SHUTDOWN_FLUSH_SECONDS")
    assert flush < grace  # the shutdown flush ends before Kubernetes kills the pod
