"""pingpipe/utc.py in memory: timestamp text, the day before, and the day a `--date` option chose.
(tests/test_utc.py runs a real `up` in other time zones.)"""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from pingpipe import utc

MOMENTS = st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(utc.UTC))


def test_a_moment_is_written_in_utc_with_six_digits_and_z_whatever_its_zone():
    east = dt.timezone(dt.timedelta(hours=5, minutes=30))
    moment = dt.datetime(2018, 3, 13, 2, 32, 18, 123456, east)
    assert utc.timestamp(moment) == "2018-03-12T21:02:18.123456Z"
    assert utc.timestamp(dt.datetime(2018, 3, 12, 21, 2, 18)) == "2018-03-12T21:02:18.000000Z"  # naive: UTC
    assert utc.timestamp_seconds(moment) == "2018-03-12T21:02:18Z"


@given(MOMENTS)
def test_the_edges_fast_path_writes_the_same_text_as_the_moment_itself(moment):
    whole = moment.replace(microsecond=0)
    seconds = whole.timestamp() + (moment.microsecond + 0.5) / 1e6  # mid-microsecond: clear of a float's rounding
    assert utc.timestamp_at(seconds) == utc.timestamp(moment)


def test_timestamp_text_orders_as_time_does():
    a, b = dt.datetime(2024, 1, 1, 9, 59, 59, 999999, utc.UTC), dt.datetime(2024, 1, 1, 10, 0, tzinfo=utc.UTC)
    assert utc.timestamp(a) < utc.timestamp(b)
    assert len(utc.timestamp(a)) == len(utc.timestamp(b))


def test_yesterday_is_the_day_before_across_months_and_leap_days():
    assert utc.yesterday(dt.date(2024, 3, 1)) == dt.date(2024, 2, 29)
    assert utc.yesterday(dt.date(2025, 1, 1)) == dt.date(2024, 12, 31)
    assert utc.yesterday() == utc.today() - dt.timedelta(days=1)
    assert utc.ended(utc.yesterday()) and not utc.ended(utc.today())


def test_a_date_option_gives_its_day_and_no_option_gives_yesterday():
    assert utc.day_or_yesterday(dt.datetime(2024, 5, 6)) == dt.date(2024, 5, 6)  # what click gives
    assert utc.day_or_yesterday(dt.date(2024, 5, 6)) == dt.date(2024, 5, 6)
    assert utc.day_or_yesterday(None) == utc.yesterday()


def test_a_moments_day_is_its_utc_day():
    late_west = dt.datetime(2024, 5, 6, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
    assert utc.day_of(late_west) == dt.date(2024, 5, 7)
    assert utc.bounds(dt.date(2024, 5, 7)) == (
        dt.datetime(2024, 5, 7, tzinfo=utc.UTC),
        dt.datetime(2024, 5, 8, tzinfo=utc.UTC),
    )
