"""Prometheus metrics of every stage of `up` (pingpipe/up/metrics.py), and the Grafana dashboard and
alert rules in deploy/monitoring/up/: every series they name is one a real `up` serves."""

from __future__ import annotations

import http.client
import json
import re
import time
import urllib.request
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from pingpipe.loader.tables import ERROR_FIELDS, TableId
from pingpipe.up.metrics import UpMetrics
from tests.deploy.test_monitoring import anchors
from tests.helpers import free_port
from tests.privacy.test_purge import post
from tests.up.test_cycle import ping

REPO = Path(__file__).resolve().parents[2]
UP = REPO / "deploy" / "monitoring" / "up"
SUFFIXES = re.compile(r"_(total|bucket|sum|count)$")


def named() -> set[str]:
    """Every pingpipe series the dashboard's panels and the rules' alerts read, as metric families."""
    exprs = [t["expr"] for p in json.loads((UP / "dashboard.json").read_text())["panels"] for t in p["targets"]]
    exprs += [r["expr"] for g in yaml.safe_load((UP / "rules.yaml").read_text())["groups"] for r in g["rules"]]
    return {SUFFIXES.sub("", name) for expr in exprs for name in re.findall(r"\bpingpipe_[a-z0-9_]+", expr)}


def sample(text: str, name: str, **labels: str) -> float:
    return sum(
        s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name and labels.items() <= s.labels.items()
    )


def test_every_series_the_dashboard_and_the_alerts_read_is_one_a_running_up_serves_with_its_figures(run_up):
    port = free_port()
    up = run_up("--metrics-port", str(port))
    conn = http.client.HTTPConnection("127.0.0.1", up.port, timeout=30)
    post(conn, "hello", ping("6a6b6c6d-0000-4000-8000-000000000001"))
    post(conn, "hello", b"{not json")
    up.wait_committed(2)
    deadline = time.monotonic() + 10
    while True:  # the edge's processes write their numbers once a second
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        if sample(text, "pingpipe_edge_requests_total", code="200") == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    served = {f.name for f in text_string_to_metric_families(text)}
    assert named() and named() <= served, sorted(named() - served)
    assert sample(text, "pingpipe_rows_total", table="pingpipe_demo_live.hello_v1", family="pingpipe_demo", doctype="hello") == 1
    assert sample(text, "pingpipe_error_rows_total", error_type="ParsePayload", doctype="hello") == 1
    assert sample(text, "pingpipe_edge_requests_total", code="200") == 2  # the edge's own, served by `up`
    assert sample(text, "pingpipe_commit_seconds_count") >= 1 and sample(text, "pingpipe_worker_seconds_count") >= 1
    assert sample(text, "pingpipe_cycle_runs_total", outcome="failed") == 0
    conn.close()
    assert up.stop() == 0


def test_every_alert_says_how_bad_it_is_and_names_a_runbook_that_exists():
    readme = anchors((REPO / "README.md").read_text())
    for group in yaml.safe_load((UP / "rules.yaml").read_text())["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("page", "ticket") and rule["annotations"]["summary"], rule["alert"]
            document, _, anchor = rule["annotations"]["runbook"].partition("#")
            assert document == "README.md" and anchor in readme, rule["alert"]


def test_a_commit_is_counted_per_table_per_error_type_and_duplicates_apart(tmp_path):
    metrics = UpMetrics(tmp_path)
    errors = [
        {"document_namespace": "org-a", "document_type": "deletion-request", "error_type": "ParsePayload"},
        {"document_namespace": "org-a", "document_type": "baseline", "error_type": "duplicate"},
    ]
    metrics.committed(
        {TableId("org_a_live", "baseline_v1"): ([], [{}, {}]), TableId("payload_bytes_error", "structured"): (ERROR_FIELDS, errors)}
    )
    registry = metrics.registry
    assert (
        registry.get_sample_value("pingpipe_rows_total", {"family": "org_a", "doctype": "baseline", "table": "org_a_live.baseline_v1"}) == 2
    )
    assert (
        registry.get_sample_value(
            "pingpipe_error_rows_total", {"family": "org_a", "doctype": "deletion_request", "error_type": "ParsePayload"}
        )
        == 1
    )
    assert registry.get_sample_value("pingpipe_duplicates_total", {"family": "org_a", "doctype": "baseline"}) == 1
