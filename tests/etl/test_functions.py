"""udf.bits28_* (etl/functions.py): on DuckDB, each function gives what its definition says, computed
here bit by bit; tests/etl/test_bigquery.py gives the same on bqemulator."""

from __future__ import annotations

import datetime as dt
import random

import duckdb
import pytest

from pingpipe.etl.functions import ensure_duckdb
from pingpipe.etl.sql import bigquery_to_duckdb

DAY = dt.date(2026, 11, 28)
PATTERNS = [0, 1, 8, 9, 1 << 10, 1 << 27, (1 << 28) - 1, 0b1000000000001, *random.Random(28).sample(range(1 << 28), 12)]
RANGES = [(0, 1), (-6, 7), (-5, 6), (-13, 7), (-12, 6), (-20, 1), (-27, 1), (-27, 28)]


def seen(bits: int, start: int, n: int) -> bool:
    """Any day from -start back n days: bits -start-n+1 … -start."""
    return any(bits >> p & 1 for p in range(-start - n + 1, -start + 1))


def retention(bits: int) -> dict:
    week = lambda first: seen(bits, first, 7)  # noqa: E731 - the 7 days from `first` back
    out = {"day_0": {"metric_date": DAY, "active_on_metric_date": seen(bits, 0, 1)}}
    for back, weeks in ((6, 0), (13, 1), (20, 2), (27, 3)):
        day = {"metric_date": DAY - dt.timedelta(days=back), "active_on_metric_date": seen(bits, -back, 1)}
        day |= {"active_in_week_0": week(-back), "active_in_week_0_after_metric_date": seen(bits, -back + 1, 6)}
        day |= {f"active_in_week_{w}": week(-back + 7 * w) for w in range(1, weeks + 1)}
        out[f"day_{back}"] = day
    return out


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    ensure_duckdb(c)
    return c


def call(con, sql: str):
    return con.execute(bigquery_to_duckdb(f"SELECT {sql}")).fetchone()[0]


@pytest.mark.parametrize("bits", PATTERNS)
def test_each_function_gives_what_its_definition_says(con, bits):
    low = (bits & -bits).bit_length() - 1 if bits else None
    assert call(con, f"udf.bits28_days_since_seen({bits})") == low
    for start, n in RANGES:
        assert call(con, f"udf.bits28_active_in_range({bits}, {start}, {n})") is seen(bits, start, n)
        assert call(con, f"udf.bits28_range({bits}, {start}, {n})") == (bits >> (-start - n + 1)) & ((1 << n) - 1)
    assert call(con, f"udf.bits28_retention({bits}, DATE '{DAY}')") == retention(bits)


def test_a_range_past_the_pattern_is_an_error(con):
    for args in ("1, 1, 1", "1, -2, 4"):
        with pytest.raises(duckdb.Error, match="bits28_active_in_range"):
            call(con, f"udf.bits28_active_in_range({args})")
