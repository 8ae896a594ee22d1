"""The SLO review's analysis (analysis/backtest.py): hand-derived cases, an independent naive per-minute reference
evaluation (plain loops, Prometheus-style `for` state, no cumulative sums) that every rule set must equal exactly,
and the simulator's injected incidents found as episodes."""

from __future__ import annotations

import math
import shutil
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from slo_fixtures import T0, minute_events, steady_events, with_outage

from goreliable_lib.analysis import backtest, slo
from goreliable_lib.analysis.history import monthly_history
from goreliable_lib.errors import BadInputError
from goreliable_lib.sources.archive import ArchiveSource, definition_key

ROOT = Path(__file__).resolve().parent.parent

MIN = pd.Timedelta(minutes=1)
DAY = pd.Timedelta(days=1)
BUDGET_DAYS = 30
#: A Pyrra-like set (its `for` durations) standing for a catalog's declared alerting, and a candidate set.
CATALOG_LIKE = backtest.parse_rule_sets({"catalog-like": [
    {"severity": "page", "long": "1h", "short": "5m", "factor": 14, "for": "2m"},
    {"severity": "page", "long": "6h", "short": "30m", "factor": 7, "for": "15m"},
    {"severity": "ticket", "long": "1d", "short": "2h", "factor": 2, "for": "1h"},
    {"severity": "ticket", "long": "4d", "short": "6h", "factor": 1, "for": "3h"}]})[0]
CANDIDATE = backtest.parse_rule_sets({"candidate": [
    {"severity": "page", "long": "30m", "short": "2m", "factor": 20, "for": "5m"},
    {"severity": "page", "long": "2h", "short": "10m", "factor": 8},
    {"severity": "ticket", "long": "12h", "short": "1h", "factor": 1.5, "for": "30m"}]})[0]
RULE_SETS = [backtest.DEFAULT_RULE_SET, CATALOG_LIKE, CANDIDATE]


# --------------------------------------------------------------------------------------------- the reference
def _minutes(frame: pd.DataFrame, origin: pd.Timestamp, end: pd.Timestamp) -> tuple[list, list, list, list]:
    """times, bad, total, sampled of every minute of (origin, end], by a plain loop over the rows."""
    count = int((end - origin) / MIN)
    bad, total, sampled = [0.0] * count, [0.0] * count, [False] * count
    nanoseconds = pd.DatetimeIndex(frame["timestamp"]).as_unit("ns").asi8.tolist()
    for ns, good, tot in zip(nanoseconds, frame["good"].tolist(), frame["total"].tolist(), strict=True):
        i = (ns - origin.value) // 60_000_000_000 - 1
        if 0 <= i < count and not math.isnan(tot):
            bad[i] += tot - (0.0 if math.isnan(good) else good)
            total[i] += tot
            sampled[i] = True
    return [origin + (i + 1) * MIN for i in range(count)], bad, total, sampled


def _sliding(values: list[float], width: int) -> list[float]:
    """Sum of the `width` values ending at each index (fewer at the start), one add and one subtract a step."""
    out, running = [], 0.0
    for i, value in enumerate(values):
        running += value
        if i >= width:
            running -= values[i - width]
        out.append(running)
    return out


