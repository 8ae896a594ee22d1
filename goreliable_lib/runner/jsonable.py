"""`to_jsonable`: the one conversion of values into plain JSON, shared by both sides of a run (summary.json, the run
context's file)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from goreliable_lib.timeutil import to_rfc3339


def to_jsonable(value: Any) -> Any:
    """Plain JSON values: times as RFC3339 UTC, durations as seconds, NaN/inf/NA as null, numpy as Python."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray | pd.Series | pd.Index):
        return [to_jsonable(v) for v in list(value)]
    if isinstance(value, pd.Timestamp | dt.datetime):
        return None if pd.isna(value) else to_rfc3339(value)
    if isinstance(value, pd.Timedelta | dt.timedelta):
        return None if pd.isna(value) else pd.Timedelta(value).total_seconds()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, Path):
        return str(value)
    return str(value)
