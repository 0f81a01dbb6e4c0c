"""Each decoder step on its own, in memory."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import pytest

from pingpipe.decoder.errors import DecompressError, PayloadError, PayloadTooLarge, UnexpectedPathElements, UriError
from pingpipe.decoder.steps.geo import GeoLookup, client_ip, load_city_filter
from pingpipe.decoder.steps.gunzip import gunzip
from pingpipe.decoder.steps.metadata import add_metadata, truncate_timestamp
from pingpipe.decoder.steps.normalize import apply_overrides, normalize, normalize_channel, normalize_os, sample_id
from pingpipe.decoder.steps.payload import parse_json
from pingpipe.decoder.steps.uri import parse_uri
from pingpipe.decoder.steps.useragent import parse_user_agent

from ...fixtures import geoip

DOC = "2c3a0767-d84a-4d02-8a92-fa54a3376049"


# -- URI ------------------------------------------------------------------------------------


def test_structured_uri():
    attrs = {"uri": f"/submit/eng-workflow/hgpush/1/{DOC}"}
    parse_uri(attrs)
    assert attrs == {
        "uri": attrs["uri"],
        "document_namespace": "eng-workflow",
        "document_type": "hgpush",
        "document_version": "1",
        "document_id": DOC,
    }


def test_telemetry_uri():
    attrs = {"uri": f"/submit/telemetry/{DOC}/main/Firefox/61.0a1/nightly/20180328030202"}
    parse_uri(attrs)
    assert attrs["document_type"] == "main" and attrs["app_name"] == "Firefox" and attrs["app_version"] == "61.0a1"
    assert attrs["app_update_channel"] == "nightly" and attrs["app_build_id"] == "20180328030202"
    assert "document_version" not in attrs


@pytest.mark.parametrize(
    "uri, error",
    [
        ("/submit/eng-workflow/hgpush/1", UnexpectedPathElements),
        (f"/submit/eng-workflow/hgpush/1/{DOC}/x", UnexpectedPathElements),
        ("/submit/telemetry/main/Firefox/61.0a1/nightly/20180328030202", UnexpectedPathElements),
        ("/elsewhere/a/b/1/c", UriError),
        ("", UriError),
    ],
)
def test_bad_uris(uri, error):
    with pytest.raises(error):
        parse_uri({"uri": uri})


# -- geo ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attrs, ip",
    [
        ({"x_forwarded_for": "202.196.224.0,_,_"}, "202.196.224.0"),
        ({"x_forwarded_for": "_, 202.196.224.0, _, _", "remote_addr": "1.1.1.1"}, "202.196.224.0"),
        ({"x_forwarded_for": "202.196.224.0"}, "202.196.224.0"),
        ({"remote_addr": "81.2.69.160"}, "81.2.69.160"),
        ({}, None),
    ],
)
def test_client_ip_follows_mozillas_forwarded_for_rule(attrs, ip):
    assert client_ip(attrs) == ip


@pytest.mark.parametrize(
    "xff, hops, ip",
    [
        ("81.2.69.160, 130.211.0.1", 2, "81.2.69.160"),  # Google's HTTPS load balancer: "<client>, <itself>"
        ("6.6.6.6, 81.2.69.160, 130.211.0.1", 2, "81.2.69.160"),  # what the client sent itself is never taken
        ("6.6.6.6, 81.2.69.160, 130.211.0.1, 10.0.0.9", 3, "81.2.69.160"),  # and a proxy after it (Mozilla's)
        ("6.6.6.6", 0, "10.1.2.3"),  # no front door: the peer the edge saw, whatever the header says
    ],
)
def test_the_client_is_the_first_entry_the_front_door_appended(xff, hops, ip):
    assert client_ip({"x_forwarded_for": xff, "remote_addr": "10.1.2.3"}, hops) == ip


def test_geo_lookup_fills_geo_and_always_drops_the_ip(geoip_db):
    geo = GeoLookup(geoip_db)
    attrs = {"x_forwarded_for": "81.2.69.160, 10.0.0.1, 10.0.0.2", "remote_addr": "10.0.0.2"}
    geo(attrs)
    assert attrs == {"geo_country": "GB", "geo_subdivision1": "ENG", "geo_city": "London", "geo_db_version": geoip.DB_VERSION}
    unknown = {"remote_addr": "not-an-ip", "x_forwarded_for": ""}
    geo(unknown)
    assert unknown == {}
    elsewhere = {"remote_addr": "10.1.2.3"}  # an address the database does not know
    geo(elsewhere)
    assert elsewhere == {}


@pytest.mark.parametrize("ip", sorted(geoip.EXPECTED))
def test_geo_lookup_reports_country_subdivisions_and_city_as_far_as_the_database_knows_them(geoip_db, ip):
    """IPv4 and IPv6, one or two subdivisions, a country alone; the database's build time as geo_db_version."""
    attrs = {"remote_addr": ip}
    GeoLookup(geoip_db)(attrs)
    assert attrs == {**geoip.EXPECTED[ip], "geo_db_version": geoip.DB_VERSION}