def reference_review(frame: pd.DataFrame, objective: float, start: pd.Timestamp, end: pd.Timestamp,
                     rule_sets: Sequence[backtest.RuleSet], join_gap: int = 15, min_share: float = 0.02,
                     burn_threshold: float = 2.0) -> dict[str, Any]:
    """Episodes, alert periods and scores, minute by minute, written from the rules in the module docstring."""
    origin = start - 35 * DAY
    times, bad, total, sampled = _minutes(frame, origin, end)
    first = int((start - origin) / MIN)
    n = len(times)
    # ---- episodes: the rule as stated, over the period's minutes
    candidates, active = [], False
    for t in range(first, n):
        value = round((bad[t] - burn_threshold * (1.0 - objective) * total[t]) * 1024)
        if not active:
            if value > 0:
                active, opened, spent, top, peak = True, t, value, value, t
            continue
        spent += value
        if spent > top:
            top, peak = spent, t
        elif spent <= 0 or t - peak >= join_gap:
            candidates.append((opened, peak, False))
            active = False
    if active:
        candidates.append((opened, peak, True))
    month = BUDGET_DAYS * 1440
    total_30d, sampled_30d = _sliding(total, month), _sliding([float(s) for s in sampled], month)
    episodes = []
    for opened, peak, ongoing in candidates:
        spent_bad = sum(bad[opened:peak + 1])
        budget = (1.0 - objective) * total_30d[peak] * month / sampled_30d[peak]
        if spent_bad / budget >= min_share:
            episodes.append({"first": opened, "peak": peak, "start": times[opened] - MIN, "end": times[peak],
                             "budget": budget, "budget_consumed": spent_bad / budget, "ongoing": ongoing})
    # ---- alerts: every rule every minute, Prometheus' pending/firing state for `for`
    windows = {w for rs in rule_sets for r in rs.rules for w in (r.long_minutes, r.short_minutes)}
    bad_w = {w: _sliding(bad, w) for w in windows}
    total_w = {w: _sliding(total, w) for w in windows}

    def burn(w: int, t: int) -> float | None:
        return (bad_w[w][t] / total_w[w][t]) / (1.0 - objective) if total_w[w][t] > 0 else None

    results: dict[str, Any] = {"episodes": episodes, "alerts": {}, "scores": {}, "times": times}
    for rule_set in rule_sets:
        for severity in rule_set.severities:
            rules = [r for r in rule_set.rules if r.severity == severity]
            pending_since: list[int | None] = [None] * len(rules)
            fires = []
            for t in range(first - max(r.for_minutes for r in rules) - 1, n):
                any_firing = False
                for k, rule in enumerate(rules):
                    long, short = burn(rule.long_minutes, t), burn(rule.short_minutes, t)
                    if long is not None and short is not None and long >= rule.burn_rate and short >= rule.burn_rate:
                        if pending_since[k] is None:
                            pending_since[k] = t
                        any_firing = any_firing or (t - pending_since[k] >= rule.for_minutes)
                    else:
                        pending_since[k] = None
                if t >= first:
                    fires.append(any_firing)
            periods, t = [], 0
            while t < len(fires):
                if fires[t]:
                    u = t
                    while u < len(fires) and fires[u]:
                        u += 1
                    periods.append((first + t, first + u, u == len(fires)))
                    t = u
                else:
                    t += 1
            results["alerts"][rule_set.name, severity] = periods
            results["scores"][rule_set.name, severity] = _reference_score(
                periods, episodes, [first + i for i, f in enumerate(fires) if f], bad, n - first)
    return results


def _reference_score(periods: list[tuple[int, int, bool]], episodes: list[dict[str, Any]], firing_minutes: list[int],
                     bad: list[float], period_minutes: int) -> dict[str, Any]:
    firing = set(firing_minutes)
    matching = sum(1 for a, b, _ in periods if any(set(range(a, b)) & set(range(e["first"], e["peak"] + 1))
                                                   for e in episodes))
    seconds, resets, before = [], [], []
    for e in episodes:
        hits = [t for t in range(e["first"], e["peak"] + 1) if t in firing]
        if not hits:
            continue
        seconds.append((hits[0] - e["first"] + 1) * 60.0)
        before.append(sum(bad[e["first"]:hits[0] + 1]) / e["budget"])
        last = [p for p in periods if p[0] <= e["peak"] and p[1] > e["first"]][-1]
        if not last[2]:
            resets.append((last[1] - e["peak"]) * 60.0)
    return {"alerts": len(periods), "pages_per_month": len(periods) * 43200 / period_minutes,
            "precision": matching / len(periods) if periods else None,
            "recall": len(seconds) / len(episodes) if episodes else None,
            "detection_median_seconds": statistics.median(seconds) if seconds else None,
            "detection_max_seconds": max(seconds) if seconds else None,
            "reset_median_seconds": statistics.median(resets) if resets else None,
            "budget_before_detection": statistics.median(before) if before else None}


def assert_equals_reference(review: backtest.SLOReview, reference: dict[str, Any]) -> None:
    """Exact equality of the episodes, the alert periods and every score."""
    got = review.episodes
    assert list(got["start"]) == [e["start"] for e in reference["episodes"]]
    assert list(got["end"]) == [e["end"] for e in reference["episodes"]]
    assert list(got["budget_consumed"]) == [e["budget_consumed"] for e in reference["episodes"]]
    assert list(got["ongoing"]) == [e["ongoing"] for e in reference["episodes"]]
    for (rule_set, severity), expected in reference["scores"].items():
        row = review.backtest[(review.backtest["rule_set"] == rule_set)
                              & (review.backtest["severity"] == severity)].iloc[0]
        for key, value in expected.items():
            assert _plain(row[key]) == value, (rule_set, severity, key, row[key], value)
    times = reference["times"]
    for (rule_set, severity), periods in reference["alerts"].items():
        alerts = review.alerts[(review.alerts["rule_set"] == rule_set) & (review.alerts["severity"] == severity)]
        assert list(alerts["start"]) == [times[a] for a, _, _ in periods], (rule_set, severity)
        assert list(alerts["end"]) == [times[b - 1] if ongoing else times[b] for _, b, ongoing in periods]
        assert list(alerts["ongoing"]) == [ongoing for _, _, ongoing in periods]


