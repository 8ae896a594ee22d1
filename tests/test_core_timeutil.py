"""Times, durations and windows."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from goreliable_lib.errors import BadInputError
from goreliable_lib.timeutil import parse_duration, parse_time, parse_window, to_rfc3339

END = pd.Timestamp("2026-11-23T06:00:00Z")


@pytest.mark.parametrize(("value", "seconds"), [
    (60, 60), ("60", 60), ("1m", 60), ("1h30m", 5400), ("30d", 30 * 86400), ("1w", 7 * 86400),
    ("500ms", 0.5), (dt.timedelta(minutes=5), 300), (pd.Timedelta("2h"), 7200),
])
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value).total_seconds() == seconds


@pytest.mark.parametrize("value", ["", "1M", "abc", "-5m", 0, True, None, "5 minutes"])
def test_bad_durations_name_the_field(value: object) -> None:
    with pytest.raises(BadInputError, match="step"):
        parse_duration(value, field="step")


@pytest.mark.parametrize(("value", "expected"), [
    ("now", END), ("now-7d", END - pd.Timedelta("7D")), ("now - 1h30m", END - pd.Timedelta("90min")),
    ("2026-10-01T00:00:00Z", pd.Timestamp("2026-10-01", tz="UTC")),
    ("2026-10-01T02:00:00+02:00", pd.Timestamp("2026-10-01", tz="UTC")),
    (1790000000, pd.Timestamp(1790000000, unit="s", tz="UTC")),
    ("1790000000", pd.Timestamp(1790000000, unit="s", tz="UTC")),
    (dt.datetime(2026, 10, 1), pd.Timestamp("2026-10-01", tz="UTC")),
])
def test_times_are_utc(value: object, expected: pd.Timestamp) -> None:
    parsed = parse_time(value, now=END)
    assert parsed == expected
    assert str(parsed.tz) == "UTC"


def test_bad_time_names_the_field() -> None:
    with pytest.raises(BadInputError, match="incident_start"):
        parse_time("yesterday-ish", field="incident_start")


@pytest.mark.parametrize(("window", "start", "end"), [
    ("30d", "2026-10-24T06:00:00Z", "2026-11-23T06:00:00Z"),
    ("1M", "2026-11-01T00:00:00Z", "2026-11-23T06:00:00Z"),
    ("1Q", "2026-10-01T00:00:00Z", "2026-11-23T06:00:00Z"),
    ("2026-10", "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z"),
    ("2026-02", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"),
    ("2026-Q3", "2026-07-01T00:00:00Z", "2026-10-01T00:00:00Z"),
    ("2026-q4", "2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z"),
    ("lastmonth", "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z"),
    ("LastMonth", "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z"),
    ("lastquarter", "2026-07-01T00:00:00Z", "2026-10-01T00:00:00Z"),
])
def test_windows(window: str, start: str, end: str) -> None:
    assert parse_window(window, END) == (pd.Timestamp(start), pd.Timestamp(end))


def test_calendar_window_at_a_month_boundary_is_the_previous_month() -> None:
    first = pd.Timestamp("2026-11-01T00:00:00Z")
    assert parse_window("1M", first) == (pd.Timestamp("2026-10-01T00:00:00Z"), first)


@pytest.mark.parametrize(("end", "window", "start", "stop"), [
    # the monthly cost CronJob runs at 07:00 on the 1st: the month that just ended, whole
    ("2026-11-01T07:00:00Z", "lastmonth", "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z"),
    ("2026-11-01T00:00:00Z", "lastmonth", "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z"),
    ("2026-10-31T23:59:59Z", "lastmonth", "2026-09-01T00:00:00Z", "2026-10-01T00:00:00Z"),
    ("2026-01-01T07:00:00Z", "lastmonth", "2025-12-01T00:00:00Z", "2026-01-01T00:00:00Z"),
    ("2026-03-15T00:00:00Z", "lastmonth", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"),
    ("2026-01-01T07:00:00Z", "lastquarter", "2025-10-01T00:00:00Z", "2026-01-01T00:00:00Z"),
    ("2026-06-30T23:00:00Z", "lastquarter", "2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z"),
])
def test_previous_full_month_and_quarter(end: str, window: str, start: str, stop: str) -> None:
    assert parse_window(window, pd.Timestamp(end)) == (pd.Timestamp(start), pd.Timestamp(stop))


@pytest.mark.parametrize("window", ["2026-13", "thirty days", "", "2026-Q5", "1Y", "lastyear", "last month"])
def test_bad_windows(window: str) -> None:
    with pytest.raises(BadInputError, match="window"):
        parse_window(window, END)


def test_rfc3339() -> None:
    assert to_rfc3339(END) == "2026-11-23T06:00:00Z"
    assert to_rfc3339(END + pd.Timedelta("250ms")) == "2026-11-23T06:00:00.25Z"