def test_small_cities_are_dropped_by_the_city_list(tmp_path, geoip_db):
    cities = tmp_path / "cities.txt"
    row = ["2643743", "London"] + [""] * 12 + ["8961989"]
    small = ["1", "Tiny"] + [""] * 12 + ["120"]
    cities.write_text("\t".join(row) + "\n" + "\t".join(small) + "\n")
    assert load_city_filter(cities, 15000) == frozenset({2643743})
    attrs = {"remote_addr": "81.2.69.160"}
    GeoLookup(geoip_db, city_filter=frozenset({1}))(attrs)
    assert "geo_city" not in attrs and attrs["geo_country"] == "GB"


def test_a_city_below_the_minimum_population_is_not_reported_but_its_country_and_subdivision_are(tmp_path, geoip_db):
    """The rule as configured: a GeoNames list read with a minimum population, the lookup keeps only its cities."""
    allowed = load_city_filter(geoip.write_city_list(tmp_path / "cities.txt"), 15000)
    assert allowed == frozenset(gid for gid, (_name, people) in geoip.POPULATION.items() if people >= 15000)
    geo = GeoLookup(geoip_db, city_filter=allowed)
    tiny, london, seville = {"remote_addr": "198.51.100.7"}, {"remote_addr": "81.2.69.160"}, {"remote_addr": "2001:db8:1a0::1"}
    for attrs in (tiny, london, seville):
        geo(attrs)
    assert "geo_city" not in tiny and tiny["geo_country"] == "GB" and tiny["geo_subdivision1"] == "ENG"
    assert london["geo_city"] == "London" and seville["geo_city"] == "Sevilla"
    assert load_city_filter(tmp_path / "cities.txt", 20000) == allowed - {5803556}  # Milton's 18400 people


# -- gunzip ---------------------------------------------------------------------------------


def test_gunzip_passes_plain_bodies_and_marks_compressed_ones():
    attrs = {}
    assert gunzip(b'{"a": 1}', attrs, 100) == b'{"a": 1}' and attrs == {}
    assert gunzip(gzip.compress(b'{"a": 1}'), attrs, 100) == b'{"a": 1}'
    assert attrs == {"client_compression": "gzip"}


def test_truncated_gzip_is_an_error():
    with pytest.raises(DecompressError, match="truncated"):
        gunzip(gzip.compress(b'{"a": 1}' * 100)[:-12], {}, 10_000)


def test_gzip_bomb_stops_at_the_cap_without_taking_memory():
    bomb = gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)
    tracemalloc.start()
    with pytest.raises(PayloadTooLarge):
        gunzip(bomb, {}, 8 * 1024 * 1024)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 20 * 1024 * 1024  # inflating stopped at 8 MB, not 200


def test_plain_body_over_the_cap_is_an_error():
    with pytest.raises(PayloadTooLarge):
        gunzip(b"x" * 101, {}, 100)


# -- payload --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "invalid JSON"),
        (b"\xff\xfe{}", "invalid JSON"),
        (b"[1, 2]", "JSON object"),
        (b"[" * 2000 + b"]" * 2000, "invalid JSON"),
        (b'{"a": "\xc3\x28"}', "invalid JSON"),
    ],
)
def test_payloads_that_are_not_json_objects(data, message):
    with pytest.raises(PayloadError, match=message):
        parse_json(data)


# -- user agent -----------------------------------------------------------------------------


def test_user_agent_is_parsed_then_dropped():
    attrs = {"user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0"}
    parse_user_agent(attrs)
    assert attrs == {"user_agent_browser": "Firefox", "user_agent_browser_version": "120", "user_agent_os": "Windows 10"}


