"""The reports there are: every module of this package but `base` and `registry` is a report, named by its file
(`slo_review.py` is the report `slo-review`) and defining a `SPEC` (see `reports.base`) of that name, so a new
report is one module and one notebook and touches nothing here.

The names are known without importing anything (`REPORT_NAMES`: what `goreliable report run` accepts, answered at
once); a report's module, and with it pandas and plotly, is imported when its spec is first asked for
(`get_report`, `find_report`); `REPORTS` and `STANDARD_SUITE` import every report when first used, so code that
needs one report by name asks for that one. `report list` reads `report_list`: cached in the kit's cache folder by
the digest of the package's source (written whenever every report is loaded, as a run does), so it answers without
importing any report once the kit has run or listed its reports.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import json
import os
import pkgutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goreliable_lib.errors import BadInputError, GoReliableError
from goreliable_lib.paths import cache_dir

if TYPE_CHECKING:
    from goreliable_lib.reports.base import ReportSpec

#: The package's modules that are not reports.
SUPPORT_MODULES = frozenset({"base", "registry"})
#: The report list (`report_list`) in the kit's cache folder, named by the digest of the source it was made from:
#: any change to the code is a new file, so a cached list is never stale.
LIST_CACHE = "report-list-{digest}.json"
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


def find_report(name: str) -> ReportSpec | None:
    """The report called `name` (only its own module imported), or None when there is none (a summary of another
    version's report)."""
    return _load(name) if name in REPORT_NAMES else None


@functools.cache
def all_reports() -> dict[str, ReportSpec]:
    """Every report by name, the standard suite first, in its order (every report's module imported; the report
    list is cached on the way, `report_list`)."""
    specs = [_load(name) for name in REPORT_NAMES]
    ordered = {spec.name: spec for spec in
               sorted(specs, key=lambda s: (s.suite_position is None, s.suite_position or 0, s.name))}
    _keep_list({name: listing(spec) for name, spec in ordered.items()})
    return ordered


def __getattr__(name: str) -> Any:
    # REPORTS: every report by name, the standard suite first, in its order; STANDARD_SUITE: what
    # `goreliable report all` runs. Both import every report module, so they are made when first asked for.
    if name == "REPORTS":
        return all_reports()
    if name == "STANDARD_SUITE":
        return tuple(name for name, spec in all_reports().items() if spec.suite_position is not None)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def describe(report: ReportSpec) -> list[Mapping[str, Any]]:
    """The parameters of a report for `report list`."""
    return [{"name": p.name, "type": p.type, "default": p.default, "required": p.required, "help": p.help}
            for p in report.params]


def listing(report: ReportSpec) -> dict[str, Any]:
    """A report as `report list` shows it: title, notebook, parameter file and parameters (`describe`)."""
    return {"title": report.title, "notebook": report.notebook, "default_param_file": report.default_param_file,
            "parameters": describe(report)}


@functools.cache
def source_digest() -> str:
    """The digest of the package's source (every Python file's path and content) and of the interpreter's
    version: what the report list is made from (read once a process)."""
    digest = hashlib.sha256(sys.version.encode())
    package = Path(__file__).parents[1]
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:24]


def _list_file() -> Path:
    return cache_dir() / LIST_CACHE.format(digest=source_digest())


def _keep_list(listed: Mapping[str, Any]) -> None:
    """Write the report list to the cache unless it is there (whole or not at all; a cache that cannot be written
    is skipped)."""
    path = _list_file()
    if path.is_file():
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(listed), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def report_list() -> dict[str, dict[str, Any]]:
    """Every report as `report list` shows it (`listing`), in `REPORTS` order: the cached list of this source when
    there is one (no report imported: the answer is at once), else made from the specs and cached."""
    with contextlib.suppress(OSError, ValueError):
        return json.loads(_list_file().read_text(encoding="utf-8"))
    return {name: listing(spec) for name, spec in all_reports().items()}


def require_notebook(report: ReportSpec) -> Path:
    """The report's notebook, or an error naming the missing file."""
    path = report.notebook_path()
    if not path.is_file():
        raise GoReliableError(f"report {report.name}: notebook {path} not found")
    return path
