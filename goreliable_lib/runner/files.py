"""Writing a run's files: whole or not at all (a temporary file, then a rename).

Data (summary.json, tables, figures' JSON) is written with `atomic_write_text` exactly as given: a writer of data
never passes through the scrubber (runner/scrub.py masks only what people read).
"""

from __future__ import annotations

import os
from pathlib import Path


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename (UTF-8, unchanged)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename (report.pdf: a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:  # a full disk, an interrupt: leave the old file, not a half-written temporary
        tmp.unlink(missing_ok=True)
        raise
