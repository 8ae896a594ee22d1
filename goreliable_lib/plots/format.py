"""Numbers as people read them on every page: money, percent, burn rates, durations, times, differences, and the
Markdown escaping that makes them render the same in JupyterLab, nbconvert's report.html and GitHub.

One spelling each, used by every report, table, chart label and index line (pure: no I/O):

| value | spelling |
| --- | --- |
| money | `$2,597.09` (the allocation's currency: Kubecost's and OpenCost's default is USD) |
| a difference of money | `+$1.20`, `-$0.40`; a difference below a cent is `$0.00`, never `-$0.00` |
| a ratio | `99.932%` (`percent`), a change `+12.5%` only when the difference it describes is not nil |
| a burn rate | `0.31x` |
| a duration | `7 min 00 s` to the second (`format_seconds`), `1 h 30 min` to the minute (`format_duration`) |
| a time / a day | `2026-11-11 14:24 UTC` / `2026-11-11` |

Markdown: `$` starts inline maths in JupyterLab (MathJax) and in nbconvert (mistune's math plugin), so `**$2.00**
and $3.00` renders as maths, not bold. Everything written into Markdown goes through `md` (free text: every
character Markdown reads escaped) or `md_money`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pandas as pd

from goreliable_lib.timeutil import duration_text

#: Currency symbols written before the amount; any other ISO code is written before it with a space (`CHF 12.00`).
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
#: What an unknown value reads as in tables and text (with a note saying why, where the table has one).
UNKNOWN = "—"
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|$~])")


def unknown(value: Any) -> bool:
    """None, NaN, NaT, pd.NA."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or an array is a value
        return False



def money(value: float | None, currency: str = "USD", digits: int = 2) -> str:
    """`$2,597.09`; `-$3.10` below zero; `?` when unknown."""
    if unknown(value):
        return "?"
    number = round(float(value), digits)  # type: ignore[arg-type]
    if number == 0:
        number = 0.0  # no "-$0.00"
    symbol = CURRENCY_SYMBOLS.get(currency)
    amount = f"{abs(number):,.{digits}f}"
    text = f"{symbol}{amount}" if symbol else f"{currency} {amount}"
    return f"-{text}" if number < 0 else text


def money_change(delta: float | None, currency: str = "USD") -> str:
    """A difference of money with its sign: `+$1.20`, `-$0.40`; `$0.00` when it rounds to nothing; `?` unknown."""
    if unknown(delta):
        return "?"
    cents = round(float(delta), 2)  # type: ignore[arg-type]
    if cents == 0:
        return money(0.0, currency)
    return ("+" if cents > 0 else "") + money(cents, currency)


def percent(value: float | None, digits: int | None = 3) -> str:
    """`99.932%`; `no data` for None/NaN. `digits=None`: as few as the value needs, up to 3 (`99.9%`, `99%`)."""
    if unknown(value):
        return "no data"
    if digits is None:
        text = f"{float(value):.3%}"  # type: ignore[arg-type]
        number, _, _ = text.partition("%")
        return (number.rstrip("0").rstrip(".") if "." in number else number) + "%"
    return f"{float(value):.{digits}%}"  # type: ignore[arg-type]


def percent_change(delta: float | None, base: float | None, digits: int = 1) -> str | None:
    """`delta` against `base` as a signed share: `+12.5%`, `-0.9%`; None when it means nothing (no base, a base of
    0, or a change that rounds to 0 at `digits`)."""
    if unknown(delta) or unknown(base) or float(base) == 0:  # type: ignore[arg-type]
        return None
    share = float(delta) / abs(float(base))  # type: ignore[arg-type]
    if round(share * 100, digits) == 0:
        return None
    return f"{share:+.{digits}%}"


