"""deploy/monitoring/: what GKE's managed Prometheus is given, checked against what it watches. The
pod selector and port are the edge StatefulSet's; every pingpipe series an alert reads is one a real
edge serves on /metrics; every alert says how bad it is and names a runbook that exists. (The rules'
PromQL is not evaluated here: no Prometheus, and the Cloud metrics need Google Cloud.)"""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.helpers import run_edge, submit_path

REPO = Path(__file__).resolve().parents[2]
MONITORING = sorted((REPO / "deploy" / "monitoring").glob("*.yaml"))
KINDS = {"PodMonitoring", "Rules", "ClusterRules", "GlobalRules"}


def docs() -> list[dict]:
    return [d for p in MONITORING for d in yaml.safe_load_all(p.read_text()) if d]


def edge_statefulset() -> dict:
    (edge,) = [
        d for d in yaml.safe_load_all((REPO / "deploy" / "kubernetes" / "edge.yaml").read_text()) if d and d["kind"] == "StatefulSet"
    ]
    return edge


def alerts() -> list[dict]:
    return [r for d in docs() if d["kind"] != "PodMonitoring" for g in d["spec"]["groups"] for r in g["rules"] if "alert" in r]


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors for a document's headings."""
    headings = re.findall(r"^#+ (.+)$", markdown, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_document_is_a_managed_prometheus_resource():
    assert MONITORING and {(d["apiVersion"], d["kind"]) for d in docs()} <= {("monitoring.googleapis.com/v1", k) for k in KINDS}


def test_the_pod_monitoring_scrapes_the_edge_pods_metrics_port():
    edge = edge_statefulset()
    (monitor,) = [d for d in docs() if d["kind"] == "PodMonitoring"]
    labels = edge["spec"]["template"]["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (container,) = edge["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in ports
    assert str(ports["metrics"]) == edge["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"]


def test_every_alert_has_a_severity_a_summary_and_a_runbook_that_exists():
    names = [a["alert"] for a in alerts()]
    assert len(names) == len(set(names)) >= 7
    sections = anchors((REPO / "deploy" / "README.md").read_text())
    for alert in alerts():
        assert alert["labels"]["severity"] in {"page", "ticket"} and alert["for"] and alert["annotations"]["summary"], alert["alert"]
        path, _, anchor = alert["annotations"]["runbook"].partition("#")
        assert path == "deploy/README.md" and anchor in sections, alert["alert"]


@pytest.mark.system
def test_every_edge_series_an_alert_reads_is_one_the_edge_serves(tmp_path):
    with run_edge(tmp_path / "queue", metrics=True) as edge:
        urllib.request.urlopen(urllib.request.Request(edge.url + submit_path(), data=b"{}", method="POST"), timeout=10).read()
        with urllib.request.urlopen(f"http://127.0.0.1:{edge.metrics_port}/metrics", timeout=10) as r:
            served = set(re.findall(r"^(pingpipe_\w+?)(?:\{| )", r.read().decode(), flags=re.M))
    read = {name for a in alerts() for name in re.findall(r"\b(pingpipe_\w+)", a["expr"])}
    assert read and read <= served, read - served
