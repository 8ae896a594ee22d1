"""What every report is made of: its parameters (typed, validated before any kernel starts) and the protocol
its module follows, so the runner, the index and the notebooks treat every report alike.

A report is a module in `goreliable_lib/reports/` that defines:
- `SPEC: ReportSpec`: its name, notebook, title, parameters, the pre-kernel check of its input files, its
  window, its one-line index headline and its index trends (read from parameters or summary.json, no I/O), and
  how its tables read (`columns`: `plots.table.Column` per column name);
- `fetch(sources, params) -> data`: every request the report makes, through `sources` (so a run records them
  all into its snapshot and replays them offline);
- `build(data, params) -> report`: pure; the report object has `headline()` (Markdown of the first screen),
  `summary()` (its summary.json block), `warnings` and `window` (start, end).
The registry finds the modules by themselves: adding a fifth report is one module and one notebook. Every report
module reads in one order: its data and `fetch`, the report object, `build`, `check` (the pre-kernel checks; a file
parameter through `read_file_param`), its window and index lines, and `SPEC` last.

```python
data = slo.fetch(run.connect(), run.params)     # the setup cell of every report notebook
report = slo.build(data, run.params)
```
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pandas as pd

from goreliable_lib.errors import BadInputError
from goreliable_lib.events.groups import MAX_GROUPS
from goreliable_lib.inputs.catalog import Catalog
from goreliable_lib.inputs.services_map import DEFAULT_SERVICES_MAP, load_services_map
from goreliable_lib.paths import project_root, resolve
from goreliable_lib.plots.table import Column
from goreliable_lib.plots.trends import NO_SOURCE, source_kind, source_label, window_label
from goreliable_lib.timeutil import parse_time, parse_window, to_rfc3339

T = TypeVar("T")

#: A validator gets the value and the field name, returns the normalised value or raises BadInputError.
Validator = Callable[[Any, str], Any]
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:=@+-]*$")
#: Any fixed clock works to check that a relative time parses; the notebook resolves it on the source's clock.
CHECK_NOW = pd.Timestamp("2026-11-23T06:00:00Z")


def safe_name(value: Any, field_name: str) -> str:
    """A value that may end up in a file name: no path separators, no `..`, no leading dot or dash."""
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else None
    if not text or ".." in text or "/" in text or "\\" in text or not _SAFE_NAME.match(text):
        raise BadInputError(f"{field_name}: {value!r} is not allowed (letters, digits and _ . : = @ + - only; "
                            "no path separators or '..')")
    return text


#: The longest stem `file_stem` keeps as it is: a figure's file name adds a suffix (`_burn_rates.json`) and file
#: systems allow 255 bytes; a Sloth SLO id (`<service>-<name>`) has no length limit.
MAX_STEM = 120


def file_stem(text: str) -> str:
    """A file name stem for a name built from *data* (a Kubecost team or namespace, a drill id, an SLO's name), which
    may hold anything a label value or a log line can: unchanged when `safe_name` accepts it and it has at most
    MAX_STEM characters, else every other character and each `..` become `_`, cut to 80 characters, with a short
    hash of the original so two names never share a file."""
    try:
        if len(str(text)) <= MAX_STEM:
            return safe_name(text, "name")
    except BadInputError:
        pass
    cleaned = re.sub(r"[^A-Za-z0-9_.:=@+-]", "_", str(text)).replace("..", "__").lstrip(".-_") or "name"
    return f"{cleaned[:80]}-{hashlib.sha256(str(text).encode()).hexdigest()[:8]}"


# ---- validators ------------------------------------------------------------------------------------------

def check_text(value: Any, field_name: str) -> str | None:
    """Free text (a title); None keeps the notebook's default."""
    if value is None:
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise BadInputError(f"{field_name}: expected text, got {type(value).__name__} {value!r}")
    text = str(value)
    if len(text) > 200 or any(ord(c) < 32 for c in text):
        raise BadInputError(f"{field_name}: expected one line of at most 200 characters")
    return text


def check_time(value: Any, field_name: str) -> str:
    """A time (`now`, `now-7d`, RFC3339, unix seconds); relative forms stay relative (the source's clock)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise BadInputError(f"{field_name}: a time is required (RFC3339, unix seconds, 'now' or 'now-7d')")
    parse_time(value, now=CHECK_NOW, field=field_name)
    if isinstance(value, str) and value.strip().startswith("now"):
        return value.strip()
    return to_rfc3339(parse_time(value, field=field_name))


def check_window(value: Any, field_name: str) -> str:
    """A report window: `30d`, `1M`, `1Q`, `2026-10`, `2026-Q3`."""
    text = safe_name(value, field_name)
    parse_window(text, CHECK_NOW, field=field_name)
    return text


def check_int_range(low: int, high: int) -> Validator:
    """An integer between low and high (inclusive)."""
    def check(value: Any, field_name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise BadInputError(f"{field_name}: expected an integer {low}..{high}, got {value!r}")
        try:
            number = int(value)
        except ValueError:
            raise BadInputError(f"{field_name}: expected an integer {low}..{high}, got {value!r}") from None
        if not low <= number <= high:
            raise BadInputError(f"{field_name}: {number} is out of range {low}..{high}")
        return number
    return check


#: The parameter `notify` every report takes: when a run is sent to the destinations the environment names
#: (runner/notify.py): on a change since the last run, always, only when it failed, or never.
NOTIFY_RULES = ("on-change", "always", "on-failure", "never")
DEFAULT_NOTIFY_RULE = "on-change"


def check_notify(value: Any, field_name: str) -> str:
    """One of `NOTIFY_RULES`."""
    if value not in NOTIFY_RULES:
        raise BadInputError(f"{field_name}: {value!r} is not one of {', '.join(NOTIFY_RULES)}")
    return str(value)


def check_file(value: Any, field_name: str) -> str:
    """A file that must exist, relative to the project root or absolute; kept as given."""
    if not isinstance(value, str) or not value.strip():
        raise BadInputError(f"{field_name}: expected a file path, got {value!r}")
    path = Path(value.strip())
    resolved = resolve(path)
    if not resolved.is_file():
        raise BadInputError(f"{field_name}: file {value!r} not found (relative paths start at {project_root()})")
    return value.strip()


def check_catalog(value: Any, field_name: str) -> str | list[str]:
    """An SLO catalog: a file, a folder (its *.yaml and *.yml files) or several of these (a YAML list, or
    comma-separated text), each of which must exist; kept as given (`inputs.catalog.read_catalog` reads them)."""
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        items = [item.strip() for item in value if item.strip()]
    else:
        raise BadInputError(f"{field_name}: expected a file or folder path, or a list of them, got {value!r}")
    if not items:
        raise BadInputError(f"{field_name}: expected a file or folder path, got {value!r}")
    for item in items:
        resolved = resolve(Path(item))
        if not (resolved.is_file() or resolved.is_dir()):
            raise BadInputError(f"{field_name}: file {item!r} not found, nor a folder of that name (relative paths "
                                f"start at {project_root()})")
    return value.strip() if isinstance(value, str) else items


def check_optional_file(value: Any, field_name: str) -> str | None:
    """`check_file`, or None (also `none`, `null` or empty text: no file)."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
        return None
    return check_file(value, field_name)


def check_names(value: Any, field_name: str) -> str | list[str]:
    """`all`, or a list of names (YAML list or comma-separated text), each safe for file names."""
    if value is None or value == "all":
        return "all"
    if isinstance(value, str):
        items: list[Any] = [v for v in (part.strip() for part in value.split(",")) if v]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise BadInputError(f"{field_name}: expected 'all' or a list of names, got {value!r}")
    if not items:
        raise BadInputError(f"{field_name}: empty list (use 'all')")
    return [safe_name(item, f"{field_name}[{i}]") for i, item in enumerate(items)]


def check_aggregate(value: Any, field_name: str) -> str:
    """A Kubecost aggregate: `namespace`, `label:cost-team`, ..."""
    return safe_name(value, field_name)


def check_drills_uri(value: Any, field_name: str) -> str | None:
    """`s3://bucket/prefix` or an existing local folder; None = GORELIABLE_DRILLS_URI at run time."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadInputError(f"{field_name}: expected s3://bucket/prefix or a folder, got {value!r}")
    text = value.strip()
    if text.startswith("s3://"):
        if not re.match(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$", text):
            raise BadInputError(f"{field_name}: {text!r} is not s3://bucket/prefix")
        return text
    path = Path(text)
    if not resolve(path).is_dir():
        raise BadInputError(f"{field_name}: folder {text!r} not found")
    return text


# ---- specs -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Param:
    """One report parameter: its name, type (as shown to users), default, help and validator."""

    name: str
    type: str
    default: Any
    help: str
    validator: Validator
    required: bool = False


Window = tuple[pd.Timestamp | None, pd.Timestamp]


def window_from_end(params: Mapping[str, Any], now: pd.Timestamp) -> Window:
    """The window of a report with `end` and `window` parameters (`30d`, `1M`, `2026-10`, ...) on the clock `now`."""
    end = parse_time(params.get("end", "now"), now=now, field="end")
    if params.get("window") is None:
        return None, end
    return parse_window(params["window"], end)


@dataclass(frozen=True)
class ReportSpec:
    """A report: its name, notebook (relative to the project root), parameters, and what the runner and the index
    ask of it without running it."""

    name: str
    notebook: str
    title: str
    params: tuple[Param, ...]
    default_param_file: str | None = None
    #: The pre-kernel check of the validated parameters (input files parse, names exist): BadInputError = exit 2.
    check: Callable[[dict[str, Any]], None] | None = field(default=None, compare=False)
    #: The report's window from its parameters on a clock (the run context's first guess, before any fetch).
    window: Callable[[Mapping[str, Any], pd.Timestamp], Window] = field(default=window_from_end, compare=False)
    #: The one-line headline of a run for reports/index.html, from its summary.json.
    index_headline: Callable[[Mapping[str, Any]], str] | None = field(default=None, compare=False)
    #: The report's trends on reports/index.html: plotly figures from the summary.json of every published run
    #: (ok and failed, any order; `trend_runs` puts them in order and turns failed runs into gaps).
    index_trends: Callable[[Sequence[Mapping[str, Any]]], list[Any]] | None = field(default=None, compare=False)
    #: How the report's tables read, per column name, over `plots.table.COMMON` (`run.export_table` uses it).
    columns: Mapping[str, Column] = field(default_factory=dict, compare=False)
    #: Position in `goreliable report all` (None: not part of the standard suite).
    suite_position: int | None = None
    #: The notebook writes figures as PNG: the run starts their Chromium (runner.png) as it begins, so that it is up
    #: by the first figure instead of making that figure wait for it.
    png_figures: bool = False

    def param(self, name: str) -> Param:
        """The spec of one parameter (KeyError if unknown)."""
        return {p.name: p for p in self.params}[name]

    @property
    def param_names(self) -> list[str]:
        """The parameter names, in spec order."""
        return [p.name for p in self.params]

    def notebook_path(self, root: Path | None = None) -> Path:
        """The notebook file (absolute)."""
        path = Path(self.notebook)
        return path if path.is_absolute() else (root or project_root()) / path


def common_params(title: str) -> tuple[Param, ...]:
    """The parameters every report has: `end` and `title`."""
    return (
        Param("end", "time", "now", "end of the report (now = the source's clock; RFC3339, unix s, now-1d)",
              check_time),
        Param("title", "text", title, "title on the first screen", check_text),
        Param("notify", "choice", DEFAULT_NOTIFY_RULE, "when to send the run to the destinations the environment "
              "names (Slack, webhook, e-mail): on-change, always, on-failure or never", check_notify),
    )


CATALOG_PARAM = Param("catalog", "file, folder or list", "params/slos.yaml",
                      "SLO catalog: OpenSLO v1, Pyrra or Sloth; a file, a folder of *.yaml/*.yml files, or several "
                      "(a list or comma-separated) (docs/slo-catalog.md)", check_catalog)


SERVICES_MAP_PARAM = Param("services_map", "file", DEFAULT_SERVICES_MAP,
                          "which Kubecost/OpenCost allocations are which service, for the unit costs (a services "
                          "map, docs/summary.md); none: no unit cost", check_optional_file)


def max_groups_param(span: str) -> Param:
    """The `max_groups` parameter of a report reading grouped SLOs over its `span` (window, period)."""
    return Param("max_groups", "int", MAX_GROUPS, "the most groups one grouped SLO (Pyrra grouping, Sloth sum by) may "
                 f"have over the {span}; more is refused, naming the SLO and the count", check_int_range(1, 100_000))


def check_services_map(value: Any, catalog: Catalog | None = None, catalog_shown: Any = None) -> None:
    """The `services_map` parameter (none: no unit cost) validates (exit 2 before any kernel); given the `catalog`
    (a report counting the services' requests with it: the cost report), each service's `requests` is one of its
    SLOs. The SLO report and the postmortem do not ask it: the default map names the default catalog's SLOs, and a
    report on another catalog says per service what it could not count."""
    if not value:
        return
    services = read_file_param("services_map", load_services_map, value)
    if catalog is not None:
        read_file_param("services_map", lambda _: services.check_slos([o.name for o in catalog.objectives],
                                                                      str(catalog_shown)), value)


def bad_file_input(name: str, exc: BadInputError) -> BadInputError:
    """A file parameter's validation error prefixed with the parameter's name (`budgets: params/x.yaml: ...`)."""
    message = str(exc)
    return BadInputError(message if message.startswith(f"{name}:") else f"{name}: {message}")


def read_file_param(name: str, read: Callable[[Any], T], value: Any) -> T:
    """The file parameter `name` read and validated by `read` (a report's `check`, before any kernel): its error
    names the parameter first (`bad_file_input`), exit 2."""
    try:
        return read(value)
    except BadInputError as exc:
        raise bad_file_input(name, exc) from None


@dataclass(frozen=True)
class TrendRun:
    """One point of an index trend: the end of a run's window, its summary (None: the run failed, a gap), its
    source (`source`: summary.json `source.kind`, `unknown` when not recorded; `source_label`: how it reads, the
    legend group of its lines: `demo data`, `live: http://prometheus:9090`), its window (`window`: `30d`,
    `month`, ...: plots.trends.window_label) and the window's start."""

    end: pd.Timestamp
    summary: Mapping[str, Any] | None
    source: str = "unknown"
    source_label: str = NO_SOURCE
    window: str = ""
    start: pd.Timestamp | None = None

    @property
    def failed(self) -> bool:
        return self.summary is None


def _stamp(value: Any, name: str) -> pd.Timestamp | None:
    try:
        return parse_time(value, field=name) if value else None
    except BadInputError:
        return None


def trend_runs(summaries: Iterable[Mapping[str, Any]]) -> list[TrendRun]:
    """The published runs of one report as trend points, oldest first: one per window (its end, its start and the
    `window` parameter that gave it) and source (runs of different sources are never one point: demo data, each
    live endpoint, each snapshot's), the newest good run of that window and source when there is one; else its
    failed run, as a gap. A failed run never gives a value, even when its summary.json holds the numbers it had
    computed before it failed; a run without a window end (a summary.json of another version) is left out."""
    best: dict[tuple[Any, ...], tuple[bool, str, Mapping[str, Any]]] = {}
    for summary in summaries:
        window = summary.get("window") if isinstance(summary.get("window"), Mapping) else {}
        stamp = _stamp(window.get("end"), "window end")
        if stamp is None:
            continue
        start = _stamp(window.get("start"), "window start")
        parameters = summary.get("parameters") if isinstance(summary.get("parameters"), Mapping) else {}
        label = source_label(summary.get("source"), str(summary.get("report") or ""))
        key = (stamp, start or stamp, str(parameters.get("window") or ""), label)
        rank = (summary.get("status") == "ok", str(summary.get("run_id") or summary.get("generated_at") or ""))
        if key not in best or rank > best[key][:2]:
            best[key] = (*rank, summary)
    runs = []
    for (end, start, given, label), (ok, _, summary) in sorted(best.items(), key=lambda item: item[0]):
        start = start if start != end else None
        runs.append(TrendRun(end, summary if ok else None, source_kind(summary.get("source")), label,
                             window_label(given, start, end), start))
    return runs


class BuiltReport(Protocol):
    """What `build` returns: the runner context and the notebook ask this of every report."""

    warnings: list[str]

    @property
    def window(self) -> Window: ...

    def headline(self) -> str: ...

    def summary(self) -> dict[str, Any]: ...
