"""The reports: one module per report (`slo`, `cost`, `dr`, `postmortem`), each following `reports.base`'s
protocol (`SPEC`, `fetch(sources, params)`, `build(data, params)`), found by `reports.registry`.

Notebooks run inside the runner's context: `from goreliable_lib.runner import current_run`. The names the
notebooks of version 0.1 used (`reports.current_run`, `reports.Run`, `reports.run_report`, `reports.RunResult`)
still work: they are looked up in the runner when asked for (the runner stands above the reports, so they cannot
be imported here). Every name here is loaded when first asked for (PEP 562): importing the package, or
`reports.registry` for the report names, loads no report.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["REPORTS", "STANDARD_SUITE", "Param", "ReportSpec", "file_stem", "get_report"]

#: Each name -> the module that defines it (the runner's: compatibility names of version 0.1).
_NAMES = {"REPORTS": "goreliable_lib.reports.registry", "STANDARD_SUITE": "goreliable_lib.reports.registry",
          "get_report": "goreliable_lib.reports.registry", "Param": "goreliable_lib.reports.base",
          "ReportSpec": "goreliable_lib.reports.base", "file_stem": "goreliable_lib.reports.base",
          "current_run": "goreliable_lib.runner.context", "Run": "goreliable_lib.runner.context",
          "run_report": "goreliable_lib.runner.execute", "RunResult": "goreliable_lib.runner.execute"}


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
