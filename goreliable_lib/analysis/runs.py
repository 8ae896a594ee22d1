"""Runs of consecutive True values in a boolean sequence: alert periods, scrape gaps, drift episodes."""

from __future__ import annotations

import numpy as np
import pandas as pd


def true_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The runs of True in `mask` as (first index, index after the last) arrays, in order."""
    edges = np.diff(np.concatenate([[0], np.asarray(mask, dtype=bool).astype(np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def gap_periods(per_minute: pd.Series, not_before: pd.Timestamp | None = None) -> pd.DataFrame:
    """Runs of minutes without any sample: `start`, `end` (first and last missing minute), `minutes`. Minutes at or
    before `not_before` (before the server's data starts) are not gaps."""
    missing = per_minute.isna().to_numpy()
    if not_before is not None:
        missing = missing & np.asarray(per_minute.index > not_before)
    starts, stops = true_runs(missing)
    index = per_minute.index
    return pd.DataFrame({"start": index[starts] if len(starts) else pd.DatetimeIndex([], tz="UTC"),
                         "end": index[stops - 1] if len(stops) else pd.DatetimeIndex([], tz="UTC"),
                         "minutes": (stops - starts).astype(int)})