def _plain(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def review(frame: pd.DataFrame, objective: float, start: pd.Timestamp, end: pd.Timestamp,
           rule_sets: Sequence[backtest.RuleSet] = (backtest.DEFAULT_RULE_SET,), **kwargs: Any) -> backtest.SLOReview:
    return backtest.review_slo(frame, slo="s", objective=objective, start=start, end=end, rule_sets=rule_sets,
                               **kwargs)


def outage_frame(outages: Sequence[tuple[pd.Timestamp, int, float]], start: pd.Timestamp = T0 - 40 * DAY,
                 end: pd.Timestamp = T0 + 2 * DAY) -> pd.DataFrame:
    """1,000 requests a minute with no error, and `bad` errors a minute on `minutes` minutes from each `first`."""
    events = steady_events(start, end, per_minute=1000)
    for first, minutes, bad in outages:
        events = with_outage(events, first, minutes, bad_per_minute=bad)
    return events


def row_of(result: backtest.SLOReview, rule_set: str, severity: str) -> dict[str, Any]:
    frame = result.backtest
    return frame[(frame["rule_set"] == rule_set) & (frame["severity"] == severity)].iloc[0].to_dict()


# --------------------------------------------------------------------------------------------- hand-derived
def test_an_outage_is_one_episode_and_the_default_rules_score_as_hand_computed() -> None:
    # 1,000 requests a minute at 99.9%: 1 bad event a minute is allowed, the 30-day budget is 43,200 bad events;
    # the overspend counts what exceeds twice that (burn_threshold 2). 500 bad a minute on T0+1 .. T0+30:
    # overspend 498 a minute, a new peak each minute; after it -2 a minute, so the overspend never gives back its
    # 14,940 and the episode closes 15 minutes after its peak: (T0, T0+30],
    # 15,000 bad events = 15,000 / 43,200 of the budget.
    result = review(outage_frame([(T0 + MIN, 30, 500)]), 0.999, T0 - DAY, T0 + DAY)
    episode = result.episodes.iloc[0]
    assert len(result.episodes) == 1
    assert (episode["start"], episode["end"], episode["minutes"]) == (T0, T0 + 30 * MIN, 30)
    assert episode["budget_consumed"] == pytest.approx(15000 / 43200) and not episode["ongoing"]
    # Alert periods as in test_slo_analysis: 1h/5m fires on T0+2 .. T0+34, 6h/30m on T0+5 .. T0+59: one page
    # [T0+2, T0+60); 1d/2h on T0+9 .. T0+149 and 3d/6h on T0+9 .. T0+389: one ticket [T0+9, T0+390).
    page, ticket = row_of(result, "default", "page"), row_of(result, "default", "ticket")
    alerts = result.alerts.set_index("severity")
    assert (alerts.loc["page", "start"], alerts.loc["page", "end"]) == (T0 + 2 * MIN, T0 + 60 * MIN)
    assert (alerts.loc["ticket", "start"], alerts.loc["ticket", "end"]) == (T0 + 9 * MIN, T0 + 390 * MIN)
    # Both overlap the episode: precision 1, recall 1. Detection: first firing minute - episode start = 2 and 9
    # minutes; reset: alert end - episode end = 30 and 360 minutes; budget before detection: the bad events of
    # T0+1 .. T0+2 (1,000) and of T0+1 .. T0+9 (4,500) over 43,200. One alert in a 2-day period: 15 a month.
    assert page == {**page, "alerts": 1, "pages_per_month": 15.0, "precision": 1.0, "recall": 1.0,
                    "detection_median_seconds": 120.0, "detection_max_seconds": 120.0,
                    "reset_median_seconds": 1800.0}
    assert page["budget_before_detection"] == pytest.approx(1000 / 43200)
    assert (ticket["detection_median_seconds"], ticket["reset_median_seconds"]) == (540.0, 21600.0)
    assert ticket["budget_before_detection"] == pytest.approx(4500 / 43200)


def test_for_delays_firing_by_its_duration() -> None:
    # 1h/5m at 14.4 holds on T0+2 .. T0+34 (above); with `for: 5m` Prometheus' alert is pending from T0+2 and
    # fires from the evaluation 5 minutes later, T0+7, until the condition fails at T0+35.
    waiting = backtest.parse_rule_sets({"wait": [{"severity": "page", "long": "1h", "short": "5m", "factor": 14.4,
                                                  "for": "5m"}]})
    result = review(outage_frame([(T0 + MIN, 30, 500)]), 0.999, T0 - DAY, T0 + DAY, waiting)
    alert = result.alerts.iloc[0]
    assert (alert["start"], alert["end"]) == (T0 + 7 * MIN, T0 + 35 * MIN)
    row = row_of(result, "wait", "page")
    assert (row["detection_median_seconds"], row["reset_median_seconds"]) == (420.0, 300.0)
    assert row["budget_before_detection"] == pytest.approx(3500 / 43200)


@pytest.mark.parametrize(("pause", "expected"), [
    # 10 minutes of 500 bad, `pause` clean minutes, 10 more. A pause of 14 minutes after the peak is bridged (the
    # second burst's first minute, 15 minutes after the peak, is a new peak); at 15 the episode closes first.
    (14, [(T0, T0 + 34 * MIN)]),
    (15, [(T0, T0 + 10 * MIN), (T0 + 25 * MIN, T0 + 35 * MIN)]),
])
def test_pauses_shorter_than_join_gap_are_bridged(pause: int, expected: list) -> None:
    frame = outage_frame([(T0 + MIN, 10, 500), (T0 + (11 + pause) * MIN, 10, 500)])
    result = review(frame, 0.999, T0 - DAY, T0 + DAY)
    assert list(zip(result.episodes["start"], result.episodes["end"], strict=True)) == expected


def test_an_episode_closes_when_the_pause_gives_back_its_overspend() -> None:
    # 6 bad at T0+1 (overspend 6 - 2 = 4), then clean minutes (-2 each): 2, then 0 at T0+3: closed there, before
    # the 15-minute pause. 6 bad again at T0+9: a second episode (T0+8, T0+9]. Kept with min_budget_share=0. At
    # burn_threshold 1 (overspend 5, then -1 a minute: 0 at T0+6) the same two.
    frame = outage_frame([(T0 + MIN, 1, 6), (T0 + 9 * MIN, 1, 6)])
    result = review(frame, 0.999, T0 - DAY, T0 + DAY, min_budget_share=0.0)
    assert list(zip(result.episodes["start"], result.episodes["end"], strict=True)) == [
        (T0, T0 + MIN), (T0 + 8 * MIN, T0 + 9 * MIN)]
    assert list(result.episodes["budget_consumed"]) == pytest.approx([6 / 43200, 6 / 43200])
    assert review(frame, 0.999, T0 - DAY, T0 + DAY, min_budget_share=0.0, burn_threshold=1.0).episodes[
        ["start", "end"]].equals(result.episodes[["start", "end"]])
    # 3 bad a minute is not above twice the allowed 1: no episode at the default threshold, one at 1.
    frame = outage_frame([(T0 + MIN, 1000, 2)])
    assert review(frame, 0.999, T0 - DAY, T0 + DAY).episodes.empty
    assert len(review(frame, 0.999, T0 - DAY, T0 + DAY, burn_threshold=1.0).episodes) == 1


def test_episodes_below_the_budget_share_are_left_out() -> None:
    frame = outage_frame([(T0 + MIN, 2, 300)])  # 600 bad = 1.39% of 43,200
    assert review(frame, 0.999, T0 - DAY, T0 + DAY).episodes.empty
    assert len(review(frame, 0.999, T0 - DAY, T0 + DAY, min_budget_share=0.01).episodes) == 1


def test_episodes_at_the_period_edges() -> None:
    # An outage on T0-4 .. T0+5 seen from a period starting at T0: the episode starts at the period's start and
    # counts its minutes in the period (5 x 500). One still burning at the period's end is ongoing, and so are the
    # alerts firing then: their end is the period's end and their reset is unknown.
    frame = outage_frame([(T0 - 4 * MIN, 10, 500)])
    episode = review(frame, 0.999, T0, T0 + DAY).episodes.iloc[0]
    assert (episode["start"], episode["end"]) == (T0, T0 + 5 * MIN)
    assert episode["budget_consumed"] == pytest.approx(2500 / 43200)
    result = review(outage_frame([(T0 + MIN, 20, 500)]), 0.999, T0 - DAY, T0 + 10 * MIN)
    episode = result.episodes.iloc[0]
    assert (episode["end"], bool(episode["ongoing"])) == (T0 + 10 * MIN, True)
    page = result.alerts[result.alerts["severity"] == "page"].iloc[0]
    assert (page["start"], page["end"], bool(page["ongoing"])) == (T0 + 2 * MIN, T0 + 10 * MIN, True)
    row = row_of(result, "default", "page")
    assert row["reset_median_seconds"] is None and row["detection_median_seconds"] == 120.0


def test_the_budget_is_scaled_to_30_days_when_the_events_start_late() -> None:
    # Events only from T0 - 1d: the 30 days before the episode's end hold 1,470 minutes of 1,000 requests; scaled
    # to 43,200 minutes the budget is again 43,200 bad events (unscaled it would be 1,470).
    frame = outage_frame([(T0 + MIN, 30, 500)], start=T0 - DAY)
    episode = review(frame, 0.999, T0 - DAY, T0 + DAY).episodes.iloc[0]
    assert episode["budget"] == pytest.approx(43200) and episode["budget_consumed"] == pytest.approx(15000 / 43200)


def test_minutes_without_a_sample_count_as_no_events() -> None:
    frame = outage_frame([(T0 + MIN, 30, 500)])
    gaps = frame["timestamp"].between(T0 + 10 * MIN, T0 + 12 * MIN) | frame["timestamp"].between(
        T0 - 5 * DAY, T0 - 4 * DAY)
    with_nan = frame.copy()
    with_nan.loc[gaps, ["good", "total"]] = np.nan
    a = review(with_nan, 0.999, T0 - DAY, T0 + DAY, RULE_SETS)
    b = review(frame[~gaps], 0.999, T0 - DAY, T0 + DAY, RULE_SETS)
    pd.testing.assert_frame_equal(a.backtest, b.backtest)
    pd.testing.assert_frame_equal(a.episodes, b.episodes)
    assert a.episodes.iloc[0]["minutes"] == 30  # the 3 minutes without a sample add nothing but stay inside


def test_ratios_without_a_denominator_are_null() -> None:
    empty = review(minute_events(T0, [], []), 0.999, T0 - DAY, T0 + DAY, RULE_SETS)
    assert empty.episodes.empty and empty.alerts.empty
    for row in empty.summary()["backtest"]:
        assert row["alerts"] == 0 and row["pages_per_month"] == 0.0
        assert all(row[k] is None for k in ("precision", "recall", "detection_median_seconds",
                                            "detection_max_seconds", "reset_median_seconds",
                                            "budget_before_detection"))
    # An outage costing 34.7% is not an episode at min_budget_share 50%: the page is a false one (precision 0),
    # recall has no episode to count (null). A zero-length period has no month to count pages in.
    result = review(outage_frame([(T0 + MIN, 30, 500)]), 0.999, T0 - DAY, T0 + DAY, min_budget_share=0.5)
    page = row_of(result, "default", "page")
    assert (page["precision"], page["recall"], page["detection_median_seconds"]) == (0.0, None, None)
    assert row_of(review(outage_frame([]), 0.999, T0, T0), "default", "page")["pages_per_month"] is None


def test_known_from_keeps_rules_quiet_until_their_long_window_is_known() -> None:
    # As in test_slo_analysis: data from T0, an outage on T0+1 .. T0+30: unguarded every rule would fire at T0+1;
    # with known_from=T0 no rule is evaluable early enough to see it (1h from T0+60, when 5m is clean).
    frame = outage_frame([(T0 + MIN, 30, 500)], start=T0)
    assert review(frame, 0.999, T0 - DAY, T0 + 4 * DAY).alerts["start"].min() == T0 + MIN
    assert review(frame, 0.999, T0 - DAY, T0 + 4 * DAY, known_from=T0).alerts.empty


# --------------------------------------------------------------------------------------------- the reference
@pytest.mark.parametrize("outages", [
    [(T0 + MIN, 30, 500)],
    [(T0 + MIN, 10, 500), (T0 + 25 * MIN, 10, 500), (T0 + 6 * 60 * MIN, 240, 4)],  # and a slow burn (burn 4)
    [(T0 - 30 * MIN, 90, 30), (T0 + DAY - 20 * MIN, 60, 800)],  # across the period's start and end
])
def test_hand_cases_equal_the_naive_reference(outages: list) -> None:
    frame, start, end = outage_frame(outages), T0 - 12 * 60 * MIN, T0 + DAY
    assert_equals_reference(review(frame, 0.999, start, end, RULE_SETS),
                            reference_review(frame, 0.999, start, end, RULE_SETS))


# --------------------------------------------------------------------------------------------- the simulator
#: The simulator's SLOs, objectives (params/slos.yaml) and the incident each one was given (None: none).
SIM_SLOS = {"api-gateway-availability": (0.999, "api-gateway-5xx-outage"),
            "api-gateway-latency": (0.99, None), "order-success-rate": (0.995, None),
            "notification-delivery": (0.99, "notification-backlog"),
            "ml-inference-availability": (0.995, "fraud-detector-timeouts"),
            "llm-latency": (0.99, "llm-latency-regression")}


@pytest.fixture(scope="module")
def sim(simulation: Any) -> Any:
    return simulation.metrics


def _sim_period(sim: Any, days: int = 59) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The last `days` of the simulator's 62 (the default: all but the first 3, the alerts' look-back)."""
    return sim.as_of - days * DAY, sim.as_of


@pytest.mark.parametrize("name", list(SIM_SLOS))
def test_the_episodes_found_are_the_injected_incidents(sim: Any, name: str) -> None:
    """The simulator's incidents apply to (start, end] (its sample convention): an episode must match one to the
    minute, and no other episode may be found (baseline noise, restarts, the crash loop and the scrape gap burn
    no significant budget)."""
    objective, incident = SIM_SLOS[name]
    start, end = _sim_period(sim)
    found = review(sim.slo_minutes(name), objective, start, end).episodes
    if incident is None:
        assert found.empty, found
        return
    scripted = sim.scripted_events().set_index("name").loc[incident]
    assert len(found) == 1, found
    assert abs(found.iloc[0]["start"] - scripted["start"]) <= MIN
    assert abs(found.iloc[0]["end"] - scripted["end"]) <= MIN
    assert found.iloc[0]["budget_consumed"] >= backtest.MIN_BUDGET_SHARE


@pytest.mark.parametrize("name", ["api-gateway-availability", "notification-delivery", "llm-latency"])
def test_the_simulator_backtest_equals_the_naive_reference(sim: Any, name: str) -> None:
    objective = SIM_SLOS[name][0]
    start, end = _sim_period(sim, days=20)  # the outage, the backlog and the LLM regression; the reference is slow
    events = sim.slo_minutes(name)
    result = review(events, objective, start, end, RULE_SETS)
    assert_equals_reference(result, reference_review(events, objective, start, end, RULE_SETS))
    assert result.backtest["alerts"].sum() > 0 and len(result.episodes) == 1  # a case with something to score


def test_the_default_rule_set_fires_when_the_slo_reports_alerts_fire(sim: Any) -> None:
    """The default set's severities fire at exactly the minutes at which a rule of `slo.alert_periods` (the SLO
    report's alerts) fires."""
    objective = SIM_SLOS["api-gateway-availability"][0]
    start, end = _sim_period(sim)
    events = sim.slo_minutes("api-gateway-availability")
    result = review(events, objective, start, end)
    kit = slo.alert_periods(events, objective, start, end)
    for severity in ("page", "ticket"):
        ours = result.alerts[result.alerts["severity"] == severity]
        expected = set().union(*[set(pd.date_range(r.start, r.end - MIN, freq="min"))
                                 for r in kit[kit["severity"] == severity].itertuples()])
        firing = set().union(*[set(pd.date_range(r.start, r.end - MIN, freq="min")) for r in ours.itertuples()])
        assert firing == expected and firing, severity


