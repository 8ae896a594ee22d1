"""The reports: one module per report (`slo`, `cost`, `dr`, `postmortem`), each following `reports.base`'s
protocol (`SPEC`, `fetch(sources, params)`, `build(data, params)`), found by `reports.registry`.

Notebooks run inside the runner's context: `from goreliable_lib.runner import current_run`. The names the
notebooks of version 0.1 used (`reports.current_run`, `reports.Run`, `reports.run_report`, `reports.RunResult`)
still work: they are looked up in the runner when asked for (the runner stands above the reports, so they cannot
be imported here).
"""

from __future__ import annotations

import importlib
from typing import Any

from goreliable_lib.reports.base import Param, ReportSpec, file_stem
from goreliable_lib.reports.registry import REPORTS, STANDARD_SUITE, get_report

__all__ = ["REPORTS", "STANDARD_SUITE", "Param", "ReportSpec", "file_stem", "get_report"]

#: Compatibility names of version 0.1 -> the runner module that defines them now.
_RUNNER_NAMES = {"current_run": "goreliable_lib.runner.context", "Run": "goreliable_lib.runner.context",
                 "run_report": "goreliable_lib.runner.execute", "RunResult": "goreliable_lib.runner.execute"}


def __getattr__(name: str) -> Any:
    if name in _RUNNER_NAMES:
        return getattr(importlib.import_module(_RUNNER_NAMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
