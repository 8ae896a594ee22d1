"""What both sides of a run agree on: the runner (the CLI's process: execute, finalise, kernel, publish) and the
run context (the notebook's kernel: context). Neither side imports the other; both import this.

- the environment the runner gives the kernel (`RUN_DIR_ENV`, `REPORT_ENV`, `RUN_ID_ENV`);
- the names of the files of a run folder that one side writes and the other reads;
- `find_browser`, the one Chromium of a run: the figures' PNGs (png.py, kernel side) and report.pdf (pdf.py).

Nothing heavy is imported here (not even pandas): the command line starts the run's kernel-to-be with it before it
loads anything else (runner/launch.py). `to_jsonable`, the one conversion of values into plain JSON, is
runner/jsonable.py.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
from pathlib import Path

#: The run folder the runner stages the run in; the run context writes there (unset: a scratch folder).
RUN_DIR_ENV = "GORELIABLE_RUN_DIR"
#: The report being run.
REPORT_ENV = "GORELIABLE_REPORT"
#: The run's id (e.g. 20261123T060000Z-3f9a).
RUN_ID_ENV = "GORELIABLE_RUN_ID"

NOTEBOOK_FILE = "report.ipynb"
HTML_FILE = "report.html"
#: The page printed (`report run --pdf`; always for the postmortem).
PDF_FILE = "report.pdf"
SUMMARY_FILE = "summary.json"
#: Written by the run context as it goes, read by the runner when the notebook fails before write_summary.
CONTEXT_FILE = ".run-context.json"
#: The kernel process's own output during the run; kept as kernel.log only when the run failed and it says something.
KERNEL_LOG = ".kernel.log"


#: Where the browser is named explicitly (a Chrome/Chromium binary), else it is looked for.
BROWSER_ENV = "BROWSER_PATH"
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")

#: The installed distribution of the kit (pyproject.toml `name`).
DISTRIBUTION = "goreliable-notebooks"


def installed_kit_version() -> str:
    """The kit's version as installed (pyproject.toml `version`, which `goreliable_lib.__version__` repeats), read
    from the package metadata: the runner never imports the top package (it would import the lab's magics)."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def find_browser() -> str | None:
    """The Chrome/Chromium of the run: `BROWSER_PATH` when set, else `chromium` (or another Chrome) on PATH, else
    Debian's /usr/bin/chromium; None when there is none."""
    if explicit := os.environ.get(BROWSER_ENV):
        return explicit
    found = next((path for name in BROWSER_NAMES if (path := shutil.which(name))), None)
    return found or next((c for c in CHROMIUM_CANDIDATES if Path(c).is_file()), None)