# --------------------------------------------------------------------------------------------- parameters
def test_candidate_rule_sets_parse_to_rules() -> None:
    (parsed,) = backtest.parse_rule_sets({"slow": [{"severity": "ticket", "long": "1h30m", "short": 300,
                                                     "factor": 3, "for": "10m"}]})
    rule = parsed.rules[0]
    assert (rule.long_window, rule.short_window, rule.burn_rate, rule.for_minutes) == ("90m", "5m", 3.0, 10)
    assert parsed.lookback == pd.Timedelta(minutes=100)
    assert backtest.DEFAULT_RULE_SET.rules[0] == backtest.BurnRateRule("page", "1h", "5m", 14.4)
    assert [r.for_ for r in backtest.DEFAULT_RULE_SET.rules] == [pd.Timedelta(0)] * 4


@pytest.mark.parametrize(("value", "message"), [
    ([], "rule_sets: expected a mapping"),
    ({"default": [{"severity": "page", "long": "1h", "short": "5m", "factor": 14.4}]}, "rule_sets.default:"),
    ({"x": []}, "rule_sets.x: expected a non-empty list"),
    ({"x": [{"severity": "page", "long": "1h", "short": "5m"}]}, "rule_sets.x[0]: missing field(s) factor"),
    ({"x": [{"severity": "page", "long": "1h", "short": "5m", "factor": 2, "fro": "1m"}]},
     "rule_sets.x[0]: unknown field(s) fro"),
    ({"x": [{"severity": "page", "long": "1h", "short": "2h", "factor": 2}]}, "rule_sets.x[0].short:"),
    ({"x": [{"severity": "page", "long": "1h", "short": "5m", "factor": -1}]}, "rule_sets.x[0].factor:"),
    ({"x": [{"severity": "page", "long": "1h", "short": "30s", "factor": 2}]}, "rule_sets.x[0].short:"),
    ({"x": [{"severity": "page", "long": "soon", "short": "5m", "factor": 2}]}, "rule_sets.x[0].long:"),
    ({"x": [{"severity": "page", "long": "1h", "short": "5m", "factor": 2, "for": "90s"}]}, "rule_sets.x[0].for:"),
    ({"x": [{"severity": "", "long": "1h", "short": "5m", "factor": 2}]}, "rule_sets.x[0].severity:"),
])
def test_bad_rule_sets_name_the_field(value: Any, message: str) -> None:
    with pytest.raises(BadInputError) as error:
        backtest.parse_rule_sets(value)
    assert message in str(error.value) and error.value.exit_code == 2


