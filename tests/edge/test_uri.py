import pytest

from pingpipe.edge.uri import check_submit_path

DOC = "2c3a0767-d84a-4d02-8a92-fa54a3376049"


@pytest.mark.parametrize(
    "path, status",
    [
        (f"/submit/eng-workflow/hgpush/1/{DOC}", 200),
        (f"/submit/org-mozilla-fenix/baseline/1/{DOC.upper()}", 200),
        (f"/submit/telemetry/{DOC}/main/Firefox/61.0a1/nightly/20180328030202", 200),
        ("/submit/sslreports", 404),  # Mozilla's decoder drops them all; pingpipe refuses them up front
        ("/submit/sslreports/extra", 404),
        (f"/submit/eng-workflow/hgpush/1/{DOC}/extra", 404),
        ("/submit/eng-workflow/hgpush/1", 404),
        ("/submit/eng-workflow/hgpush/1/not-a-uuid", 404),
        (f"/submit/eng-workflow/hgpush/v1/{DOC}", 404),
        (f"/submit/telemetry/hgpush/1/{DOC}", 404),  # structured form in the telemetry namespace
        (f"/submit/eng-workflow/{DOC}/main/Firefox/61.0a1/nightly/20180328030202", 404),  # telemetry form elsewhere
        ("/submit/telemetry/not-a-uuid/main/Firefox/61.0a1/nightly/2018", 404),
        (f"/submit/telemetry/{DOC}/main/Firefox/61.0a1/nightly", 404),
        (f"/submit/eng%20workflow/hgpush/1/{DOC}", 404),
        (f"/submit//hgpush/1/{DOC}", 404),
        ("/submit", 404),
        ("/submitx/a/b/1/" + DOC, 404),
    ],
)
def test_url_forms(path, status):
    assert check_submit_path(path.encode()) == status


def test_non_ascii_paths_are_bad_requests():
    assert check_submit_path("/submit/ñ/x/1/y".encode()) == 400
    assert check_submit_path(b"/submit/a b/x/1/" + DOC.encode()) == 400
