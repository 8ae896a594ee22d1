"""The SLO review's Prometheus view on data real servers scraped with jitter: the CRASH_LOOP world of scale_fixtures
(`checkout`, 3 pods x 3 routes x 4 codes scraped every 15 s with jitter, a crash-looping pod restarting every
150 s, two restarts, a pod replaced by a rollout at 2026-11-21 18:00:17, a 12-minute scrape gap at 2026-11-22
01:24:40, the `503` series born at 2026-11-21 14:24) on Prometheus 2.42 and on VictoriaMetrics, staleness markers
and all.

The review (`reports.slo_review.fetch` and `build`, as the notebook runs them) is compared with references written
here without the kit's code: the exact view is a naive per-minute evaluation of the rules on the simulator's own
per-minute truth (`ScaleWorld.minute_events`: increments of the samples it served), and the Prometheus view the
alert expressions the export writes sent by plain HTTP at a one-minute step. Where they disagree, each minute must
have a cause the world's script names (a scrape gap, a restart, a born series within the longest window, or a
change of the exact view within 2 minutes), and the report must name each with a reason. Grouped SLOs (Pyrra
`grouping: [pod]`) are reviewed per group against each pod's truth.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
import yaml
from scale_fixtures import GROUPED_PYRRA as PYRRA
from scale_fixtures import (  # noqa: F401  (fixtures)
    WorldStack,
    crash_loop_stack_fixture,
    world_servers_fixture,
)
from slo_fixtures import sources_of

from goreliable_lib.analysis import backtest
from goreliable_lib.errors import BadInputError, PrometheusError
from goreliable_lib.events.rules import inline_alert_expression
from goreliable_lib.inputs.catalog import read_catalog
from goreliable_lib.reports import slo_review
from goreliable_lib.sources.prometheus import PrometheusSource

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]

MIN = pd.Timedelta(minutes=1)
OBJECTIVE = 0.999  # the world's 5xx share (0.7%) sits near the 14.4x page: many alert edges
CANDIDATES = """
fast:
  - {severity: page, long: 1h, short: 5m, factor: 14.4}
  - {severity: page, long: 6h, short: 30m, factor: 6}
  - {severity: ticket, long: 2h, short: 10m, factor: 3, for: 5m}
"""
RULES = [  # the same rules, written out: (severity, long minutes, short minutes, factor, for minutes)
    ("page", 60, 5, 14.4, 0), ("page", 360, 30, 6.0, 0), ("ticket", 120, 10, 3.0, 5)]
LONGEST = pd.Timedelta(hours=6)


@pytest.fixture(name="source")
def source_fixture(crash_loop_stack: WorldStack) -> Iterator[PrometheusSource]:
    end = crash_loop_stack.world.end
    with PrometheusSource(crash_loop_stack.url, clock=lambda: end) as prometheus:
        yield prometheus


def review_of(source: PrometheusSource, folder: Path, catalog: str, **params: Any) -> tuple[Any, Any]:
    """(data, review) of `slo-review` over the world's three days with the `fast` candidates."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "slos.yaml").write_text(catalog)
    (folder / "candidates.yaml").write_text(CANDIDATES)
    values = {"catalog": str(folder / "slos.yaml"), "candidates": str(folder / "candidates.yaml"),
              "rule_sets": ["fast"], "period": "3d", "end": source.now().isoformat(), **params}
    data = slo_review.fetch(sources_of(source), values)
    return data, slo_review.build(data, values)


