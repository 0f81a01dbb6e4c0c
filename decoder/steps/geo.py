"""Step: geo-IP lookup of the client address, then drop every IP attribute.

The address: with X-Forwarded-For, the entry your front door appended for the client, the
`forwarded_hops`-th from the end (its own entries come after it; what a client sent comes before
and is never trusted): 2 behind Google's HTTPS load balancer alone ("<client>, <load balancer>"),
3 behind it and one more proxy (Mozilla's layout, the default); 0 trusts no X-Forwarded-For.
Without it, remote_addr, the peer the edge saw. The address never leaves this step: it is dropped
whether or not the lookup succeeds, so no later output (rows or errors) can hold it.
A city is reported only if it is in the configured city list (GeoNames format) with at least
the configured population, so small places cannot single people out.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

from pingpipe import utc

IP_ATTRIBUTES = ("x_forwarded_for", "remote_addr")
GEO_ATTRIBUTES = ("geo_country", "geo_subdivision1", "geo_subdivision2", "geo_city", "geo_db_version")


FORWARDED_HOPS = 3  # Mozilla's: its load balancer's two entries and its proxy's


def client_ip(attributes: dict[str, str], hops: int = FORWARDED_HOPS) -> str | None:
    xff = attributes.get("x_forwarded_for")
    if xff and hops > 0:
        ips = [ip.strip() for ip in xff.split(",")]
        return ips[max(len(ips) - hops, 0)]
    return attributes.get("remote_addr")


def load_city_filter(path: Path, min_population: int) -> frozenset[int]:
    """GeoNames ids of cities with at least `min_population` people (cities15000.txt format)."""
    allowed = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) > 14 and cols[0].isdigit() and cols[14].isdigit() and int(cols[14]) >= min_population:
                allowed.add(int(cols[0]))
    return frozenset(allowed)


class GeoDatabaseError(ValueError):
    """A --geoip-db that is not a MaxMind database: said at start-up, not by every ping."""


def check_database(mmdb: Path) -> None:
    """Open the database once, as the workers will; GeoDatabaseError (one line) if it cannot be read."""
    GeoLookup(mmdb)


class GeoLookup:
    """One MaxMind reader per process (opened once per worker, never per element)."""

    def __init__(self, mmdb: Path | None, city_filter: frozenset[int] | None = None, hops: int = FORWARDED_HOPS):
        self.hops = hops
        self.reader = None
        self.db_version = None
        self.city_filter = city_filter
        if mmdb is not None:
            import maxminddb

            try:
                self.reader = maxminddb.open_database(str(mmdb), maxminddb.MODE_MMAP_EXT)
            except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
                raise GeoDatabaseError(f"{mmdb} is not a MaxMind database: {exc}") from None
            epoch = self.reader.metadata().build_epoch
            self.db_version = utc.timestamp_seconds(dt.datetime.fromtimestamp(epoch, utc.UTC))
        # Many pings come from the same address (NAT, a client's several pings): cache answers.
        self._lookup = lru_cache(maxsize=65536)(self._lookup_uncached)

    def _lookup_uncached(self, ip: str) -> tuple[tuple[str, str], ...]:
        try:
            record = self.reader.get(ip)
        except ValueError:
            return ()  # not an address: no geo, and nothing to keep
        if not record:
            return ()
        found = [("geo_db_version", self.db_version)]
        country = (record.get("country") or {}).get("iso_code")
        if country:
            found.append(("geo_country", country))
        subdivisions = record.get("subdivisions") or []
        if subdivisions and subdivisions[0].get("iso_code"):
            found.append(("geo_subdivision1", subdivisions[0]["iso_code"]))
        if len(subdivisions) > 1 and subdivisions[1].get("iso_code"):
            found.append(("geo_subdivision2", subdivisions[1]["iso_code"]))
        city = record.get("city") or {}
        name = (city.get("names") or {}).get("en")
        if name and (self.city_filter is None or city.get("geoname_id") in self.city_filter):
            found.append(("geo_city", name))
        return tuple(found)

    def __call__(self, attributes: dict[str, str]) -> None:
        ip = client_ip(attributes, self.hops)
        for name in IP_ATTRIBUTES:
            attributes.pop(name, None)
        if self.reader is None or not ip:
            return
        attributes.update(self._lookup(ip))
