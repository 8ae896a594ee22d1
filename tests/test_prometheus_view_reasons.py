"""`events.prometheus_view.disagreements`: the minutes the two views disagree and the reason named, on hand-made
masks (the stack test shows the real views agree on the simulator's data)."""

from __future__ import annotations

import pandas as pd

from goreliable_lib.analysis.backtest import RuleSet, parse_rule
from goreliable_lib.events.prometheus_view import disagreements, gap_minutes

T0 = pd.Timestamp("2026-11-01T00:00:00Z")
MINUTES = pd.date_range(T0 + pd.Timedelta(minutes=1), periods=600, freq="min")
# one page rule whose long window is 1h: a reset or a gap counts for the 60 minutes after it
RULES = RuleSet("t", (parse_rule({"severity": "page", "long": "1h", "short": "5m", "factor": 14.4}, "r"),))


def mask(*spans: tuple[int, int]) -> pd.Series:
    """True on the minutes i in [a, b) of each span (minute i = T0 + (i + 1) min)."""
    values = pd.Series(False, index=MINUTES)
    for a, b in spans:
        values.iloc[a:b] = True
    return values


def test_each_disagreement_gets_its_reason() -> None:
    exact = {"page": mask((100, 130), (300, 310), (500, 520))}
    # prometheus: starts one minute late (edge), sees an extra run 200-204 one 30 min after a reset,
    # misses 300-310 which lies 50 min after a gap, and fires 560-565 with nothing to explain it
    seen = {"page": mask((101, 130), (200, 205), (500, 520), (560, 565))}
    resets = [T0 + pd.Timedelta(minutes=171)]  # 30 minutes before minute index 200 (= T0 + 201 min)
    gaps = pd.DataFrame({"start": [T0 + pd.Timedelta(minutes=251)], "end": [T0 + pd.Timedelta(minutes=255)]})
    found = disagreements(exact, seen, RULES, resets=resets, gaps=gaps)
    by_minute = {int((m - T0) / pd.Timedelta(minutes=1)) - 1: r for m, r in zip(found["minute"], found["reason"],
                                                                                  strict=True)}
    assert by_minute == {100: "edge", **{i: "reset" for i in range(200, 205)}, **{i: "gap" for i in range(300, 310)},
                         **{i: None for i in range(560, 565)}}
    assert found.loc[found["reason"] == "gap", "exact"].all() and not found.loc[found["reason"] == "gap",
                                                                                   "prometheus"].any()


def test_a_reset_older_than_the_longest_window_explains_nothing() -> None:
    exact, seen = {"page": mask()}, {"page": mask((200, 201))}
    found = disagreements(exact, seen, RULES, resets=[T0 + pd.Timedelta(minutes=140)])  # 61 minutes before
    assert found["reason"].tolist() == [None]
    assert len(gap_minutes(pd.DataFrame({"start": [T0], "end": [T0 + pd.Timedelta(minutes=29)]}))) == 30
