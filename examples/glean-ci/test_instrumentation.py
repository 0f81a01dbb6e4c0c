"""An app's own instrumentation tests, in CI, against a real pipeline: pingpipe's pytest plugin gives
`pingpipe_up` (a running `pingpipe up`) and `pingpipe_tag` (a debug tag per test); the app's Glean sends
to it as it would to production, and the tests read what the pipeline made of each ping."""

from pathlib import Path

import pytest
from glean import Configuration, Glean, load_metrics, load_pings
from glean.testing import reset_glean

HERE = Path(__file__).parent
metrics = load_metrics(HERE / "metrics.yaml")
pings = load_pings([HERE / "pings.yaml", HERE / "new_pings.yaml"])


@pytest.fixture
def glean(pingpipe_up, pingpipe_tag, monkeypatch):
    """Glean in test mode (each submit returns after its upload), sending to the pipeline, its pings
    tagged for this test (glean-core reads GLEAN_DEBUG_VIEW_TAG when it starts)."""
    monkeypatch.setenv("GLEAN_DEBUG_VIEW_TAG", pingpipe_tag)
    configuration = Configuration(server_endpoint=pingpipe_up.edge_url)
    reset_glean(application_id="org.example.glean-ci", application_version="1.0.0", configuration=configuration)
    return Glean


def test_the_session_ping_carries_the_launches_and_the_theme(glean, pingpipe_up, pingpipe_tag):
    metrics.app.launches.add(3)
    metrics.app.theme.set("dark")
    pings.session.submit()
    ping = pingpipe_up.assert_valid(pingpipe_tag, "session")
    assert ping.metric("counter", "app.launches") == 3
    assert ping.metric("string", "app.theme") == "dark"
    places = [p["state"] for p in pingpipe_up.trace(ping.document_id)["places"]]
    assert places == ["row"]


def test_a_ping_whose_schema_is_not_deployed_is_refused_and_kept_as_an_error_row(glean, pingpipe_up, pingpipe_tag):
    metrics.app.theme.set("light")
    pings.survey.submit()
    rejected = pingpipe_up.assert_rejected(pingpipe_tag, "survey", error_type="ParsePayload")
    assert "schema" in rejected.error_message.lower()
