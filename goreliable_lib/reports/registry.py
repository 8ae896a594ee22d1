"""The reports there are: every module of this package but `base` and `registry` is a report, named by its file
(`slo_review.py` is the report `slo-review`) and defining a `SPEC` (see `reports.base`) of that name, so a new
report is one module and one notebook and touches nothing here.

The names are known without importing anything (`REPORT_NAMES`: what `goreliable report run` accepts, answered at
once); a report's module, and with it pandas and plotly, is imported when its spec is first asked for
(`get_report`); `REPORTS` and `STANDARD_SUITE` import every report when first used.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goreliable_lib.errors import BadInputError, GoReliableError

if TYPE_CHECKING:
    from goreliable_lib.reports.base import ReportSpec

#: The package's modules that are not reports.
SUPPORT_MODULES = frozenset({"base", "registry"})
#: Every report's name, sorted (found from the package's files, nothing imported).
REPORT_NAMES: tuple[str, ...] = tuple(sorted(
    info.name.replace("_", "-") for info in pkgutil.iter_modules([str(Path(__file__).parent)])
    if info.name not in SUPPORT_MODULES))


@functools.cache
def _load(name: str) -> ReportSpec:
    module = importlib.import_module(f"{__package__}.{name.replace('-', '_')}")
    spec = getattr(module, "SPEC", None)
    if getattr(spec, "name", None) != name:
        raise GoReliableError(f"reports/{module.__name__.rsplit('.', 1)[-1]}.py: a report module defines "
                              f"SPEC = ReportSpec({name!r}, ...); found {spec!r:.80}")
    return spec


def get_report(name: str) -> ReportSpec:
    """The report called `name`; BadInputError listing the known ones."""
    if name not in REPORT_NAMES:
        raise BadInputError(f"report: unknown report {name!r} (known: {', '.join(REPORT_NAMES)})")
    return _load(name)


@functools.cache
def _all_reports() -> dict[str, ReportSpec]:
    specs = [_load(name) for name in REPORT_NAMES]
    ordered = sorted(specs, key=lambda s: (s.suite_position is None, s.suite_position or 0, s.name))
    return {spec.name: spec for spec in ordered}


def __getattr__(name: str) -> Any:
    # REPORTS: every report by name, the standard suite first, in its order; STANDARD_SUITE: what
    # `goreliable report all` runs. Both import every report module, so they are made when first asked for.
    if name == "REPORTS":
        return _all_reports()
    if name == "STANDARD_SUITE":
        return tuple(name for name, spec in _all_reports().items() if spec.suite_position is not None)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def describe(report: ReportSpec) -> list[Mapping[str, Any]]:
    """The parameters of a report for `report list`."""
    return [{"name": p.name, "type": p.type, "default": p.default, "required": p.required, "help": p.help}
            for p in report.params]


def require_notebook(report: ReportSpec) -> Path:
    """The report's notebook, or an error naming the missing file."""
    path = report.notebook_path()
    if not path.is_file():
        raise GoReliableError(f"report {report.name}: notebook {path} not found")
    return path
