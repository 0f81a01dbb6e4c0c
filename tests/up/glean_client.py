"""One Glean scenario, run in its own process (Glean is a process-wide singleton).

    python glean_client.py ENDPOINT DATA_DIR [keep]

Records one value of every metric of tests/up/glean_app, submits the custom ping, then
triggers baseline (active, inactive), events, metrics and finally deletion-request (upload
disabled; not with `keep`), which carries a secondary id (e2e.legacy.client_id). Test mode makes
each submit() return only after its upload. Prints what it recorded
as one JSON line, so the test compares the warehouse with the client's own view.
"""

import datetime as dt
import json
import sys
import uuid
from pathlib import Path

import glean._uniffi
from glean import Configuration, Glean, load_metrics, load_pings
from glean._builtins import pings as builtin_pings

APP = Path(__file__).resolve().parent / "glean_app"


def main() -> None:
    endpoint, data_dir = sys.argv[1], Path(sys.argv[2])
    metrics = load_metrics(APP / "metrics.yaml")
    pings = load_pings(APP / "pings.yaml")
    Glean._testing_mode = True
    glean._uniffi.glean_set_test_mode(True)
    Glean.initialize(
        application_id="pingpipe-e2e",
        application_version="1.2.3",
        upload_enabled=True,
        data_dir=data_dir,
        configuration=Configuration(server_endpoint=endpoint, channel="beta"),
    )
    ui = metrics.e2e.ui
    session = uuid.uuid4()
    installed = dt.datetime(2026, 11, 20, 9, 30, 15, tzinfo=dt.timezone.utc)
    ui.launches.add(3)
    ui.theme.set("solarized")
    ui.dark_mode.set(True)
    ui.button_clicks["ok"].add(2)
    ui.button_clicks["cancel"].add(1)
    ui.startup.set_raw_nanos(1_500_000_000)
    ui.width.set(1280)
    ui.languages.add("en-GB")
    ui.languages.add("fr")
    ui.installed_at.set(installed)
    ui.session_uuid.set(session)
    for ms in (10, 20, 30):
        ui.page_load.accumulate_single_sample(ms)  # in the metric's unit (ms)
    ui.clicked.record(ui.ClickedExtra(button="ok"))
    pings.custom.submit()
    Glean.handle_client_active()
    Glean.handle_client_inactive()  # baseline (inactive) and events
    ui.launches.add(1)
    builtin_pings.metrics.submit(builtin_pings.metrics_reason_codes.TODAY.value)
    legacy = uuid.uuid4()
    metrics.e2e.legacy.client_id.set(legacy)  # a secondary id: it goes in the deletion request
    if sys.argv[3:] != ["keep"]:
        Glean.set_upload_enabled(False)  # deletion-request
    Glean.shutdown()
    print(json.dumps({"session_uuid": str(session), "installed_at": installed.isoformat(), "legacy_id": str(legacy)}))


if __name__ == "__main__":
    main()