def test_objectives_and_windows_parse() -> None:
    assert backtest.parse_objectives([0.9995, "99.9%", "0.99"]) == pytest.approx([0.9995, 0.999, 0.99])
    assert [backtest.parse_window_name(w) for w in ("28d", "4w", "1M", "1Q", "720h")] == [
        "28d", "28d", "1M", "1Q", "30d"]
    for bad in ([1.5], ["high"], [True]):
        with pytest.raises(BadInputError, match=r"objectives\[0\]"):
            backtest.parse_objectives(bad)
    with pytest.raises(BadInputError, match="windows"):
        backtest.parse_window_name("quarterly")


# --------------------------------------------------------------------------------------------- what-if
def test_what_if_months_and_quarters_hand_computed() -> None:
    # 1,000 requests a minute from 2026-06-01; 5,000 bad events on 2026-10-10 (10 minutes of 500). Period:
    # 2026-08-01 .. 2026-11-01, points at the ends of August, September and October.
    # October: SLI = 1 - 5,000 / (31 x 1,440,000) = 0.99988799: met at 99.9% and 99.95%, breached at 99.99%.
    # The rolling 30 days to November 1st: 1 - 5,000 / 43,200,000 = 0.99988426: the same verdicts.
    # Q3 (to the end of September): clean; Q4 to the end of October = October.
    start, end = pd.Timestamp("2026-08-01T00:00Z"), pd.Timestamp("2026-11-01T00:00Z")
    frame = with_outage(steady_events(pd.Timestamp("2026-06-01T00:00Z"), end), pd.Timestamp("2026-10-10T12:00Z"),
                        10, bad_per_minute=500)
    result = review(frame, 0.999, start, end, objectives=[0.999, 0.9999], windows=["30d", "1M", "1Q"])
    periods = result.what_if_periods.set_index(["objective", "window", "month"])
    assert periods.loc[(0.9999, "1M", "2026-10"), "sli"] == pytest.approx(1 - 5000 / (31 * 1440 * 1000))
    assert periods.loc[(0.9999, "30d", "2026-10"), "sli"] == pytest.approx(1 - 5000 / 43_200_000)
    assert periods.loc[(0.9999, "1Q", "2026-08"), "window_start"] == pd.Timestamp("2026-07-01T00:00Z")
    assert periods.loc[(0.9999, "1Q", "2026-10"), "sli"] == periods.loc[(0.9999, "1M", "2026-10"), "sli"]
    assert periods.loc[(0.999, "1M", "2026-10"), "error_budget_remaining"] == pytest.approx(
        1 - (5000 / (31 * 1440 * 1000)) / 0.001)
    summary = result.what_if.set_index(["objective", "window"])
    assert summary.loc[(0.999, "1M"), ["months", "breached_months"]].tolist() == [3, 0]
    assert summary.loc[(0.9999, "1M"), ["months", "breached_months"]].tolist() == [3, 1]
    assert summary.loc[(0.9999, "1Q"), ["quarters", "breached_quarters"]].tolist() == [1, 0]  # Q3 ends inside
    assert result.summary()["what_if"][0] == {"slo": "s", "objective": 0.999, "window": "30d", "months": 3,
                                              "breached_months": 0}


