"""Reports: the registry, the papermill runner, the in-notebook run context, HTML export, index, publishing.

`from goreliable_lib import reports; run = reports.current_run("slo", parameters={...})` in a notebook;
`reports.run_report("slo", {"window": "30d"})` from Python. Heavy modules (papermill) load on first use.
"""

from __future__ import annotations

from typing import Any

from goreliable_lib.reports.registry import REPORTS, STANDARD_SUITE, Param, Report, file_stem, get_report
from goreliable_lib.runner.context import Run, current_run

__all__ = ["REPORTS", "STANDARD_SUITE", "Param", "Report", "Run", "RunResult", "current_run", "file_stem",
           "get_report", "run_report"]


def __getattr__(name: str) -> Any:
    if name in {"run_report", "RunResult"}:
        from goreliable_lib.runner import execute as runner

        return getattr(runner, name)
    raise AttributeError(name)
