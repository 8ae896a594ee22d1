"""Tables for people: the one way a report shows a DataFrame (pure: a frame in, an HTML fragment out).

```python
html = table_html(report.drill_table(), columns={"reason": Column(note="passed")}, name="drills")
```
- headers in words (`duration_target_seconds` -> `Duration target`, `slo` -> `SLO`; other names kept as written);
- every cell in its unit through `plots.format` (money with its currency, percent, `7 min 00 s`,
  `2026-11-11 14:24 UTC`, `yes`/`no`), numbers right-aligned;
- no index column (a meaningful index becomes a column), unknown values as `—` with a note under the table;
- status cells coloured as in the SLO summary table (`plots.STATUS_COLOURS`, always with their label);
- long tables sortable (click a header; the sort reads the machine value, not the text), long tables cut at
  `MAX_ROWS` with a note pointing at the CSV (which keeps every row in the machine form);
- the table scrolls inside its own box, so a page stays as wide as the screen (a phone's 390 px included), its
  first column kept in view (`position: sticky`): a row's name stays beside its numbers.

A column's kind comes from, in order: the `columns` given, the words every report uses (`COMMON`), the column's
name (`..._seconds` a duration, `..._cost` money, `..._at` a time, ...), the `kind` given for the remaining numbers
(columns named after data, such as one per team: their header is kept as written), then its dtype.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from goreliable_lib.plots import STATUS_COLOURS
from goreliable_lib.plots.format import (
    UNKNOWN,
    count,
    format_day,
    format_seconds,
    format_time,
    money,
    money_change,
    number,
    percent,
    rate,
    signed_percent,
    unknown,
)

#: Rows shown before the rest is left to the CSV.
MAX_ROWS = 200
#: Tables with more rows than this get sortable headers.
SORTABLE_FROM = 10
#: Text columns with values longer than this wrap instead of widening the table.
WRAP_FROM = 40
KINDS = ("text", "money", "money_change", "percent", "signed_percent", "rate", "duration", "time", "day", "count",
         "number", "bool", "status")
_NUMERIC = frozenset({"money", "money_change", "percent", "signed_percent", "rate", "duration", "count", "number"})


@dataclass(frozen=True)
class Column:
    """How one column reads: its kind (one of KINDS; None: inferred), header, the note explaining a missing
    value, and the decimals of a percent or a number (`trim`: drop trailing zeros, `99.9%`)."""

    kind: str | None = None
    label: str | None = None
    note: str | None = None
    digits: int | None = None
    trim: bool = False

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in KINDS:
            raise ValueError(f"column kind {self.kind!r} is not one of {', '.join(KINDS)}")


ColumnSpec = Column | str

#: The words every report uses.
COMMON: dict[str, Column] = {
    "slo": Column("text", "SLO"),
    "sli": Column("percent", "SLI", digits=3),
    "objective": Column("percent", digits=3, trim=True),
    "error_budget_remaining": Column("percent", "Error budget left", digits=1),
    "coverage": Column("percent", digits=2),
    "budget_consumed": Column("percent", "Budget consumed", digits=2),
    "drill_id": Column("text", "Drill"),
    "severity": Column("status"),
    "status": Column("status"),
    "line": Column("count", note="no line number"),
    # the multiwindow alert periods (analysis.slo.ALERT_COLUMNS), in the SLO report and the postmortem
    "long_window": Column("text", "Long window"),
    "short_window": Column("text", "Short window"),
    "burn_rate_threshold": Column("rate", "Threshold"),
    "peak_burn_rate": Column("rate", "Peak burn rate"),
    "ongoing": Column("bool", "Still firing"),
}
_WORDS = {"slo": "SLO", "slos": "SLOs", "sli": "SLI", "rto": "RTO", "rpo": "RPO", "cpu": "CPU", "ram": "RAM",
          "gpu": "GPU", "pv": "PV", "id": "ID", "ml": "ML", "lb": "LB", "dr": "DR", "utc": "UTC", "pct": "%",
          "ttd": "TTD"}
_UNITS = frozenset({"seconds"})
_PERCENT_WORDS = frozenset({"share", "ratio", "efficiency", "coverage", "sli", "objective", "remaining", "consumed",
                            "used"})
_COUNT_WORDS = frozenset({"events", "alerts", "resets", "gaps", "minutes", "series", "samples", "passed", "failed",
                          "count", "weeks", "drills"})
_TIME_WORDS = frozenset({"at", "time", "start", "end", "first", "last", "hour"})
_SNAKE = re.compile(r"^_*[a-z][a-z0-9]*(?:_+[a-z0-9]+)*_*$")
#: Status values and the STATUS_COLOURS entry they are shown in.
STATUS_ALIASES = {"ok": "ok", "pass": "passed", "passed": "passed", "match": "ok", "within": "ok",
                  "at_risk": "at_risk", "differs": "at_risk", "ticket": "at_risk",
                  "breached": "breached", "over": "breached", "fail": "failed", "failed": "failed",
                  "page": "breached", "no_data": "no_data", "unknown": "unknown", "aborted": "aborted",
                  "missing in prometheus": "no_data", "missing in kubecost": "no_data"}
#: Light backgrounds take dark text; the rest white (as in the SLO summary table).
_DARK_TEXT = frozenset({"at_risk"})

#: The tables' style; `.gr-table .gr-scroll table` outweighs JupyterLab's and nbconvert's own table rules
#: (`:not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon td` right-aligns every cell).
CSS = """.gr-table{margin:.4em 0 1.2em;max-width:100%}
.gr-table .gr-scroll{overflow-x:auto;max-width:100%;-webkit-overflow-scrolling:touch}
.gr-table .gr-scroll table{border-collapse:collapse;border:none;margin:0;table-layout:auto;font-size:13px;
font-variant-numeric:tabular-nums;color:#222}
.gr-table .gr-scroll table th,.gr-table .gr-scroll table td{padding:4px 10px;border:none;
border-bottom:1px solid #e3e3e3;text-align:left;white-space:nowrap;vertical-align:top;max-width:none;
line-height:1.35}
.gr-table .gr-scroll table th{background:#f0f0f0;font-weight:600;vertical-align:bottom}
.gr-table .gr-scroll table tr>:first-child{position:sticky;left:0;z-index:1;background:#fff;
box-shadow:inset -1px 0 0 #e3e3e3}
.gr-table .gr-scroll table tr>th:first-child{background:#f0f0f0}
.gr-table .gr-scroll table th.sortable{cursor:pointer;user-select:none}
.gr-table .gr-scroll table th[aria-sort=ascending]::after{content:" \\25B2";font-size:9px}
.gr-table .gr-scroll table th[aria-sort=descending]::after{content:" \\25BC";font-size:9px}
.gr-table .gr-scroll table .num{text-align:right}
.gr-table .gr-scroll table td.wrap{white-space:normal;min-width:14em;max-width:36em;overflow-wrap:anywhere}
.gr-table .gr-scroll table td.status{font-weight:600;text-align:center}
.gr-table .gr-scroll table td.unknown{color:#777;text-align:center}
.gr-table .gr-notes{font-size:12px;color:#555;margin:.3em 0 0;text-align:left}"""
_SORT_JS = """(function(s){var t=s.parentElement.querySelector('table'),b=t.tBodies[0];
t.querySelectorAll('th').forEach(function(h,i){h.classList.add('sortable');h.tabIndex=0;
function go(){var up=h.getAttribute('aria-sort')!=='ascending',num=h.dataset.num==='1';
t.querySelectorAll('th').forEach(function(o){o.removeAttribute('aria-sort')});
h.setAttribute('aria-sort',up?'ascending':'descending');
[].slice.call(b.rows).sort(function(x,y){var a=x.cells[i].dataset.sort,c=y.cells[i].dataset.sort;
if(a===c)return 0;if(a==='')return 1;if(c==='')return -1;
var r=num?parseFloat(a)-parseFloat(c):a.localeCompare(c);return up?r:-r;}).forEach(function(r){b.appendChild(r)});}
h.addEventListener('click',go);
h.addEventListener('keydown',function(e){if(e.key==='Enter'||e.key===' '){e.preventDefault();go();}});});
})(document.currentScript);"""


# ---- headers and kinds -----------------------------------------------------------------------------------

def header(name: Any) -> str:
    """A column name in words: `duration_target_seconds` -> `Duration target`, `burn_rate_1h` -> `Burn rate 1h`,
    `__idle__` -> `Idle`; a name that is not snake_case (a team, `CPU eff.`) is kept as written."""
    text = str(name)
    if not _SNAKE.match(text):
        return text
    tokens = [t for t in text.split("_") if t]
    if len(tokens) > 1 and tokens[-1] in _UNITS:
        tokens = tokens[:-1]
    words = [_WORDS.get(t, t) for t in tokens]
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def _all_bool(values: pd.Series) -> bool:
    known = values.dropna()
    return len(known) > 0 and all(isinstance(v, bool) for v in known)


def _parses_as_time(values: pd.Series) -> bool:
    known = values.dropna()
    if not len(known) or not all(isinstance(v, str | pd.Timestamp) for v in known):
        return False
    try:
        pd.to_datetime(known.astype(str), utc=True, format="ISO8601")
    except (ValueError, TypeError):
        return False
    return True


def name_kind(name: Any, values: pd.Series) -> str | None:
    """The kind a column's name and values say, or None (a number the name says nothing about, or text)."""
    if pd.api.types.is_bool_dtype(values.dtype) or (values.dtype == object and _all_bool(values)):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        known = values.dropna()
        midnight = len(known) > 0 and bool((known == known.dt.normalize()).all())
        return "day" if midnight or str(name).endswith("day") else "time"
    tokens = [t for t in re.split(r"[^a-z0-9]+", str(name).lower()) if t]
    last = tokens[-1] if tokens else ""
    numeric = pd.api.types.is_numeric_dtype(values.dtype)
    if last == "status":
        return "status"
    if last == "day" and not numeric:
        return "day"
    if last in _TIME_WORDS and not numeric and _parses_as_time(values):
        return "time"
    if not numeric:
        return None
    if last == "seconds":
        return "duration"
    if "burn" in tokens and "rate" in tokens:
        return "rate"
    if last == "pct":
        return "signed_percent"
    if last in _PERCENT_WORDS or "share" in tokens:
        return "percent"
    if last in ("cost", "costs"):
        return "money"
    if last in _COUNT_WORDS:
        return "count"
    return None


def dtype_kind(values: pd.Series) -> str:
    """The kind of a column nothing else describes: whole numbers are counts, other numbers plain numbers."""
    if pd.api.types.is_integer_dtype(values.dtype):
        return "count"
    if pd.api.types.is_numeric_dtype(values.dtype):
        known = values.dropna()
        return "count" if len(known) and bool((known == known.round()).all()) else "number"
    return "text"


def _spec(value: ColumnSpec | None) -> Column:
    if value is None:
        return Column()
    return Column(value) if isinstance(value, str) else value


def resolve_columns(frame: pd.DataFrame, columns: Mapping[str, ColumnSpec] | None = None, *,
                    kind: str | None = None) -> dict[str, Column]:
    """Every column's Column, fully decided (kind and label set): given > COMMON > name > `kind` > dtype."""
    given = {str(k): _spec(v) for k, v in (columns or {}).items()}
    resolved = {}
    for name in frame.columns:
        key = str(name)
        spec = given.get(key) or COMMON.get(key) or Column()
        if key in given and key in COMMON:  # a partial override keeps the common words' other fields
            base, own = COMMON[key], given[key]
            spec = replace(base, **{f: getattr(own, f) for f in ("kind", "label", "note", "digits")
                                    if getattr(own, f) is not None})
        values = frame[name]
        chosen = spec.kind or name_kind(name, values)
        label = spec.label or header(name)
        if chosen is None and kind is not None and pd.api.types.is_numeric_dtype(values.dtype):
            chosen, label = kind, spec.label or key  # a column named after data (a team): its name as written
        resolved[key] = replace(spec, kind=chosen or dtype_kind(values), label=label)
    return resolved


# ---- cells -----------------------------------------------------------------------------------------------

def cell_text(value: Any, column: Column, *, seconds: bool = False) -> str:
    """One value as people read it (`—` when unknown)."""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or UNKNOWN
    if unknown(value):
        return UNKNOWN
    kind = column.kind
    if kind == "money":
        return money(value)
    if kind == "money_change":
        return money_change(value)
    if kind == "percent":
        return percent(value, column.digits if column.digits is not None else 1) if not column.trim \
            else percent(value, None)
    if kind == "signed_percent":
        return signed_percent(value, column.digits if column.digits is not None else 1)
    if kind == "rate":
        return rate(value)
    if kind == "duration":
        return format_seconds(value)
    if kind == "time":
        return format_time(value, seconds=seconds)
    if kind == "day":
        return format_day(value)
    if kind == "count":
        return count(value)
    if kind == "number":
        return number(value, column.digits if column.digits is not None else 2)
    if kind == "bool":
        return "yes" if bool(value) else "no"
    if kind == "status":
        return str(value).replace("_", " ")
    return str(value)


def _sort_value(value: Any, kind: str) -> str:
    if isinstance(value, list | tuple) or unknown(value):
        return ""
    if kind in _NUMERIC:
        return repr(float(value))
    if kind in ("time", "day"):
        return format_time(value, seconds=True)
    if kind == "bool":
        return "1" if value else "0"
    return str(value)


def status_colour(value: Any) -> str | None:
    """The STATUS_COLOURS colour of a status value (`over`, `pass`, `at_risk`, `page` ...), None if it has none."""
    alias = STATUS_ALIASES.get(str(value).strip().lower())
    return STATUS_COLOURS.get(alias) if alias else None


def status_style(value: Any) -> str:
    """The inline style of a status cell: its colour, and text that stays readable on it."""
    colour = status_colour(value)
    if colour is None:
        return ""
    alias = STATUS_ALIASES[str(value).strip().lower()]
    return f"background:{colour};color:{'#222' if alias in _DARK_TEXT else '#fff'}"


def visible(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as shown: a meaningful index (named, or not a plain row number) becomes the first column(s)."""
    if isinstance(frame.index, pd.RangeIndex) and frame.index.name is None:
        return frame
    if frame.index.names == [None] and pd.api.types.is_integer_dtype(frame.index.dtype):
        return frame.reset_index(drop=True)
    return frame.reset_index()


def _with_seconds(values: pd.Series) -> bool:
    stamps = pd.to_datetime(values.dropna().astype(str) if values.dtype == object else values.dropna(), utc=True,
                            format="ISO8601" if values.dtype == object else None)
    return bool(len(stamps)) and bool((stamps.dt.second != 0).any())


def people_frame(frame: pd.DataFrame, columns: Mapping[str, ColumnSpec] | None = None, *,
                 kind: str | None = None) -> pd.DataFrame:
    """The table's text: headers in words, every cell formatted (the text/plain form of `table_html`)."""
    shown = visible(frame)
    specs = resolve_columns(shown, columns, kind=kind)
    out = {}
    for name in shown.columns:
        spec = specs[str(name)]
        seconds = spec.kind == "time" and _with_seconds(shown[name])
        out[spec.label] = [cell_text(v, spec, seconds=seconds) for v in shown[name]]
    return pd.DataFrame(out, columns=[specs[str(n)].label for n in shown.columns])


def table_html(frame: pd.DataFrame, columns: Mapping[str, ColumnSpec] | None = None, *, kind: str | None = None,
               name: str | None = None, max_rows: int = MAX_ROWS, sortable_from: int = SORTABLE_FROM) -> str:
    """The table as an HTML fragment (its style and, when long, its sort script included); `name` links the
    CSV beside the report (`NAME.csv`) when rows are left out."""
    shown = visible(frame)
    specs = resolve_columns(shown, columns, kind=kind)
    head_cells, notes = [], []
    body_columns = []
    for column in shown.columns:
        spec = specs[str(column)]
        values = shown[column]
        numeric = spec.kind in _NUMERIC
        seconds = spec.kind == "time" and _with_seconds(values)
        wrap = spec.kind == "text" and values.dropna().astype(str).str.len().max() > WRAP_FROM \
            if len(values.dropna()) else False
        head_class = ' class="num"' if numeric else ""
        head_cells.append(f'<th scope="col"{head_class} data-num="{int(numeric)}">{html.escape(spec.label)}</th>')
        note = spec.note or "not known"
        if any(unknown(v) for v in values if not isinstance(v, list | tuple)):
            notes.append(f"in {html.escape(spec.label)}: {html.escape(note)}")
        body_columns.append((spec, values.head(max_rows).tolist(), numeric, seconds, wrap, note))
    rows = []
    for index in range(min(len(shown), max_rows)):
        cells = []
        for spec, values, numeric, seconds, wrap, note in body_columns:
            value = values[index]
            text = html.escape(cell_text(value, spec, seconds=seconds))
            sort = html.escape(_sort_value(value, spec.kind or "text"), quote=True)
            if text == UNKNOWN:
                cells.append(f'<td class="unknown" title="{html.escape(note, quote=True)}" data-sort="">{text}</td>')
            elif spec.kind == "status" and (style := status_style(value)):
                cells.append(f'<td class="status" style="{style}" data-sort="{sort}">{text}</td>')
            else:
                classes = " ".join(c for c in ("num" if numeric else "", "wrap" if wrap else "") if c)
                attribute = f' class="{classes}"' if classes else ""
                cells.append(f'<td{attribute} data-sort="{sort}">{text}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    parts = [f'<div class="gr-table"><style>{CSS}</style><div class="gr-scroll"><table>',
             "<thead><tr>" + "".join(head_cells) + "</tr></thead>",
             "<tbody>" + "".join(rows) + "</tbody></table></div>"]
    if not len(shown):
        parts.append('<p class="gr-notes">No rows.</p>')
    if notes:
        parts.append(f'<p class="gr-notes">{UNKNOWN} ' + "; ".join(notes) + ".</p>")
    if len(shown) > max_rows:
        where = f' in <a href="{html.escape(name, quote=True)}.csv">{html.escape(name)}.csv</a>' if name else ""
        parts.append(f'<p class="gr-notes">The first {max_rows:,} of {len(shown):,} rows; every row is'
                     f'{where or " in the CSV"}.</p>')
    if min(len(shown), max_rows) > sortable_from:
        parts.append(f"<script>{_SORT_JS}</script>")
    parts.append("</div>")
    return "".join(parts)
