"""The demo app on the real Glean SDK, in its own process (Glean is a process-wide singleton).

    python glean_debug_client.py ENDPOINT DATA_DIR LAUNCHES [invalid]

Records demo.launches and demo.theme and submits the `hello` ping, then a ping pingpipe has no
schema for. With GLEAN_DEBUG_VIEW_TAG set in the environment both carry X-Debug-ID. With `invalid`,
it also adds a negative amount to demo.launches, which the SDK refuses and counts as
glean.error.invalid_value for demo.launches, in the same ping.
"""

import sys
from pathlib import Path

import glean._uniffi
from glean import Configuration, Glean, load_metrics, load_pings

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "schemas" / "data" / "apps" / "pingpipe-demo"


def main() -> None:
    endpoint, data_dir, launches = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    metrics = load_metrics(DEMO / "metrics.yaml")
    pings = load_pings(DEMO / "pings.yaml")
    extra = load_pings(Path(__file__).with_name("unregistered_pings.yaml"))
    Glean._testing_mode = True
    glean._uniffi.glean_set_test_mode(True)  # submit() returns once the upload is done
    Glean.initialize(
        application_id="pingpipe-demo",
        application_version="1.0",
        upload_enabled=True,
        data_dir=data_dir,
        configuration=Configuration(server_endpoint=endpoint),
    )
    metrics.demo.launches.add(launches)
    if sys.argv[4:] == ["invalid"]:
        metrics.demo.launches.add(-1)
    metrics.demo.theme.set("solarized")
    pings.hello.submit()
    extra.not_registered.submit()
    Glean.shutdown()


if __name__ == "__main__":
    main()
