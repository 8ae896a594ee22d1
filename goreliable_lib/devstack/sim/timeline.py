"""The simulation's clock: the seed, the fixed `as_of` time and the length of history."""

from __future__ import annotations

import pandas as pd

DEFAULT_SEED = 20261123
DEFAULT_AS_OF = pd.Timestamp("2026-11-23T06:00:00Z")
HISTORY_DAYS = 62
COST_HISTORY_DAYS = 92
#: Days of cost data before the COST_HISTORY_DAYS, built apart and put in front (sim.costs): they hold the hours of
#: the DR drills of the two quarters before the latest (2026-05-14 and 2026-08-13 by default), so a trend of three
#: drills has costs while the older drills fall before the cost data.
EARLIER_COST_DAYS = 120
SCRAPE_INTERVAL_SECONDS = 60
#: The backfill's block length (promtool --max-block-duration): the history is written one file per block window.
BLOCK_DURATION = pd.Timedelta(hours=486)


def block_windows(start: pd.Timestamp, end: pd.Timestamp) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The backfill's block windows `[lo, hi)` (aligned to BLOCK_DURATION since the epoch) covering `[start, end]`."""
    epoch = pd.Timestamp(0, tz="UTC")
    first = epoch + ((start - epoch) // BLOCK_DURATION) * BLOCK_DURATION
    windows = []
    lo = first
    while lo <= end:
        windows.append((lo, lo + BLOCK_DURATION))
        lo += BLOCK_DURATION
    return windows
