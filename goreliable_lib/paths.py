"""Where things are: the project folder (notebooks/ and params/), the one rule for a path a user gives, and a
location as it may be shown (`without_credentials`).

A relative path in a parameter, a CLI option or a params file starts at the project root, wherever the
command runs from, so `-p catalog=params/slos.yaml` means the same file from any working directory and in the
CronJob image (`GORELIABLE_PROJECT_ROOT=/app`). An absolute path is taken as it is.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT_ENV = "GORELIABLE_PROJECT_ROOT"
#: Where the kit keeps what it can always rebuild (the stack's TSDBs, the report list).
CACHE_DIR_ENV = "GORELIABLE_CACHE_DIR"


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


def cache_dir() -> Path:
    """The kit's cache folder: $GORELIABLE_CACHE_DIR, else $XDG_CACHE_HOME/goreliable, else ~/.cache/goreliable."""
    if explicit := os.environ.get(CACHE_DIR_ENV):
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")) / "goreliable"


def reports_dir() -> Path:
    """Where runs are published by default (`--out` not given): the project's reports/ folder."""
    return project_root() / "reports"


def params_file(name: str) -> Path:
    """A default parameter file shipped in the project's params/ folder (e.g. `dr_targets.yaml`)."""
    return project_root() / "params" / name


def without_credentials(url: str | None) -> str | None:
    """A URL without its `user:password@` part, query and fragment (safe to print, log and store); nothing else
    changes. Any text is taken (a snapshot replays whatever its manifest holds): it is cut as text, never parsed
    as a host or a port, and applying it again changes nothing."""
    if not url or "://" not in url:
        return url
    scheme, _, rest = url.partition("://")
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    path = tail.split("#", 1)[0].split("?", 1)[0]
    return f"{scheme}://{authority.rpartition('@')[2]}{path}"