def test_what_if_calendar_months_equal_the_compliance_history(sim: Any) -> None:
    """At the SLO's own objective, `1M` gives the SLO report's compliance history (analysis/history.py)."""
    events = sim.slo_minutes("api-gateway-availability")
    end = sim.as_of.floor("D").replace(day=1)  # 2026-11-01: October and September are whole months of data
    result = review(events, 0.999, end - 60 * DAY, end, objectives=[0.999], windows=["1M"])
    history = {h["month"]: h for h in monthly_history(events, 0.999, end, months=2)}
    for row in result.what_if_periods.itertuples():
        expected = history[row.month]
        assert (row.good_events, row.total_events) == (expected["good_events"], expected["total_events"])
        assert (row.sli, row.breached, row.coverage) == (expected["sli"], expected["breached"], expected["coverage"])


def test_summary_follows_the_contract() -> None:
    result = review(outage_frame([(T0 + MIN, 30, 500)]), 0.999, T0 - DAY, T0 + DAY, RULE_SETS, objectives=[0.999])
    summary = result.summary()
    assert summary["episodes"] == [{"slo": "s", "start": "2026-11-10T12:00:00Z", "end": "2026-11-10T12:30:00Z",
                                    "budget_consumed": pytest.approx(15000 / 43200)}]
    assert set(summary["backtest"][0]) == {"slo", "rule_set", "severity", "alerts", "pages_per_month", "precision",
                                           "recall", "detection_median_seconds", "detection_max_seconds",
                                           "reset_median_seconds", "budget_before_detection"}
    assert [(r["rule_set"], r["severity"]) for r in summary["backtest"]] == [
        ("default", "page"), ("default", "ticket"), ("catalog-like", "page"), ("catalog-like", "ticket"),
        ("candidate", "page"), ("candidate", "ticket")]
    assert all(type(r["alerts"]) is int for r in summary["backtest"])