def signed_percent(value: float | None, digits: int = 1) -> str:
    """A change already expressed as a ratio (`0.125` -> `+12.5%`); `0.0%` when it rounds to nothing."""
    if unknown(value):
        return "?"
    if round(float(value) * 100, digits) == 0:  # type: ignore[arg-type]
        return f"{0:.{digits}%}"
    return f"{float(value):+.{digits}%}"  # type: ignore[arg-type]


def money_difference(value: float | None, usual: float | None, currency: str = "USD") -> str:
    """`value` against `usual` as people say it: `+$1.20, +18.2%`; `the same to the cent` when the difference
    is below a cent (no `-$0.00`, no `-0.9%` of nothing)."""
    if unknown(value) or unknown(usual):
        return "difference unknown"
    delta = float(value) - float(usual)  # type: ignore[arg-type]
    if round(delta, 2) == 0:
        return "the same to the cent"
    share = percent_change(delta, usual)
    return money_change(delta, currency) + (f", {share}" if share else "")


def rate(value: float | None) -> str:
    """A burn rate like `0.31x`; `-` when unknown."""
    return "-" if unknown(value) else f"{value:.2f}x"


def format_seconds(seconds: float | None) -> str:
    """To the second: `7 min 00 s`, `45 s`, `1 h 05 min`; `unknown` (NaN/None)."""
    if unknown(seconds):
        return "unknown"
    whole = int(round(seconds))  # type: ignore[arg-type]
    if whole < 0:
        return "-" + format_seconds(-whole)
    if whole < 60:
        return f"{whole} s"
    hours, rest = divmod(whole, 3600)
    mins, secs = divmod(rest, 60)
    return f"{hours} h {mins:02d} min" if hours else f"{mins} min {secs:02d} s"


def format_duration(seconds: float | None) -> str:
    """To the minute: `240` -> `4 min`, `5400` -> `1 h 30 min`, `42` -> `42 s`; `-` when unknown."""
    return "-" if unknown(seconds) else duration_text(float(seconds))  # type: ignore[arg-type]


def _timestamp(value: Any) -> pd.Timestamp | None:
    if unknown(value):
        return None
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date | str):
        stamp = pd.Timestamp(value)
        return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    raise TypeError(f"not a time: {value!r}")


def format_time(value: Any, *, seconds: bool = False) -> str:
    """`2026-11-11 14:24 UTC` (`seconds`: `14:24:07 UTC`); a naive time is read as UTC; `?` when unknown."""
    stamp = _timestamp(value)
    if stamp is None:
        return "?"
    return f"{stamp:%Y-%m-%d %H:%M:%S} UTC" if seconds else f"{stamp:%Y-%m-%d %H:%M} UTC"


def format_day(value: Any) -> str:
    """`2026-11-11` (the UTC day); `?` when unknown."""
    stamp = _timestamp(value)
    return "?" if stamp is None else f"{stamp:%Y-%m-%d}"


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 budget`, `2 budgets`, `0 anomalies` (`many`: the plural when it is not word + s)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def count(value: float | None) -> str:
    """`39,506` (a whole number of things); `?` when unknown."""
    return "?" if unknown(value) else f"{float(value):,.0f}"  # type: ignore[arg-type]


def number(value: float | None, digits: int = 2) -> str:
    """A plain number with at most `digits` decimals, trailing zeros dropped: `24`, `1.5`, `1,234.57`."""
    if unknown(value):
        return "?"
    text = f"{float(value):,.{digits}f}"  # type: ignore[arg-type]
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text in ("-0", "") else text


# ---- Markdown ----------------------------------------------------------------------------------------------

def md(text: Any) -> str:
    """Free text (a name, a warning, a query) as literal Markdown: `*`, `_`, `$`, backticks, brackets ... escaped,
    so `node_*_hourly_cost` and `$3.00` read as written in JupyterLab, nbconvert and GitHub alike."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


def md_money(value: float | None, currency: str = "USD") -> str:
    """`money` for Markdown (`\\$2,597.09`: the dollar sign must not open maths)."""
    return md(money(value, currency))

