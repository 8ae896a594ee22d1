"""Production-shape SLO exactness on real back-ends (Prometheus 2.42 and VictoriaMetrics 1.79): a service scraped
every 15 s with jitter and a crash-looping pod, and a server trimmed to its last 15 days of counters that ran for
weeks (see scale_fixtures). First the worlds themselves are checked (the servers hold exactly the simulated
samples; the simulator's truth is what an observer of the raw samples computes by DESIGN.md's rule), then the
kit's SLO report against that truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scale_fixtures import (  # noqa: F401  (fixtures)
    WorldStack,
    crash_loop_stack_fixture,
    events_from_raw,
    raw_samples,
    run_slo_report,
    trimmed_stack_fixture,
    world_servers_fixture,
    world_stack_fixture,
)

from goreliable_lib.timeutil import parse_time

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]

SELECTOR = 'http_requests_total{service="checkout"}'
MINUTE = pd.Timedelta(minutes=1)


def _expected(world) -> dict[tuple, tuple[np.ndarray, np.ndarray]]:
    expected = {}
    for samples in world.iter_samples():
        for row, labels in enumerate(samples.labels):
            keep = samples.timestamps[row] >= world.held_from_ms
            if keep.any():
                key = tuple(sorted(labels.items()))
                expected[key] = (samples.timestamps[row][keep], samples.values[row][keep])
    return expected


def _held(stack: WorldStack) -> dict[tuple, np.ndarray]:
    world = stack.world
    return raw_samples(stack.url, SELECTOR, world.end, world.end - world.held_from + MINUTE)


def test_the_server_holds_exactly_the_simulated_samples(world_stack: WorldStack) -> None:
    stack = world_stack
    world = stack.world
    held = _held(stack)
    expected = _expected(world)
    assert set(held) == set(expected)
    for key, (stamps, values) in expected.items():
        np.testing.assert_array_equal(held[key][:, 0], stamps, err_msg=str(key))
        np.testing.assert_array_equal(held[key][:, 1], values, err_msg=str(key))
    every = np.concatenate([stamps for stamps, _ in expected.values()])
    assert np.count_nonzero(every % 60_000) > 0.99 * len(every)  # production shape: never on whole minutes
    assert min(every) >= world.held_from_ms


def test_the_crash_loop_world_has_its_production_shape(crash_loop_stack: WorldStack) -> None:
    world = crash_loop_stack.world
    held = _held(crash_loop_stack)
    crash_pod = next(t.pod for t in world.targets if t.crash_loop)
    low, high = world.crash_loop_window()
    resets = [int(np.count_nonzero(np.diff(s[:, 1]) < 0)) for k, s in held.items()
              if dict(k)["pod"] == crash_pod and dict(k)["code"] == "200"]
    assert min(resets) >= 40  # 48 restarts in two hours: nearly every one a reset of the busy series
    stamps = np.concatenate([s[:, 0] for s in held.values()])
    per_minute = pd.Series(1, index=-(-stamps // 60_000)).groupby(level=0).size()
    assert per_minute.median() == 4 * world.config.series  # four samples of each live series a minute
    crash_series = {k: s for k, s in held.items() if dict(k)["pod"] == crash_pod}
    good, total = events_from_raw(crash_series, low, high, world.interval_ms)
    assert 0.45 < 1 - good / total < 0.55  # half the crash-looping pod's requests fail
    born = [k for k, s in held.items() if dict(k)["code"] == "503"]
    assert born and all(held[k][0, 0] > world.start_ms + 3_600_000 for k in born)  # series born mid-history
    assert len({dict(k)["pod"] for k in held}) == 4  # one pod replaced: its series vanish, the new pod's appear


def test_the_truth_is_what_the_raw_samples_say(world_stack: WorldStack) -> None:
    """The simulator's truth equals DESIGN.md's rule applied to the samples the server returns, for windows on
    whole minutes (per-minute table) and on odd instants (sample by sample)."""
    stack = world_stack
    world = stack.world
    held = _held(stack)
    windows = [(world.held_from - MINUTE, world.end), (world.end - pd.Timedelta(days=1), world.end),
               (world.end - pd.Timedelta(hours=30, seconds=7.5), world.end - pd.Timedelta(hours=2, seconds=1))]
    if world.config.crash_loop:
        windows.append(world.crash_loop_window())
    for start, end in windows:
        truth = world.events(start, end)
        assert truth[1] > truth[0] > 0
        assert events_from_raw(held, start, end, world.interval_ms) == truth, (start, end)
    table = world.minute_events()
    assert table["total"].sum() == world.events(world.start - MINUTE, world.end)[1]


def test_the_trimmed_server_starts_with_large_counters(trimmed_stack: WorldStack) -> None:
    world = trimmed_stack.world
    held = _held(trimmed_stack)
    first_values = [s[0, 1] for k, s in held.items() if dict(k)["code"] == "200"]
    assert min(first_values) > 100_000  # weeks of counting before the server's oldest sample
    assert world.events(world.end - pd.Timedelta(days=30), world.end) == \
        world.events(world.held_from - MINUTE, world.end)  # nothing is known before the server's oldest data


# ---------------------------------------------------------------------------------------------- the SLO report
def _entry(summary: dict) -> dict:
    (entry,) = summary["slos"]
    return entry


@pytest.mark.slow
def test_the_crash_loop_postmortem_window_equals_the_truth(crash_loop_stack: WorldStack, tmp_path) -> None:
    """The issue's case: the two hours of the crash loop (a restart every 150 s, 15 s scrapes). The engine before
    issue 12 kept one value per series and minute and missed resets inside a minute: 32,655 bad of 212,365
    against the truth's 32,657 of 212,414."""
    world = crash_loop_stack.world
    low, high = world.crash_loop_window()
    code, summary = run_slo_report(crash_loop_stack.url, world, tmp_path, window="2h", end=high)
    assert code == 0, summary
    good, total = world.events(low, high)
    entry = _entry(summary)
    assert (entry["total_events"] - entry["good_events"], entry["total_events"]) == (total - good, total)


@pytest.mark.slow
def test_two_days_with_restarts_a_rollout_and_a_gap_equal_the_truth(crash_loop_stack: WorldStack, tmp_path) -> None:
    world = crash_loop_stack.world
    end = world.end
    start = end - pd.Timedelta(days=2)
    code, summary = run_slo_report(crash_loop_stack.url, world, tmp_path, window="2d", end=end)
    assert code == 0, summary
    good, total = world.events(start, end)
    entry = _entry(summary)
    assert (entry["good_events"], entry["total_events"]) == (good, total)
    assert abs(entry["sli"] - good / total) <= 1e-4
    assert entry["coverage"] == pytest.approx(world.coverage(start, end), abs=1e-9)  # the 12-minute gap shows


@pytest.mark.slow
def test_a_30_day_report_on_a_15_day_server(trimmed_stack: WorldStack, tmp_path) -> None:
    """Issue item 4: the covered days equal the truth; the report says where the data starts. The engine before
    issue 12 counted every series' first sample (a counter that ran for weeks) as events: 138,498,335 against the
    truth's 51,813,464."""
    world = trimmed_stack.world
    end = world.end
    code, summary = run_slo_report(trimmed_stack.url, world, tmp_path, window="30d", end=end)
    assert code == 0, summary
    good, total = world.events(end - pd.Timedelta(days=30), end)
    entry = _entry(summary)
    assert (entry["good_events"], entry["total_events"]) == (good, total)
    assert entry["partial"] is True
    starts = parse_time(entry["data_starts_at"])
    assert world.held_from <= starts <= world.held_from + 2 * MINUTE