# --------------------------------------------------------------------------------------------- the archive
def _documented_query(archive: Path) -> str:
    """The DuckDB query of docs/slo-review.md, pointed at `archive`."""
    text = (ROOT / "docs" / "slo-review.md").read_text()
    block = text.split("<!-- duckdb-monthly-compliance -->", 1)[1].split("```sql", 1)[1].split("```", 1)[0]
    return block.replace("ARCHIVE", str(archive))


def test_the_documented_duckdb_query_gives_the_kits_monthly_compliance(sim: Any, tmp_path: Path) -> None:
    """The archive written by the kit (two SLOs; it keeps the whole UTC days: September from the 23rd, the day after
    the simulator's first sample, and all October; one day left twice, complete and partial, as a lost race may
    leave it) read by DuckDB gives the compliance history of analysis/history.py over the same minutes: the same
    events, SLI, verdict and coverage per month."""
    duckdb = pytest.importorskip("duckdb")
    archive = ArchiveSource(str(tmp_path / "archive"))
    end = pd.Timestamp("2026-11-01T00:00Z")
    for name in ("api-gateway-availability", "llm-latency"):
        archive.write(definition_key({"total": name}), {"total": name}, name, sim.slo_minutes(name),
                      sim.minutes[0] - MIN, end)
    day = tmp_path / "archive" / definition_key({"total": "llm-latency"}) / "2026-10-05.parquet"
    shutil.copy(day, day.with_name("2026-10-05.partial.parquet"))
    objectives = {"api-gateway-availability": 0.999, "llm-latency": 0.99}
    query = _documented_query(tmp_path / "archive").replace(
        "(VALUES ('api-gateway-availability', 0.999))",
        "(VALUES ('api-gateway-availability', 0.999), ('llm-latency', 0.99))")
    rows = duckdb.connect().sql(query).df()
    assert list(zip(rows["slo"], rows["month"], strict=True)) == [
        ("api-gateway-availability", "2026-09"), ("api-gateway-availability", "2026-10"),
        ("llm-latency", "2026-09"), ("llm-latency", "2026-10")]
    first_day = pd.Timestamp("2026-09-23T00:00Z")
    for row in rows.itertuples():
        events = sim.slo_minutes(row.slo)
        events = events[events["timestamp"] > first_day]
        history = {h["month"]: h for h in monthly_history(events, objectives[row.slo], end, 2)}
        expected = history[row.month]
        assert (row.good_events, row.total_events) == (expected["good_events"], expected["total_events"])
        assert row.sli == pytest.approx(expected["sli"], abs=1e-12)
        assert row.error_budget_remaining == pytest.approx(expected["error_budget_remaining"], abs=1e-9)
        assert (bool(row.breached), row.coverage) == (expected["breached"], pytest.approx(expected["coverage"]))
    assert rows["coverage"].tolist()[:2] == [pytest.approx(8 / 30), 1.0]  # September 23 to 30; October
