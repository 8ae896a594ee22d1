"""The runner, cut by the process each module runs in:

- the runner's side, in the CLI's process: `execute` (run_report), `suite` (several reports in parallel),
  `kernel` (the kernel and papermill's plumbing), `finalise` (summary.json, banners, report.html), `publish` and
  `index`, `params`, `html`, `scrub`;
- the kernel's side, inside the notebook: `context` (the run context, `current_run`) and `png`;
- what both share: `shared` (environment variable and file names), `jsonable` (`to_jsonable`) and `files` (the
  atomic writer).
Neither side imports the other (import-linter contracts in pyproject.toml); the package itself imports neither
(`current_run` and `Run` are loaded when first asked for, PEP 562), so the CLI's process never loads IPython.

In a report notebook: `from goreliable_lib.runner import current_run`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from goreliable_lib.runner.context import Run, current_run

__all__ = ["Run", "current_run"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("goreliable_lib.runner.context"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
