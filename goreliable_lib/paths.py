"""Where things are: the project folder (notebooks/ and params/) and the one rule for a path a user gives.

A relative path in a parameter, a CLI option or a params file starts at the project root, wherever the
command runs from, so `-p catalog=params/slos.yaml` means the same file from any working directory and in the
CronJob image (`GORELIABLE_PROJECT_ROOT=/app`). An absolute path is taken as it is.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT_ENV = "GORELIABLE_PROJECT_ROOT"


def project_root() -> Path:
    """The project folder holding notebooks/ and params/: GORELIABLE_PROJECT_ROOT, else the nearest parent of
    the working directory that has both, else the folder above the package (a source checkout)."""
    if explicit := os.environ.get(PROJECT_ROOT_ENV):
        return Path(explicit).resolve()
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if (folder / "notebooks").is_dir() and (folder / "params").is_dir():
            return folder
    return Path(__file__).resolve().parents[1]


def resolve(path: str | Path) -> Path:
    """A path a user gave: absolute as it is, relative from the project root."""
    given = Path(path)
    return given if given.is_absolute() else project_root() / given


def reports_dir() -> Path:
    """Where runs are published by default (`--out` not given): the project's reports/ folder."""
    return project_root() / "reports"


def params_file(name: str) -> Path:
    """A default parameter file shipped in the project's params/ folder (e.g. `dr_targets.yaml`)."""
    return project_root() / "params" / name
