"""The geo step on MaxMind's own test City database: the attributes gcp-ingestion's expected output was made with."""

from __future__ import annotations

from pingpipe.decoder.steps.geo import GeoLookup, load_city_filter


def test_geo_lookup_fills_geo_and_always_drops_the_ip(maxmind_db):
    geo = GeoLookup(maxmind_db)
    attrs = {"x_forwarded_for": "81.2.69.160, 10.0.0.1, 10.0.0.2", "remote_addr": "10.0.0.2"}
    geo(attrs)
    assert attrs == {"geo_country": "GB", "geo_subdivision1": "ENG", "geo_city": "London", "geo_db_version": "2019-01-03T21:26:19Z"}
    unknown = {"remote_addr": "not-an-ip", "x_forwarded_for": ""}
    geo(unknown)
    assert unknown == {}


def test_small_cities_are_dropped_by_the_city_list(tmp_path, maxmind_db):
    cities = tmp_path / "cities.txt"
    row = ["2643743", "London"] + [""] * 12 + ["8961989"]
    small = ["1", "Tiny"] + [""] * 12 + ["120"]
    cities.write_text("\t".join(row) + "\n" + "\t".join(small) + "\n")
    assert load_city_filter(cities, 15000) == frozenset({2643743})
    attrs = {"remote_addr": "81.2.69.160"}
    GeoLookup(maxmind_db, city_filter=frozenset({1}))(attrs)
    assert "geo_city" not in attrs and attrs["geo_country"] == "GB"
    london = {"remote_addr": "81.2.69.160"}
    GeoLookup(maxmind_db, city_filter=load_city_filter(cities, 15000))(london)
    assert london["geo_city"] == "London"


def test_the_addresses_the_own_tests_use_are_where_maxminds_test_database_puts_them(maxmind_db):
    """tests/fixtures/geoip.py gives these addresses the countries MaxMind's test database gives them."""
    from tests.fixtures import geoip

    geo = GeoLookup(maxmind_db)
    for ip in ("81.2.69.160", "216.160.83.56", "89.160.20.112", "202.196.224.0"):
        attrs = {"remote_addr": ip}
        geo(attrs)
        assert attrs["geo_country"] == geoip.EXPECTED[ip]["geo_country"], ip
