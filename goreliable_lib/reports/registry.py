"""The reports there are: every module of this package that defines a `SPEC` (see `reports.base`), found when the
package is imported, so a new report is one module and one notebook and touches nothing here."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from goreliable_lib.errors import BadInputError, GoReliableError
from goreliable_lib.reports.base import ReportSpec


def _discover() -> dict[str, ModuleType]:
    found = {}
    for module_info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        module = importlib.import_module(f"{__package__}.{module_info.name}")
        if isinstance(getattr(module, "SPEC", None), ReportSpec):
            found[module.SPEC.name] = module
    return dict(sorted(found.items(), key=lambda item: (item[1].SPEC.suite_position is None,
                                                        item[1].SPEC.suite_position or 0, item[0])))


_MODULES = _discover()
#: Every report by name: the standard suite first, in its order.
REPORTS: dict[str, ReportSpec] = {name: module.SPEC for name, module in _MODULES.items()}
#: The suite `goreliable report all` runs.
STANDARD_SUITE: tuple[str, ...] = tuple(name for name, spec in REPORTS.items() if spec.suite_position is not None)


def get_report(name: str) -> ReportSpec:
    """The report called `name`; BadInputError listing the known ones."""
    try:
        return REPORTS[name]
    except KeyError:
        raise BadInputError(f"report: unknown report {name!r} (known: {', '.join(REPORTS)})") from None


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