@pytest.mark.parametrize(
    "agent, want",
    [  # Mozilla's ParseUserAgent: its token lists, best match by their order
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36",
            {"user_agent_browser": "Chrome", "user_agent_browser_version": "156", "user_agent_os": "Linux"},
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 "
            "Mobile/15E148 Safari/604.1",
            {"user_agent_browser": "Safari", "user_agent_browser_version": "604", "user_agent_os": "iPhone"},
        ),
        (
            "Mozilla/5.0 (Windows NT 6.1; Trident/7.0; rv:11.0) like Gecko",
            {"user_agent_browser": "MSIE", "user_agent_browser_version": "11", "user_agent_os": "Windows 7"},
        ),
        (
            "Mozilla/5.0 (Android 13; Mobile; rv:120.0) Gecko/120.0 Firefox/120.0",
            {"user_agent_browser": "Firefox", "user_agent_browser_version": "120", "user_agent_os": "Android"},
        ),
        (
            "Firefox AndroidSync 1.120.0 (Firefox)",
            {"user_agent_browser": "FxSync", "user_agent_browser_version": "1", "user_agent_os": "Android"},
        ),
        ("curl/7.88.1", {}),
    ],
)
def test_user_agents_are_read_by_mozillas_rule(agent, want):
    attrs = {"user_agent": agent}
    parse_user_agent(attrs)
    assert attrs == want


# -- normalize ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "channel, expected", [("release", "release"), ("beta-cdntest", "beta"), ("nightly-cck-foo", "nightly"), ("production", "Other")]
)
def test_normalize_channel(channel, expected):
    assert normalize_channel(channel) == expected


@pytest.mark.parametrize(
    "os_name, expected",
    [
        ("Windows_NT", "Windows"),
        ("WINNT", "Windows"),
        ("Darwin", "Mac"),
        ("Linux", "Linux"),
        ("FreeBSD", "Linux"),
        ("iOS", "iOS"),
        ("Android", "Android"),
        ("Plan9", "Other"),
    ],
)
def test_normalize_os(os_name, expected):
    assert normalize_os(os_name) == expected


def test_glean_normalization_and_sample_id():
    client = "c0ffee00-0000-4000-8000-000000000000"
    attrs = {"geo_country": "PH"}
    payload = {"client_info": {"client_id": client, "app_channel": "nightly", "os": "Darwin", "os_version": "23.1.0"}}
    normalize(attrs, payload)
    assert attrs["normalized_channel"] == "nightly" and attrs["normalized_os"] == "Mac"
    assert attrs["normalized_os_version"] == "23.1" and attrs["normalized_country_code"] == "PH"
    assert attrs["sample_id"] == str(zlib.crc32(client.encode()) % 100)
    assert 0 <= sample_id(client) < 100


def test_sample_id_source_can_be_named_by_the_schema():
    attrs = {}
    normalize(
        attrs,
        {"impression_id": "{c0ffee00-0000-4000-8000-000000000000}", "client_id": "n/a"},
        {"sample_id_source_uuid_payload_path": ["impression_id"]},
    )
    assert attrs["sample_id"] == str(sample_id("c0ffee00-0000-4000-8000-000000000000"))


def test_override_attributes_set_or_drop():
    attrs = {"geo_city": "London", "normalized_channel": "beta"}
    apply_overrides(attrs, [{"name": "geo_city", "value": None}, {"name": "normalized_channel", "value": "release"}])
    assert attrs == {"normalized_channel": "release"}


# -- metadata -------------------------------------------------------------------------------


def test_metadata_is_injected_like_mozillas_add_metadata():
    attrs = {
        "document_namespace": "ns",
        "document_type": "dt",
        "document_version": "1",
        "document_id": DOC,
        "geo_country": "GB",
        "geo_city": "London",
        "date": "d",
        "x_debug_id": "x",
        "user_agent_browser": "Firefox",
        "submission_timestamp": "2020-01-01T10:11:12.123456Z",
        "normalized_channel": "release",
        "sample_id": "7",
    }
    payload = add_metadata(attrs, {"a": 1}, "structured")
    assert payload == {
        "a": 1,
        "document_id": DOC,
        "submission_timestamp": "2020-01-01T10:11:12.123456Z",
        "normalized_channel": "release",
        "sample_id": 7,
        "metadata": {
            "geo": {"country": "GB", "city": "London"},
            "isp": {},
            "user_agent": {"browser": "Firefox"},
            "header": {"date": "d", "x_debug_id": "x"},
            "document_namespace": "ns",
            "document_type": "dt",
            "document_version": "1",
        },
    }


def test_submission_timestamp_granularity():
    assert truncate_timestamp("2020-01-01T10:11:12.123456Z", "hours") == "2020-01-01T10:00:00.000000Z"
    assert truncate_timestamp("2020-01-01T10:11:12.123456Z", "millis") == "2020-01-01T10:11:12.123000Z"
    assert truncate_timestamp("2020-01-01T10:11:12.123456Z", None) == "2020-01-01T10:11:12.123456Z"
