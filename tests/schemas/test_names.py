"""schemas/names.py: every dataset, table and view name, as Mozilla's layout gives it."""

from __future__ import annotations

import pytest

from pingpipe.schemas import names
from pingpipe.schemas.names import TableId


def test_a_family_has_its_live_stable_and_derived_datasets_and_its_views_in_itself():
    assert names.live_dataset("org_mozilla_fenix") == "org_mozilla_fenix_live"
    assert names.stable_dataset("org_mozilla_fenix") == "org_mozilla_fenix_stable"
    assert names.derived_dataset("org_mozilla_fenix") == "org_mozilla_fenix_derived"
    assert names.live_table("telemetry", "main_v5") == TableId("telemetry_live", "main_v5")


@pytest.mark.parametrize(
    "dataset, family",
    [
        ("my_app_live", "my_app"),
        ("my_app_stable", "my_app"),
        ("my_app_derived", "my_app"),
        ("fxa_auth_logs_live", "fxa_auth_logs"),
        ("my_app", None),  # its views
        ("payload_bytes_error", None),
        ("live", None),
    ],
)
def test_the_family_of_a_dataset_is_read_off_its_suffix_and_views_and_errors_have_none(dataset, family):
    assert names.family_of(dataset) == family


def test_a_live_table_is_copied_to_its_stable_table_and_read_through_an_unversioned_view():
    live = TableId("my_app_live", "baseline_v1")
    assert names.stable_of(live) == TableId("my_app_stable", "baseline_v1")
    assert names.view_of(live) == names.view_of(names.stable_of(live)) == TableId("my_app", "baseline")
    assert names.stable_of(TableId("my_app_stable", "baseline_v1")) is None
    assert names.stable_of(TableId("my_app_derived", "x_v1")) is None


def test_the_live_table_of_a_stable_copy_is_the_one_its_retention_is_set_for():
    assert names.live_of(TableId("my_app_stable", "metrics_v2")) == TableId("my_app_live", "metrics_v2")
    assert names.live_of(TableId("my_app_live", "metrics_v2")) == TableId("my_app_live", "metrics_v2")
    assert names.live_of(TableId("my_app_derived", "metrics_v2")) is None
    assert names.live_of(TableId("my_app", "metrics")) is None


def test_errors_go_to_telemetrys_table_or_the_structured_one_whatever_the_namespace_says():
    assert names.error_table("telemetry") == TableId("payload_bytes_error", "telemetry")
    for namespace in ("my-app", None, "", "telemetry_live", "../x"):
        assert names.error_table(namespace) == TableId("payload_bytes_error", "structured")
    assert names.is_error_table(names.error_table("x")) and not names.is_error_table(TableId("x_live", "t"))


def test_a_services_log_tables_are_its_family_with_logs_and_only_those_count_as_log_datasets():
    assert names.live_dataset(names.logs_family("fxa-auth")) == "fxa_auth_logs_live"
    assert names.is_logs_live("fxa_auth_logs_live")
    assert not names.is_logs_live("fxa_auth_live") and not names.is_logs_live("fxa_auth_logs_stable")


def test_a_document_types_table_is_its_sanitized_name_and_version():
    assert names.versioned_table("some-ping", 3) == "some_ping_v3"
    assert names.versioned_table("1st", 1) == "_1st_v1"


def test_a_tables_unversioned_name_drops_only_a_trailing_version():
    assert names.unversioned("deletion_request_v1") == "deletion_request"
    assert names.unversioned("events_v12") == "events"
    assert names.unversioned("v2_main") == "v2_main" and names.unversioned("main_v") == "main_v"


def test_a_table_id_reads_back_what_it_prints():
    table = TableId.parse("my_app_live.baseline_v1")
    assert table == TableId("my_app_live", "baseline_v1") and str(table) == "my_app_live.baseline_v1"


def test_the_attributes_are_mozillas_names():
    assert (names.SUBMISSION_TIMESTAMP, names.DOCUMENT_ID, names.URI) == ("submission_timestamp", "document_id", "uri")
