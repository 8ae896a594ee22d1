"""The four reports: their notebooks and typed parameter specs (DESIGN.md "Report parameters")."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from goreliable_lib.errors import BadInputError, GoReliableError
from goreliable_lib.paths import project_root, resolve
from goreliable_lib.timeutil import parse_time, parse_window, to_rfc3339

#: A validator gets the value and the field name, returns the normalised value or raises BadInputError.
Validator = Callable[[Any, str], Any]
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:=@+-]*$")
#: Any fixed clock works to check that a relative time parses; the notebook resolves it on the source's clock.
_CHECK_NOW = pd.Timestamp("2026-11-23T06:00:00Z")


def safe_name(value: Any, field_name: str) -> str:
    """A value that may end up in a file name: no path separators, no `..`, no leading dot or dash."""
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else None
    if not text or ".." in text or "/" in text or "\\" in text or not _SAFE_NAME.match(text):
        raise BadInputError(f"{field_name}: {value!r} is not allowed (letters, digits and _ . : = @ + - only; "
                            "no path separators or '..')")
    return text


def file_stem(text: str) -> str:
    """A file name stem for a name built from *data* (a Kubecost team or namespace, a drill id), which may hold
    anything a label value or a log line can: unchanged when `safe_name` accepts it, else every other character
    and each `..` become `_`, with a short hash of the original so two names never share a file."""
    try:
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
    parse_time(value, now=_CHECK_NOW, field=field_name)
    if isinstance(value, str) and value.strip().startswith("now"):
        return value.strip()
    return to_rfc3339(parse_time(value, field=field_name))


def check_window(value: Any, field_name: str) -> str:
    """A report window: `30d`, `1M`, `1Q`, `2026-10`, `2026-Q3`."""
    text = safe_name(value, field_name)
    parse_window(text, _CHECK_NOW, field=field_name)
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


def check_file(value: Any, field_name: str) -> str:
    """A file that must exist, relative to the project root or absolute; kept as given."""
    if not isinstance(value, str) or not value.strip():
        raise BadInputError(f"{field_name}: expected a file path, got {value!r}")
    path = Path(value.strip())
    resolved = resolve(path)
    if not resolved.is_file():
        raise BadInputError(f"{field_name}: file {value!r} not found (relative paths start at {project_root()})")
    return value.strip()


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


@dataclass(frozen=True)
class Report:
    """A report: its name, notebook (relative to the project root) and parameters."""

    name: str
    notebook: str
    title: str
    params: tuple[Param, ...]
    default_param_file: str | None = None
    check: Callable[[dict[str, Any]], None] | None = field(default=None, compare=False)

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


def _common(title: str) -> tuple[Param, ...]:
    return (
        Param("end", "time", "now", "end of the report (now = the source's clock; RFC3339, unix s, now-1d)",
              check_time),
        Param("title", "text", title, "title on the first screen", check_text),
    )


def _check_incident(values: dict[str, Any]) -> None:
    """The incident is a positive interval and the services/SLOs named exist in the catalog."""
    from goreliable_lib.reports.postmortem import select_incident_slos

    start = parse_time(values["incident_start"], now=_CHECK_NOW, field="incident_start")
    end = parse_time(values["incident_end"], now=_CHECK_NOW, field="incident_end")
    if end <= start:
        raise BadInputError(f"incident_end: {values['incident_end']!r} must be after incident_start "
                            f"{values['incident_start']!r}")
    try:
        select_incident_slos(values["catalog"], values["services"], values["slos"])
    except BadInputError as exc:
        message = str(exc)
        raise BadInputError(message if message.startswith(("services", "slos")) else f"catalog: {message}") from None


def _check_targets(values: dict[str, Any]) -> None:
    """The DR report's targets file parses and validates (so a bad file is exit 2, before any kernel)."""
    from goreliable_lib.reports.dr import load_targets

    try:
        load_targets(values["targets"])
    except BadInputError as exc:
        raise BadInputError(f"targets: {exc}") from None


