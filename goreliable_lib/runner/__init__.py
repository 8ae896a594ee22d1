"""The runner, cut by the process each module runs in:

- the runner's side, in the CLI's process: `execute` (run_report), `kernel` (the kernel and papermill's
  plumbing), `finalise` (summary.json, banners, report.html), `publish` and `index`, `params`, `html`, `scrub`;
- the kernel's side, inside the notebook: `context` (the run context, `current_run`) and `png`;
- what both share: `shared` (environment variable and file names, `to_jsonable`) and `files` (the atomic writer).
Neither side imports the other (import-linter contracts in pyproject.toml).

In a report notebook: `from goreliable_lib.runner import current_run`.
"""

from __future__ import annotations

from goreliable_lib.runner.context import Run, current_run

__all__ = ["Run", "current_run"]
