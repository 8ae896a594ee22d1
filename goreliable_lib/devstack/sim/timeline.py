"""The simulation's clock: the seed, the fixed `as_of` time and the length of history."""

from __future__ import annotations

import pandas as pd

DEFAULT_SEED = 20261123
DEFAULT_AS_OF = pd.Timestamp("2026-11-23T06:00:00Z")
HISTORY_DAYS = 62
COST_HISTORY_DAYS = 92
SCRAPE_INTERVAL_SECONDS = 60
