"""Times, durations and report windows, parsed the way SREs write them (pandas does the parsing)."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd

from goreliable_lib.errors import BadInputError

_RELATIVE = re.compile(r"^now\s*(?:(?P<sign>[-+])\s*(?P<offset>.+))?$")
_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|w|d|h|m|s))+$")
_UNIT_WORDS = {"w": "W", "d": "D", "h": "h", "m": "min", "s": "s", "ms": "ms"}
_MONTH = re.compile(r"^(?P<year>\d{4})-(?P<month>\d{2})$")
_QUARTER = re.compile(r"^(?P<year>\d{4})-Q(?P<quarter>[1-4])$", re.IGNORECASE)
_CALENDAR = re.compile(r"^1(?P<unit>[MQ])$")
_PREVIOUS = re.compile(r"^last(?P<unit>month|quarter)$", re.IGNORECASE)  # Kubecost's `lastmonth` spelling


def utc_now() -> pd.Timestamp:
    """The wall clock, UTC, whole seconds."""
    return pd.Timestamp.now(tz="UTC").floor("s")


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


def parse_window(window: object, end: pd.Timestamp, *, field: str = "window") -> tuple[pd.Timestamp, pd.Timestamp]:
    """A report window ending at `end`: rolling (`30d`), calendar to date (`1M`, `1Q`), the previous full
    calendar month or quarter before the one holding `end` (`lastmonth`, `lastquarter`: what a scheduled monthly
    or quarterly report wants), or named (`2026-10`, `2026-Q3`, which ignore `end`). Returns (start, end), UTC."""
    try:
        return _parse_window(window, end, field=field)
    except _OUT_OF_RANGE:
        raise BadInputError(f"{field}: {window!r} is out of range") from None


def _parse_window(window: object, end: pd.Timestamp, *, field: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    end = parse_time(end, field="end")
    text = str(window).strip() if window is not None else ""
    if match := _MONTH.match(text):
        year, month = int(match["year"]), int(match["month"])
        if not 1 <= month <= 12:
            raise BadInputError(f"{field}: {window!r} names no month (use YYYY-MM)")
        start = pd.Timestamp(year=year, month=month, day=1, tz="UTC")
        return start, start + pd.DateOffset(months=1)
    if match := _QUARTER.match(text):
        start = pd.Timestamp(year=int(match["year"]), month=3 * int(match["quarter"]) - 2, day=1, tz="UTC")
        return start, start + pd.DateOffset(months=3)
    if match := _PREVIOUS.match(text):
        current = end.tz_localize(None).to_period("M" if match["unit"].lower() == "month" else "Q")
        return (current - 1).start_time.tz_localize("UTC"), current.start_time.tz_localize("UTC")
    if match := _CALENDAR.match(text):
        period = end.tz_localize(None).to_period("M" if match["unit"] == "M" else "Q")
        start = period.start_time.tz_localize("UTC")
        if start == end:  # a window ending exactly at a month start is the month before
            start = (period - 1).start_time.tz_localize("UTC")
        return start, end
    try:
        return end - parse_duration(text, field=field), end
    except BadInputError:
        raise BadInputError(
            f"{field}: {window!r} is not a window (use a duration like '30d', '1M' or '1Q' for the calendar "
            f"month or quarter to date, 'lastmonth' or 'lastquarter', or a month '2026-10' or quarter "
            f"'2026-Q3')") from None


def to_rfc3339(ts: object) -> str:
    """RFC3339 UTC with a `Z`, fractional seconds only when present."""
    stamp = parse_time(ts)
    text = stamp.strftime("%Y-%m-%dT%H:%M:%S")
    if stamp.microsecond:
        text += f".{stamp.microsecond:06d}".rstrip("0")
    return text + "Z"
