"""The production-shape simulator alone (no server): its shape at 5 s and 5 min scrapes, its determinism, its
files, and its truth against DESIGN.md's rule applied to its own samples (scale_fixtures.events_from_raw)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scale_fixtures import events_from_raw

from goreliable_lib.devstack.sim.scale import ScaleConfig, ScaleWorld
from goreliable_lib.errors import BadInputError

pytestmark = pytest.mark.timeout(300)

MINUTE = pd.Timedelta(minutes=1)


def _series(world: ScaleWorld) -> dict[tuple, np.ndarray]:
    out = {}
    for samples in world.iter_samples():
        for row, labels in enumerate(samples.labels):
            keep = samples.timestamps[row] >= world.held_from_ms
            if keep.any():
                out[tuple(sorted(labels.items()))] = np.column_stack(
                    [samples.timestamps[row][keep], samples.values[row][keep]]).astype(float)
    return out


@pytest.mark.parametrize("interval", [5, 15, 60, 300])
def test_the_truth_is_the_rule_at_every_scrape_interval(interval: int) -> None:
    world = ScaleWorld(pods=3, routes=2, scrape_interval_seconds=interval, days=2, crash_loop=True, restarts=2,
                       replacements=1, crash_loop_ends_before_end=pd.Timedelta(hours=5))
    series = _series(world)
    low, high = world.crash_loop_window()
    for start, end in [(world.start - MINUTE, world.end), (low, high), (low + pd.Timedelta(seconds=37.25), high),
                       (world.end - pd.Timedelta(hours=20), world.end - pd.Timedelta(hours=3, seconds=1))]:
        truth = world.events(start, end)
        assert truth[1] > truth[0] > 0
        assert events_from_raw(series, start, end, world.interval_ms) == truth, (interval, start, end)
    stamps = np.concatenate([s[:, 0] for s in series.values()]).astype(np.int64)
    steadiest = max(len(s) for s in series.values())  # a series of a pod that ran throughout
    assert steadiest / (2 * 1440) == pytest.approx(60 / interval, rel=0.02)
    assert np.count_nonzero(stamps % 1000) > 0.9 * len(stamps)  # millisecond timestamps


def test_restarts_inside_a_minute_lose_the_events_after_the_last_scrape() -> None:
    world = ScaleWorld(pods=2, routes=1, codes=("200",), scrape_interval_seconds=15, days=1, restarts=1, gaps=0)
    restarted = next(t for t in world.targets if t.restarts_ms)
    moment = restarted.restarts_ms[0]
    assert moment % 1000 != 0  # inside a minute, not on a whole second
    samples = world.target_samples(restarted)
    stamps, values = samples.timestamps[0], samples.values[0]
    after = int(np.searchsorted(stamps, moment))
    assert values[after] < values[after - 1]  # the first sample after the restart is a reset
    assert stamps[after] - moment >= 3_000  # the pod was down for 3 s
    assert values[after] < 0.5 * 15 * world.config.requests_per_second  # only the new process's events


def test_the_crash_loop_rollout_and_born_series() -> None:
    world = ScaleWorld(pods=3, routes=2, scrape_interval_seconds=15, days=2, crash_loop=True, replacements=1)
    assert len(world.crash_loop_restarts()) == 48
    events = world.scripted_events()
    assert (events["kind"] == "restart").sum() == 48 + world.config.restarts
    series = _series(world)
    pods = {dict(k)["pod"] for k in series}
    assert len(pods) == 4  # the replaced pod and its successor
    born = [s for k, s in series.items() if dict(k)["code"] == "503"]
    assert born and min(s[0, 0] for s in born) > world.start_ms + 0.4 * (world.end_ms - world.start_ms)
    low, high = world.crash_loop_window()
    crash_pod = next(t.pod for t in world.targets if t.crash_loop)
    crash = {k: s for k, s in series.items() if dict(k)["pod"] == crash_pod}
    good, total = events_from_raw(crash, low, high, world.interval_ms)
    assert 0.45 < 1 - good / total < 0.55


def test_a_trimmed_server_holds_the_last_days_only() -> None:
    world = ScaleWorld(pods=2, routes=2, days=20, held_days=5, first_error_at=0.9)
    series = _series(world)
    first = min(s[0, 0] for s in series.values())
    assert world.held_from_ms <= first < world.held_from_ms + world.interval_ms + 100
    assert world.events(world.end - pd.Timedelta(days=10), world.end) == \
        world.events(world.held_from - MINUTE, world.end)
    full = ScaleWorld(dataclasses.replace(world.config, held_days=None))
    trimmed_total = world.events(world.held_from, world.end)[1]
    full_total = full.events(world.held_from, world.end)[1]
    assert trimmed_total <= full_total  # the first held samples are baselines on the trimmed server


def test_deterministic_and_keyed_by_its_config(tmp_path: Path) -> None:
    one, two = ScaleWorld(days=1, pods=2, routes=2), ScaleWorld(days=1, pods=2, routes=2)
    assert one.config.key == two.config.key
    one.write(tmp_path / "a.om")
    two.write(tmp_path / "b.om")
    assert (tmp_path / "a.om").read_bytes() == (tmp_path / "b.om").read_bytes()
    assert ScaleWorld(days=1, pods=2, routes=2, seed=7).config.key != one.config.key


def test_files_for_promtool_and_victoriametrics(tmp_path: Path) -> None:
    world = ScaleWorld(days=1, pods=2, routes=2, scrape_interval_seconds=30)
    written = world.write(tmp_path / "w.om")
    lines = (tmp_path / "w.om").read_text().splitlines()
    assert lines[0] == "# TYPE http_requests counter" and lines[-1] == "# EOF" and "" not in lines
    assert len(lines) == written + 2 == world.sample_count() + 2
    name, value, seconds = lines[1].rsplit(" ", 2)
    assert name.startswith('http_requests_total{job="checkout",instance="') and re.fullmatch(r"\d+\.\d{3}", seconds)
    assert int(np.trunc(float(seconds) * 1000)) / 1000 == float(seconds)  # promtool's truncation keeps the ms
    world.write(tmp_path / "w.prom", timestamp_unit="ms")
    ms_lines = (tmp_path / "w.prom").read_text().splitlines()
    assert len(ms_lines) == written and ms_lines[0].rsplit(" ", 1)[1] == seconds.replace(".", "")
    assert len(world.writers()) >= 1


@pytest.mark.parametrize(("field", "value"), [("scrape_interval_seconds", 2), ("scrape_interval_seconds", 600),
                                              ("held_days", 40), ("pods", 0)])
def test_bad_config_names_the_field(field: str, value: object) -> None:
    with pytest.raises(BadInputError, match=field.split("_")[0]):
        ScaleConfig(**{field: value})

