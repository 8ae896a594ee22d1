"""`analysis.counters` on what real servers return: staleness markers (NaN) among the raw samples, and window facts
for windows shorter than a day. Expected values are derived in the comments."""

from __future__ import annotations

import math
import struct

import numpy as np
import pandas as pd

from goreliable_lib.analysis import counters

S = 1_000_000_000
MIN = 60 * S
#: Prometheus' staleness marker (value.StaleNaN): a NaN with its own bits; JSON renders it "NaN" like any NaN.
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]


def _minutes(first: int, count: int) -> np.ndarray:
    return np.arange(first, first + count * MIN, MIN, dtype=np.int64)


def test_a_staleness_marker_is_not_a_sample_of_the_corrections() -> None:
    # One counter scraped every 15 s: 90 at 0:00, then 100, 110, 120 at 0:15-0:45, a restart: the marker the
    # scraper wrote for the failed scrape at 1:00, then 5 and 9 (a reset: the increment is 5, then 4).
    times = np.array([0, 15, 30, 45, 60, 75, 90], dtype=np.int64) * S
    values = np.array([90.0, 100.0, 110.0, 120.0, STALE_NAN, 5.0, 9.0])
    minutes = _minutes(MIN, 2)  # minutes (0:00, 1:00] and (1:00, 2:00]; 0:00 is context (the minute before)
    with_marker = counters.series_corrections([(times, values)], minutes, MIN, previous=80.0)
    keep = ~np.isnan(values)
    without = counters.series_corrections([(times[keep], values[keep])], minutes, MIN, previous=80.0)
    np.testing.assert_array_equal(with_marker.correction, without.correction)
    assert not np.isnan(with_marker.correction).any()
    # the exact events: minute 1 = 10 + 10 + 10 = 30 (from 90 at 0:00), minute 2 = 5 + 4 = 9; the server's sums
    # count 120 - 90 = 30 and 9 - 120 = -111, so the corrections are 0 and 120 (the value before the drop)
    np.testing.assert_array_equal(with_marker.correction, [0.0, 120.0])
    assert with_marker.resets == [(75 * S, 120.0, 5.0)]


def test_nan_and_infinities_are_dropped_before_spellings_merge() -> None:
    times = np.array([10, 10, 20, 30], dtype=np.int64) * S
    values = np.array([math.nan, 4.0, math.inf, 6.0])
    merged_t, merged_v = counters.merge_spellings(times, values)
    assert merged_t.tolist() == [10 * S, 30 * S] and merged_v.tolist() == [4.0, 6.0]


def test_the_scrape_interval_ignores_markers() -> None:
    # Samples every 30 s, and a marker 5 s after one of them (a target stopped: the marker is written at the
    # next tick, not a sample of the interval): 30 s, not 5 s.
    frame = pd.DataFrame({"timestamp": pd.to_datetime(np.array([0, 30, 35, 60, 90]) * S, utc=True),
                          "value": [1.0, 2.0, STALE_NAN, 3.0, 4.0], "__name__": "req_total"})
    assert counters.scrape_interval_seconds(frame) == 30.0
