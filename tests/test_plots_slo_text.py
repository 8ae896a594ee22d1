"""`plots.slo_text`: the SLO pages' sentences claim what the figures hold: gaps with or without restarts, partial
windows in the units people use, durations under a day in hours and minutes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from goreliable_lib.analysis import counters
from goreliable_lib.plots import slo_text
from goreliable_lib.timeutil import span_text

MIN = pd.Timedelta(minutes=1)


def test_gap_warning_keeps_both_dates_and_claims_only_what_holds() -> None:
    start, end = pd.Timestamp("2026-10-21T00:01:00Z"), pd.Timestamp("2026-10-22T23:59:00Z")
    text = slo_text.gap_warning(start, end, 2879, "every SLO")
    assert "2026-10-21 00:01 - 2026-10-22 23:59 UTC" in text and "totals stay exact" in text
    text = slo_text.gap_warning(start, end, 2879, "x", restarts=2)
    assert "totals stay exact" not in text and "2 counter(s) that restarted" in text
    text = slo_text.gap_warning(start, start + 9 * MIN, 10, "x", carried=False)
    assert "00:01 - 00:10 UTC" in text and "not in the totals" in text and "exact" not in text



@pytest.mark.parametrize(("span", "text"), [
    (pd.Timedelta(minutes=40), "40 min"), (pd.Timedelta(hours=5, minutes=20), "5 h 20 min"),
    (pd.Timedelta(hours=6), "6 h"), (pd.Timedelta(days=1), "1.0 days"), (pd.Timedelta(days=12, hours=12), "12.5 days")])
def test_spans_under_a_day_are_hours_and_minutes(span: pd.Timedelta, text: str) -> None:
    assert span_text(span) == text


def test_a_partial_window_under_a_day_says_hours_not_zero_days() -> None:
    # A 6-hour window whose data starts 40 minutes before its end: "40 min of the window's 6 h", never
    # "0.0 of the window's 0.3 days".
    end = pd.Timestamp("2026-11-10T06:00:00Z")
    start, data_start = end - pd.Timedelta(hours=6), end - pd.Timedelta(minutes=40)
    minutes = pd.date_range(start + pd.Timedelta(minutes=1), end, freq="min")
    events = pd.DataFrame({"timestamp": minutes, "total": np.where(minutes > data_start, 1.0, np.nan)})
    facts = counters.window_data(events, start, end, data_starts_at=data_start, covered_from=data_start)
    message = slo_text.partial_window_warning("api", facts)
    assert message is not None and "40 min of the window's 6 h have data" in message
    assert facts.covered_days == pytest.approx(40 / 1440)
