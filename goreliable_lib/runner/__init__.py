"""The runner: papermill execution (`execute`), the in-notebook run context (`context`), parameters, HTML, PNG,
the index and publishing (local or S3), and the scrubbing of what people read.

In a report notebook: `from goreliable_lib.runner import current_run`.
"""

from __future__ import annotations

from goreliable_lib.runner.context import Run, current_run

__all__ = ["Run", "current_run"]
