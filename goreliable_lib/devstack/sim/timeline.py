"""The simulation's clock: the seed, the fixed `as_of` time and the length of history."""

from __future__ import annotations

import zlib

import numpy as np
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


def traffic_load(seed: int, as_of: pd.Timestamp, component: str, times: pd.DatetimeIndex) -> np.ndarray:
    """A component's traffic shape (mean ~1) at whole-minute `times`: diurnal (peak ~15:00 UTC), weekly (quieter
    weekends), a slow growth over the metrics' history and day-to-day noise (days counted from the metrics'
    first minute; earlier days, which only the cost history reaches, draw their noise from a stream of their own).
    The metrics simulation draws its requests from it, the cost simulation the usage of the workloads serving them,
    so usage follows traffic."""
    last = as_of.floor("min")
    count = HISTORY_DAYS * 24 * 60
    first = last - pd.Timedelta(minutes=count - 1)
    hour = np.asarray(times.hour + times.minute / 60.0)
    diurnal = 1.0 + 0.45 * np.sin(2 * np.pi * (hour - 9.0) / 24.0)
    weekly = np.where(np.asarray(times.day_of_week) >= 5, 0.75, 1.07)
    index = np.asarray((times - first) // pd.Timedelta(minutes=1), dtype=np.int64)
    growth = index * ((1.05 - 0.95) / (count - 1)) + 0.95  # np.linspace(0.95, 1.05, count) at the same minutes
    growth = np.where(index == count - 1, 1.05, growth)
    day = np.asarray((times - first) // pd.Timedelta(days=1), dtype=np.int64)
    later = np.random.default_rng([seed, zlib.crc32(f"daily-noise/{component}".encode())]).lognormal(
        0.0, 0.05, HISTORY_DAYS + 1)
    before_days = max(0, int(-day.min())) if len(day) else 0
    earlier = np.random.default_rng([seed, zlib.crc32(f"daily-noise-before/{component}".encode())]).lognormal(
        0.0, 0.05, max(before_days, 1))
    noise = np.where(day >= 0, later[np.clip(day, 0, HISTORY_DAYS)], earlier[np.clip(-day - 1, 0, None)])
    return diurnal * weekly * growth * noise
