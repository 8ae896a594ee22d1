"""Times, durations and report windows, parsed the way SREs write them (pandas does the parsing).

Calendar windows (`1M`, `2026-10`, an OpenSLO `calendar` time window) have their boundaries in a time zone (any
IANA name; UTC by default): October in Europe/Berlin starts at 2026-09-30T22:00Z. Every time returned is UTC.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import zoneinfo
from collections.abc import Iterable

import pandas as pd

from goreliable_lib.errors import BadInputError

_RELATIVE = re.compile(r"^now\s*(?:(?P<sign>[-+])\s*(?P<offset>.+))?$")
_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|w|d|h|m|s))+$")
_UNIT_WORDS = {"w": "W", "d": "D", "h": "h", "m": "min", "s": "s", "ms": "ms"}
_MONTH = re.compile(r"^(?P<year>\d{4})-(?P<month>\d{2})$")
_QUARTER = re.compile(r"^(?P<year>\d{4})-Q(?P<quarter>[1-4])$", re.IGNORECASE)
_CALENDAR = re.compile(r"^1(?P<unit>[MQ])$")
_PREVIOUS = re.compile(r"^last(?P<unit>month|quarter)$", re.IGNORECASE)  # Kubecost's `lastmonth` spelling
_CALENDAR_DURATION = re.compile(r"^(?P<count>[1-9]\d*)(?P<unit>[dwMQY])$")
_CALENDAR_UNITS = {"d": "days", "w": "weeks", "M": "months", "Q": "months", "Y": "years"}


MILLISECOND = pd.Timedelta(milliseconds=1)
MINUTE = pd.Timedelta(minutes=1)
HOUR = pd.Timedelta(hours=1)
DAY = pd.Timedelta(days=1)


def to_ns(ts: pd.Timestamp) -> int:
    """A time as integer nanoseconds since the epoch (numpy's view of time in the engine's arrays)."""
    return int(pd.Timestamp(ts).value)


def from_ns(ns: int) -> pd.Timestamp:
    """Integer nanoseconds since the epoch as a UTC time."""
    return pd.Timestamp(int(ns), tz="UTC")


def empty_events() -> pd.DataFrame:
    """A per-minute events frame without rows: `timestamp` (UTC), `good`, `total`."""
    return pd.DataFrame({"timestamp": pd.DatetimeIndex([], tz="UTC"), "good": pd.Series([], dtype=float),
                         "total": pd.Series([], dtype=float)})


def utc_now() -> pd.Timestamp:
    """The wall clock, UTC, whole seconds."""
    return pd.Timestamp(int(time.time()), unit="s", tz="UTC")  # a tenth of Timestamp.now(tz).floor's time


def utc_days(times: Iterable[object]) -> list[pd.Timestamp]:
    """The distinct days (midnight) of `times`, sorted: one floor over them all rather than one a time."""
    return list(pd.DatetimeIndex(list(times)).floor("D").unique().sort_values())


#: What pandas raises for a time or duration it cannot hold (year 10000, 1e300 seconds, now-99999999d).
_OUT_OF_RANGE = (OverflowError, pd.errors.OutOfBoundsDatetime, pd.errors.OutOfBoundsTimedelta)


def parse_duration(value: object, *, field: str = "duration") -> pd.Timedelta:
    """A duration: seconds as a number, Prometheus style (`1m`, `30d`, `1h30m`, `1w`), or a timedelta."""
    try:
        return _parse_duration(value, field=field)
    except _OUT_OF_RANGE:
        raise BadInputError(f"{field}: {value!r} is out of range") from None


def _parse_duration(value: object, *, field: str) -> pd.Timedelta:
    if isinstance(value, pd.Timedelta):
        result = value
    elif isinstance(value, dt.timedelta):
        result = pd.Timedelta(value)
    elif isinstance(value, bool):
        raise BadInputError(f"{field}: expected a duration like 60, '1m' or '30d', got {value!r}")
    elif isinstance(value, int | float):
        result = pd.Timedelta(seconds=float(value))
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            result = pd.Timedelta(seconds=float(text))
        elif _DURATION.match(text):
            parts = re.findall(r"(\d+(?:\.\d+)?)(ms|w|d|h|m|s)", text)
            result = sum((pd.Timedelta(float(n), unit=_UNIT_WORDS[u]) for n, u in parts), pd.Timedelta(0))
        else:
            raise BadInputError(f"{field}: {value!r} is not a duration (use e.g. 60, '5m', '1h30m', '30d')")
    else:
        raise BadInputError(f"{field}: expected a duration like 60, '1m' or '30d', got {value!r}")
    if result <= pd.Timedelta(0):
        raise BadInputError(f"{field}: {value!r} must be a positive duration")
    return result


def parse_time(value: object, now: pd.Timestamp | None = None, *, field: str = "time") -> pd.Timestamp:
    """A point in time, UTC: datetime, RFC3339 string, unix seconds, `now`, or `now-7d`."""
    try:
        return _parse_time(value, now, field=field)
    except _OUT_OF_RANGE:
        raise BadInputError(f"{field}: {value!r} is out of range") from None


def _parse_time(value: object, now: pd.Timestamp | None, *, field: str) -> pd.Timestamp:
    if isinstance(value, pd.Timestamp | dt.datetime):
        ts = pd.Timestamp(value)
    elif isinstance(value, bool):
        raise BadInputError(f"{field}: expected a time, got {value!r}")
    elif isinstance(value, int | float):
        ts = pd.Timestamp(float(value), unit="s", tz="UTC")
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        match = _RELATIVE.match(text)
        if match:
            base = now if now is not None else utc_now()
            base = parse_time(base, field=field)
            if match.group("offset") is None:
                return base
            offset = parse_duration(match.group("offset").strip(), field=field)
            return base - offset if match.group("sign") == "-" else base + offset
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            ts = pd.Timestamp(float(text), unit="s", tz="UTC")
        else:
            try:
                ts = pd.Timestamp(text)
            except (ValueError, TypeError) as exc:
                raise BadInputError(
                    f"{field}: {value!r} is not a time (use RFC3339 like 2026-11-01T00:00:00Z, unix seconds, "
                    f"'now' or 'now-7d')") from exc
    else:
        raise BadInputError(f"{field}: expected a time, got {value!r}")
    if pd.isna(ts):
        raise BadInputError(f"{field}: {value!r} is not a time")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def check_time_zone(name: object, *, field: str = "timeZone") -> str:
    """`name` if it is an IANA time zone name (`UTC`, `Europe/Berlin`, `America/New_York`), else BadInputError."""
    if not isinstance(name, str) or not name.strip():
        raise BadInputError(f"{field}: expected an IANA time zone name like Europe/Berlin, got {name!r}")
    try:
        zoneinfo.ZoneInfo(name.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise BadInputError(f"{field}: {name!r} is not an IANA time zone name (e.g. UTC, Europe/Berlin, "
                            "America/New_York)") from None
    return name.strip()


def wall_clock(ts: pd.Timestamp, tz: str) -> pd.Timestamp:
    """The wall-clock time of `ts` in `tz`, without zone."""
    return ts.tz_convert(tz).tz_localize(None)


def wall_to_utc(wall: pd.Timestamp, tz: str) -> pd.Timestamp:
    """A wall-clock time in `tz` as UTC (a time skipped by a DST change moves forward; a repeated one is the
    first)."""
    return pd.Timestamp(wall).tz_localize(tz, ambiguous=True, nonexistent="shift_forward").tz_convert("UTC")


def parse_window(window: object, end: pd.Timestamp, *, field: str = "window",
                 tz: str = "UTC") -> tuple[pd.Timestamp, pd.Timestamp]:
    """A report window ending at `end`: rolling (`30d`), calendar to date (`1M`, `1Q`), the previous full
    calendar month or quarter before the one holding `end` (`lastmonth`, `lastquarter`: what a scheduled monthly
    or quarterly report wants), or named (`2026-10`, `2026-Q3`, which ignore `end`). Calendar boundaries are in
    the time zone `tz` (default UTC). Returns (start, end), UTC."""
    try:
        return _parse_window(window, end, field=field, tz=tz)
    except _OUT_OF_RANGE:
        raise BadInputError(f"{field}: {window!r} is out of range") from None


def _parse_window(window: object, end: pd.Timestamp, *, field: str,
                  tz: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    end = parse_time(end, field="end")
    text = str(window).strip() if window is not None else ""
    if match := _MONTH.match(text):
        year, month = int(match["year"]), int(match["month"])
        if not 1 <= month <= 12:
            raise BadInputError(f"{field}: {window!r} names no month (use YYYY-MM)")
        start = pd.Timestamp(year=year, month=month, day=1)
        return wall_to_utc(start, tz), wall_to_utc(start + pd.DateOffset(months=1), tz)
    if match := _QUARTER.match(text):
        start = pd.Timestamp(year=int(match["year"]), month=3 * int(match["quarter"]) - 2, day=1)
        return wall_to_utc(start, tz), wall_to_utc(start + pd.DateOffset(months=3), tz)
    if match := _PREVIOUS.match(text):
        current = wall_clock(end, tz).to_period("M" if match["unit"].lower() == "month" else "Q")
        return wall_to_utc((current - 1).start_time, tz), wall_to_utc(current.start_time, tz)
    if match := _CALENDAR.match(text):
        return calendar_window(text, end, tz=tz, field=field)
    try:
        return end - parse_duration(text, field=field), end
    except BadInputError:
        raise BadInputError(
            f"{field}: {window!r} is not a window (use a duration like '30d', '1M' or '1Q' for the calendar "
            f"month or quarter to date, 'lastmonth' or 'lastquarter', or a month '2026-10' or quarter "
            f"'2026-Q3')") from None


def calendar_window(duration: str, end: object, *, tz: str = "UTC", start_time: object = None,
                    field: str = "duration") -> tuple[pd.Timestamp, pd.Timestamp]:
    """The calendar-aligned window to date that holds `end`: (start of the current period, end), UTC.

    `duration` is `N` days, weeks, months, quarters or years (`1d`, `1w`, `1M`, `1Q`, `1Y`, `2w`, ...), in the time
    zone `tz`. Periods start at `start_time` (a wall-clock time in `tz`, e.g. OpenSLO's `calendar.startTime`) and
    every `duration` after or before it; without it, at the natural boundaries (midnight, Monday, the 1st of the
    month, the quarter, the year), which need N = 1. A window ending exactly at a period's start is the period
    before (a report at 00:00 on the 1st covers the month that just ended)."""
    end_ts = parse_time(end, field="end")
    match = _CALENDAR_DURATION.match(str(duration).strip()) if isinstance(duration, str) else None
    if not match:
        raise BadInputError(f"{field}: calendar windows are whole days, weeks, months, quarters or years "
                            f"(1d, 1w, 1M, 1Q, 1Y), got {duration!r}")
    count, unit = int(match["count"]), match["unit"]
    step = count * (3 if unit == "Q" else 1)
    wall_end = wall_clock(end_ts, tz)
    if start_time is None:
        if count != 1:
            raise BadInputError(f"{field}: a calendar window of {duration} needs calendar.startTime (where its "
                                f"periods start); only 1{unit} has natural boundaries")
        anchor = {"d": wall_end.normalize(), "w": (wall_end - pd.Timedelta(days=wall_end.day_of_week)).normalize(),
                  "M": wall_end.to_period("M").start_time, "Q": wall_end.to_period("Q").start_time,
                  "Y": wall_end.to_period("Y").start_time}[unit]
    else:
        anchor = pd.Timestamp(start_time)
        anchor = wall_clock(anchor, tz) if anchor.tzinfo is not None else anchor

    def period_start(k: int) -> pd.Timestamp:
        return anchor + pd.DateOffset(**{_CALENDAR_UNITS[unit]: step * k})

    if unit in ("M", "Q", "Y"):
        months = (wall_end.year - anchor.year) * 12 + wall_end.month - anchor.month
        k = months // (step * (12 if unit == "Y" else 1))
    else:
        k = int((wall_end - anchor) / pd.Timedelta(days=step * (7 if unit == "w" else 1)))
    while period_start(k + 1) < wall_end:
        k += 1
    while period_start(k) >= wall_end:
        k -= 1
    return wall_to_utc(period_start(k), tz), end_ts


def duration_text(seconds: float) -> str:
    """A duration as people say it, to the minute: `42 s`, `4 min`, `1 h 30 min`, `5 h`."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min" if hours and minutes else f"{hours} h" if hours else f"{minutes} min"


def span_text(span: pd.Timedelta) -> str:
    """A span of a window: `12.5 days` from a day on, else hours and minutes (`5 h 20 min`, `40 min`)."""
    days = span / pd.Timedelta(days=1)
    return f"{days:.1f} days" if days >= 1 else duration_text(span.total_seconds())


def to_rfc3339(ts: object) -> str:
    """RFC3339 UTC with a `Z`, fractional seconds only when present."""
    stamp = parse_time(ts)
    text = stamp.strftime("%Y-%m-%dT%H:%M:%S")
    if stamp.microsecond:
        text += f".{stamp.microsecond:06d}".rstrip("0")
    return text + "Z"