def _check_budgets(values: dict[str, Any]) -> None:
    """The cost report's budgets file parses and validates (so a bad file is exit 2, before any kernel)."""
    from goreliable_lib.inputs.budgets import load_budgets

    try:
        load_budgets(values["budgets"])
    except BadInputError as exc:
        raise BadInputError(f"budgets: {exc}") from None


def _check_catalog(values: dict[str, Any]) -> None:
    """The SLO report's catalog parses and validates (so a bad catalog is exit 2, before any kernel)."""
    from goreliable_lib.inputs.catalog import read_catalog

    path = Path(values["catalog"])
    try:
        catalog = read_catalog(resolve(path))
    except BadInputError as exc:
        raise BadInputError(f"catalog: {exc}") from None
    services = values.get("services")
    if services not in (None, "all", []):
        known = {slo.service for slo in catalog.slos}
        if unknown := [s for s in ([services] if isinstance(services, str) else services) if s not in known]:
            raise BadInputError(f"services: unknown service {', '.join(map(repr, unknown))} "
                                f"(the catalog has: {', '.join(sorted(known))})")


_CATALOG = Param("catalog", "file", "params/slos.yaml", "OpenSLO v1 catalog", check_file)

REPORTS: dict[str, Report] = {
    "slo": Report("slo", "notebooks/slo_report.ipynb", "SLO report", (
        *_common("SLO report"),
        _CATALOG,
        Param("window", "window", "30d", "SLO window: 30d (rolling), 1M (month to date), 2026-10 (a month)",
              check_window),
        Param("services", "names", "all", "services to include (all, or a list)", check_names),
    ), "params/slo.yaml", _check_catalog),
    "cost": Report("cost", "notebooks/cost_by_team.ipynb", "Cost by team", (
        *_common("Cost by team"),
        Param("window", "window", "30d", "cost window: 30d (last 30 days), lastmonth, or a month like 2026-10", check_window),
        Param("aggregate", "text", "label:cost-team", "Kubecost aggregation for teams", check_aggregate),
        Param("budgets", "file", "params/budgets.yaml", "budgets per team / namespace", check_file),
        Param("teams", "names", "all", "teams to include (all, or a list)", check_names),
    ), "params/cost.yaml", _check_budgets),
    "dr": Report("dr", "notebooks/dr_trends.ipynb", "Disaster-recovery trends", (
        *_common("Disaster-recovery trends"),
        Param("drills_uri", "uri", None, "drill logs: s3://bucket/prefix or a folder (default: "
              "GORELIABLE_DRILLS_URI / the profile's)", check_drills_uri),
        Param("quarters", "int", 8, "quarters of history", check_int_range(1, 40)),
        Param("targets", "file", "params/dr_targets.yaml", "RTO/RPO targets per component", check_file),
    ), "params/dr.yaml", _check_targets),
    "postmortem": Report("postmortem", "notebooks/postmortem.ipynb", "Incident postmortem", (
        *_common("Incident postmortem"),
        Param("incident_start", "time", None, "start of the incident (required)", check_time, required=True),
        Param("incident_end", "time", None, "end of the incident (required)", check_time, required=True),
        Param("services", "names", "all", "services affected (all, or a list)", check_names),
        Param("slos", "names", "all", "SLOs to assess (all, or a list of SLO names)", check_names),
        _CATALOG,
    ), "params/postmortem.yaml", _check_incident),
}
#: The suite `goreliable report all` runs.
STANDARD_SUITE = ("slo", "cost", "dr")


def get_report(name: str) -> Report:
    """The report called `name`; BadInputError listing the known ones."""
    try:
        return REPORTS[name]
    except KeyError:
        raise BadInputError(f"report: unknown report {name!r} (known: {', '.join(REPORTS)})") from None


def describe(report: Report) -> list[Mapping[str, Any]]:
    """The parameters of a report for `report list`."""
    return [{"name": p.name, "type": p.type, "default": p.default, "required": p.required, "help": p.help}
            for p in report.params]


def require_notebook(report: Report) -> Path:
    """The report's notebook, or an error naming the missing file."""
    path = report.notebook_path()
    if not path.is_file():
        raise GoReliableError(f"report {report.name}: notebook {path} not found")
    return path
