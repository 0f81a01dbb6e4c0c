"""deploy/gateway/: the front door's resources point at what exists. Its route and policies name the
edge's Service and a port it serves; the balancer's health check path is one the edge answers 200;
the client address rule it documents is the one launch.sh gives the decoder. (Gateway API and GKE's
policy kinds are not in Kubernetes' own schemas, and the balancer itself needs GKE.)"""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.helpers import run_edge

REPO = Path(__file__).resolve().parents[2]
GATEWAY = [d for d in yaml.safe_load_all((REPO / "deploy" / "gateway" / "edge-gateway.yaml").read_text()) if d]


def edge_service() -> dict:
    docs = yaml.safe_load_all((REPO / "deploy" / "kubernetes" / "edge.yaml").read_text())
    (service,) = [d for d in docs if d and d["kind"] == "Service" and d["metadata"]["name"] == "pingpipe-edge"]
    return service


def one(kind: str) -> dict:
    (doc,) = [d for d in GATEWAY if d["kind"] == kind]
    return doc


def test_the_route_and_policies_name_the_edges_service_and_its_port():
    service = edge_service()
    assert service["spec"]["type"] == "ClusterIP"  # the balancer reaches the pods by NEG, not through a node
    ports = {p["port"] for p in service["spec"]["ports"]}
    gateway, route = one("Gateway"), one("HTTPRoute")
    assert [p["name"] for p in route["spec"]["parentRefs"]] == [gateway["metadata"]["name"]]
    (rule,) = route["spec"]["rules"]
    assert [(b["name"], b["port"]) for b in rule["backendRefs"]] == [(service["metadata"]["name"], next(iter(ports)))]
    for kind in ("HealthCheckPolicy", "GCPBackendPolicy"):
        assert one(kind)["spec"]["targetRef"] == {"group": "", "kind": "Service", "name": service["metadata"]["name"]}
    assert [(listener["protocol"], listener["port"]) for listener in gateway["spec"]["listeners"]] == [("HTTPS", 443)]


@pytest.mark.system
def test_the_health_check_path_is_one_the_edge_answers_200(tmp_path):
    path = one("HealthCheckPolicy")["spec"]["default"]["config"]["httpHealthCheck"]["requestPath"]
    with run_edge(tmp_path / "queue") as edge:
        with urllib.request.urlopen(edge.url + path, timeout=10) as answer:
            assert answer.status == 200


def test_launch_gives_the_decoder_the_client_rule_the_front_door_documents():
    hops = re.search(r"--forwarded-hops (\d+)", (REPO / "deploy" / "gateway" / "edge-gateway.yaml").read_text()).group(1)
    assert f"forwarded_hops={hops}" in (REPO / "deploy" / "dataflow" / "launch.sh").read_text()
