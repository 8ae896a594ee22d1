"""Numbers as people read them on every page: money, percent, burn rates and durations (one spelling each)."""

from __future__ import annotations

import math


def _unknown(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def money(value: float | None) -> str:
    """`$2,597.09`; `?` when unknown."""
    return "?" if _unknown(value) else f"${value:,.2f}"


def percent(value: float | None, digits: int = 3) -> str:
    """`99.932%`; `no data` for None/NaN."""
    return "no data" if _unknown(value) else f"{value:.{digits}%}"


def rate(value: float | None) -> str:
    """A burn rate like `0.31x`; `-` when unknown."""
    return "-" if _unknown(value) else f"{value:.2f}x"


def format_seconds(seconds: float | None) -> str:
    """To the second: `7 min 00 s`, `45 s`, `1 h 05 min`; `unknown` (NaN/None)."""
    if _unknown(seconds):
        return "unknown"
    whole = int(round(seconds))  # type: ignore[arg-type]
    if whole < 60:
        return f"{whole} s"
    hours, rest = divmod(whole, 3600)
    mins, secs = divmod(rest, 60)
    return f"{hours} h {mins:02d} min" if hours else f"{mins} min {secs:02d} s"


def format_duration(seconds: float | None) -> str:
    """To the minute: `240` -> `4 min`, `5400` -> `1 h 30 min`, `42` -> `42 s`; `-` when unknown."""
    if _unknown(seconds):
        return "-"
    seconds = float(seconds)  # type: ignore[arg-type]
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours and minutes else f"{hours} h" if hours else f"{minutes} min"
