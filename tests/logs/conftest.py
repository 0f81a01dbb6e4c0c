from tests.up.conftest import run_up  # noqa: F401 - `pingpipe up` as a subprocess, for these tests too