def naive_firing(truth: pd.DataFrame, objective: float, minutes: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """Each severity fires at minute t when one of its rules' condition (both windows' bad / total at least
    factor x (1 - objective); a window without events does not burn) held at t and at each of the `for` minutes
    before it: one minute at a time, by slicing the truth."""
    table = truth.set_index("timestamp")
    bad = (table["total"] - table["good"]).to_numpy(float)
    total = table["total"].to_numpy(float)
    where = {t: i for i, t in enumerate(table.index)}

    def holds(i: int, long: int, short: int, factor: float) -> bool:
        for width in (long, short):
            spent, seen = bad[i - width + 1:i + 1].sum(), total[i - width + 1:i + 1].sum()
            if seen == 0 or spent / seen < factor * (1 - objective):
                return False
        return True

    fires = {"page": np.zeros(len(minutes), bool), "ticket": np.zeros(len(minutes), bool)}
    for k, minute in enumerate(minutes):
        i = where[minute]
        for severity, long, short, factor, hold in RULES:
            if all(holds(i - back, long, short, factor) for back in range(hold + 1)):
                fires[severity][k] = True
    return fires


def server_firing(url: str, objective: Any, minutes: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """The exported alert expressions sent by plain HTTP (`/api/v1/query_range`, step 60 s, in days), `for`
    applied here: a rule fires at t when its expression had a value at t and at each of the `for` minutes before."""
    rule_set = backtest.parse_rule_sets(yaml.safe_load(CANDIDATES))[0]
    session = requests.Session()
    session.trust_env = False
    fires = {"page": np.zeros(len(minutes), bool), "ticket": np.zeros(len(minutes), bool)}
    for rule, (_, _, _, _, hold) in zip(rule_set.rules, RULES, strict=True):
        asked = pd.date_range(minutes[0] - hold * MIN, minutes[-1], freq="min")
        seen: set[pd.Timestamp] = set()
        for low in range(0, len(asked), 1440):
            part = asked[low:low + 1440]
            body = session.get(f"{url}/api/v1/query_range", timeout=120, params={
                "query": inline_alert_expression(objective, rule), "start": part[0].timestamp(),
                "end": part[-1].timestamp(), "step": 60}).json()
            assert body["status"] == "success", body
            seen |= {pd.Timestamp(float(t), unit="s", tz="UTC") for series in body["data"]["result"]
                     for t, _ in series["values"]}
        held = np.array([t in seen for t in asked])
        fires[rule.severity] |= np.array([held[k:k + hold + 1].all() for k in range(len(minutes))])
    session.close()
    return fires


def scripted_causes(world: Any, minutes: pd.DatetimeIndex, exact: np.ndarray) -> np.ndarray:
    """Whether each minute has a cause in the world's script: a scrape gap, a restart, a replacement (a new pod's
    series) or the `503` series' birth within the longest window before it, or a change of the exact view within
    2 minutes of it."""
    script = world.scripted_events()
    marks = list(script["start"]) + list(script["end"])
    born = world.start + world.config.first_error_at * (world.end - world.start)
    marks.append(born)
    near_mark = np.array([any(m - LONGEST - MIN <= mark <= m for mark in marks) for m in minutes])
    changes = np.flatnonzero(np.diff(exact.astype(np.int8))) + 1
    near_change = np.array([bool(len(changes)) and np.abs(changes - k).min() <= 2 for k in range(len(minutes))])
    return near_mark | near_change


def test_the_prometheus_view_beside_the_exact_backtest_names_every_disagreement(crash_loop_stack: WorldStack,
                                                                                 source, tmp_path: Path) -> None:
    world = crash_loop_stack.world
    data, review = review_of(source, tmp_path, world.openslo_catalog(objective=OBJECTIVE))
    (name, fetched), = data.slos.items()
    (view,) = fetched.views
    # the server's data starts at the world's first scrape; the view starts once the 6 h window lies in it
    assert world.start <= fetched.server_start < world.start + pd.Timedelta(seconds=15)
    assert view.start == (fetched.server_start + LONGEST).ceil("min")
    minutes = pd.date_range(view.start + MIN, world.end, freq="min")
    exact = naive_firing(world.minute_events(), OBJECTIVE, minutes)
    served = server_firing(crash_loop_stack.url, read_catalog(str(tmp_path / "slos.yaml")).objectives[0], minutes)
    rows = {row["severity"]: row for row in review.summary()["prometheus_view"]}
    assert set(rows) == {"page", "ticket"} and review.summary()["prometheus_view_not_evaluated"] == []
    differ_total = 0
    for severity, row in rows.items():
        assert (row["slo"], row["rule_set"], row["minutes_compared"]) == (name, "fast", len(minutes))
        assert row["minutes_exact"] == exact[severity].sum()  # the report's exact view: the naive one's minutes
        assert row["minutes_prometheus"] == served[severity].sum()  # its server view: the server's own answers
        differ = exact[severity] != served[severity]
        # the minutes the report says disagree are exactly those the references disagree on: all others agree
        assert sum(row["disagreements"].values()) == differ.sum(), (severity, row)
        assert row["disagreements"]["unexplained"] == 0, row  # each disagreement is named
        assert scripted_causes(world, minutes, exact[severity])[differ].all()  # each has a cause in the script
        gap_start, gap_end = (pd.Timestamp(ms, unit="ms", tz="UTC") for ms in world.gaps_ms[0])
        after_gap = (minutes[differ] > gap_start) & (minutes[differ] - LONGEST <= gap_end + MIN)
        assert row["disagreements"]["gap"] == after_gap.sum(), row  # the scrape gap's minutes, and only those
        script = world.scripted_events()
        births = [world.start + world.config.first_error_at * (world.end - world.start),  # the 503 series
                  *script.loc[script["kind"] == "replaced", "start"]]  # the new pod's series
        after_birth = np.array([any(m - LONGEST - MIN <= b <= m for b in births) for m in minutes[differ]])
        assert row["disagreements"]["new_series"] == (after_birth & ~after_gap).sum(), row
        differ_total += int(differ.sum())
    assert differ_total > 0  # jittered scrapes and a scrape gap: the two views do not agree everywhere
    assert "Prometheus' rate()-based rules agree with the exact backtest on" in review.headline()
    table = review.prometheus_view_table()
    assert list(table["unexplained"]) == [0, 0] and table["gap"].sum() >= 1


def test_grouped_slos_are_reviewed_per_group(crash_loop_stack: WorldStack, source, tmp_path: Path) -> None:
    """Pyrra `grouping: [pod]`: one row per pod the server lists over the period (the replaced pod and its
    successor included), each equal to `review_slo` on that pod's own per-minute truth."""
    world = crash_loop_stack.world
    data, review = review_of(source, tmp_path, PYRRA)
    parts: dict[str, list[pd.DataFrame]] = {}
    for samples in world.iter_samples():
        for row, labels in enumerate(samples.labels):
            stamps, increments = world.series_increments(samples, row)
            good = np.zeros(len(increments)) if labels["code"].startswith("5") else increments
            parts.setdefault(labels["pod"], []).append(pd.DataFrame({  # minute t holds the samples of (t - 1m, t]
                "minute": -(-stamps // 60_000) * 60_000, "good": good, "total": increments}))
    pods = {pod: pd.concat(frames) for pod, frames in parts.items()}
    names = {f'checkout-errors{{pod="{pod}"}}' for pod in pods}
    assert set(data.slos) == names and len(names) == 4
    for pod, frame in pods.items():
        name = f'checkout-errors{{pod="{pod}"}}'
        sums = frame.groupby("minute")[["good", "total"]].sum()
        grid = pd.date_range(world.start.ceil("min"), world.end, freq="min")
        events = pd.DataFrame({"timestamp": grid})
        values = sums.reindex(grid.as_unit("ns").asi8 // 1_000_000)
        events["good"], events["total"] = values["good"].to_numpy(float), values["total"].to_numpy(float)
        ours = review.review(name)
        fetched = data.slos[name]
        expected = backtest.review_slo(events, slo=name, objective=0.99, start=ours.start, end=ours.end,
                                       rule_sets=data.rule_sets, known_from=fetched.data_from)
        assert ours.summary()["backtest"] == expected.summary()["backtest"], name
        assert ours.summary()["episodes"] == expected.summary()["episodes"], name
    assert {row["slo"] for row in review.summary()["prometheus_view"]} == names
    with pytest.raises(BadInputError, match=r"SLO checkout-errors: grouped by pod, it has 4 groups .*max_groups=3"):
        review_of(source, tmp_path / "few", PYRRA, max_groups=3)


class FailingRangeQueries(PrometheusSource):
    """The server, but every alert expression's range query fails (as a server past its limits answers)."""

    def query_range(self, promql: str, *args: Any, **kwargs: Any) -> pd.DataFrame:
        if ") > (" in promql:
            raise PrometheusError("query processing would load too many samples into memory", query=promql)
        return super().query_range(promql, *args, **kwargs)


def test_a_failed_range_query_leaves_the_view_unavailable_and_the_rest_intact(crash_loop_stack: WorldStack,
                                                                              source, tmp_path: Path) -> None:
    world = crash_loop_stack.world
    _, whole = review_of(source, tmp_path / "whole", world.openslo_catalog(objective=OBJECTIVE))
    with FailingRangeQueries(crash_loop_stack.url, clock=lambda: world.end) as failing:
        _, review = review_of(failing, tmp_path / "failing", world.openslo_catalog(objective=OBJECTIVE))
    summary = review.summary()
    assert summary["prometheus_view"] == []
    (missing,) = summary["prometheus_view_not_evaluated"]
    assert missing["rule_set"] == "fast" and "too many samples" in missing["reason"]
    (warning,) = [w for w in review.warnings if "Prometheus view" in w]
    assert warning.startswith("checkout-availability: the Prometheus view of rule set fast is unavailable: range "
                              "query (1 - sum(rate(http_requests_total{")
    for key in ("episodes", "backtest", "what_if", "period"):
        assert summary[key] == whole.summary()[key], key
    assert "**Prometheus' view**: not evaluated (fast: unavailable: range query" in review.headline()


def test_a_rule_set_the_export_cannot_write_is_named_with_its_reason(crash_loop_stack: WorldStack, source,
                                                                     tmp_path: Path) -> None:
    """A `Timeslices` budget: reviewed (its events are a ratio), but no burn-rate rule spends slices, so the export
    refuses it and the view names why instead of sending a query."""
    catalog = crash_loop_stack.world.openslo_catalog(objective=OBJECTIVE).replace(
        "budgetingMethod: Occurrences\n  objectives:\n    - target: 0.999\n",
        "budgetingMethod: Timeslices\n  objectives:\n    - target: 0.999\n      timeSliceTarget: 0.99\n"
        "      timeSliceWindow: 5m\n")
    assert "budgetingMethod: Timeslices" in catalog
    data, review = review_of(source, tmp_path, catalog)
    summary = review.summary()
    assert summary["prometheus_view"] == [] and len(summary["backtest"]) == 2
    (missing,) = summary["prometheus_view_not_evaluated"]
    assert missing["rule_set"] == "fast"
    assert "not exported as Prometheus rules" in missing["reason"] and "Timeslices" in missing["reason"]
    assert "Timeslices" in review.views_not_evaluated_markdown()
