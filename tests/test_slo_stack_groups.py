"""Grouped SLOs against the simulator's truth per group, on Prometheus 2.42 and VictoriaMetrics (the CRASH_LOOP world
of scale_fixtures: `checkout`, 3 pods x 3 routes x 4 codes scraped every 15 s with jitter, a crash-looping pod,
restarts, one pod replaced by a rollout at 2026-11-21 18:00:17 and the `503` series born mid-history).

A group's truth is the sum, over that group's series, of the simulator's exact increments of the samples in the
window (`ScaleWorld.series_increments`: DESIGN.md's rule). In the 2-day window ending at the world's end:
- Pyrra `grouping: [pod]`: 4 groups, the replaced pod's group gone and the new pod's born inside the window;
- Sloth `sum by (route, code)`: 12 groups, the three `503` groups born inside the window.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from jsonschema import Draft202012Validator
from scale_fixtures import GROUPED_PYRRA as PYRRA
from scale_fixtures import (  # noqa: F401  (fixtures)
    WorldStack,
    crash_loop_stack_fixture,
    world_servers_fixture,
)
from slo_fixtures import slo_report, sources_of
from summary_schema import registry, undescribed_keys

from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs.promql import quote
from goreliable_lib.reports import postmortem
from goreliable_lib.sources.prometheus import PrometheusSource
from goreliable_lib.sources.snapshot import SnapshotRecorder, SnapshotReplayer

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]

WINDOW = pd.Timedelta(days=2)
SLOTH = """version: prometheus/v1
service: checkout
slos:
  - name: requests
    objective: 99
    sli:
      events:
        error_query: sum by (route, code) (rate(http_requests_total{service="checkout",code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total{service="checkout"}[{{.window}}])) by (route, code)
"""


@pytest.fixture(name="source")
def source_fixture(crash_loop_stack: WorldStack) -> Iterator[PrometheusSource]:
    end = crash_loop_stack.world.end
    with PrometheusSource(crash_loop_stack.url, clock=lambda: end) as prometheus:
        yield prometheus


def group_truth(world, labels: tuple[str, ...], start: pd.Timestamp,
                end: pd.Timestamp) -> dict[tuple[str, ...], tuple[int, int]]:
    """(good, total) per combination of `labels`' values: the series' exact increments of the samples in
    (start, end], good = not a 5xx code (the simulator's truth, series by series)."""
    low, high = start.value // 1_000_000, end.value // 1_000_000
    truth: dict[tuple[str, ...], tuple[int, int]] = {}
    for samples in world.iter_samples():
        for row, series_labels in enumerate(samples.labels):
            stamps, increments = world.series_increments(samples, row)
            part = int(increments[(stamps > low) & (stamps <= high)].sum())
            key = tuple(series_labels[label] for label in labels)
            good, total = truth.get(key, (0, 0))
            bad = series_labels["code"].startswith("5")
            truth[key] = (good + (0 if bad else part), total + part)
    return {key: value for key, value in truth.items() if value[1] or _listed(world, key, labels, low, high)}


def _listed(world, key: tuple[str, ...], labels: tuple[str, ...], low: int, high: int) -> bool:
    """A group with a sample in the window but no event (a quiet series is still listed by the server)."""
    return any(tuple(lab[label] for label in labels) == key and ((stamps > low) & (stamps <= high)).any()
               for samples in world.iter_samples() for lab, stamps in zip(samples.labels, samples.timestamps,
                                                                           strict=True))


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_pyrra_grouping_by_pod_equals_the_truth_per_pod(crash_loop_stack: WorldStack, source, tmp_path: Path) -> None:
    world = crash_loop_stack.world
    start, end = world.end - WINDOW, world.end
    report = slo_report(source, catalog=_write(tmp_path, "pyrra.yaml", PYRRA), window="2d", end=end.isoformat())
    entries = {e["name"]: e for e in report.summary()["slos"]}
    truth = group_truth(world, ("pod",), start, end)
    assert len(truth) == 4  # 3 pods, one replaced inside the window by a 4th
    assert set(entries) == {f"checkout-errors{{pod={quote(pod)}}}" for (pod,) in truth}
    for (pod,), (good, total) in truth.items():
        entry = entries[f"checkout-errors{{pod={quote(pod)}}}"]
        assert (entry["good_events"], entry["total_events"]) == (good, total), pod
        assert entry["group"] == {"pod": pod} and entry["grouped_by"] == "checkout-errors"
        assert entry["slo"] == "checkout-errors" and entry["source_format"] == "Pyrra pyrra.dev/v1alpha1"
        assert entry["sli"] == pytest.approx(good / total, abs=1e-12)
    replaced = next(t for t in world.targets if t.died_ms is not None)
    born = next(t for t in world.targets if t.born_ms is not None)
    assert start.value // 1_000_000 < replaced.died_ms < end.value // 1_000_000  # gone inside the window
    assert start.value // 1_000_000 < born.born_ms < end.value // 1_000_000  # born inside the window
    gone_entry = entries[f"checkout-errors{{pod={quote(replaced.pod)}}}"]
    born_entry = entries[f"checkout-errors{{pod={quote(born.pod)}}}"]
    assert 0 < born_entry["total_events"] < gone_entry["total_events"] + born_entry["total_events"]
    assert 0.5 < born_entry["coverage"] < 0.9 and 0.1 < gone_entry["coverage"] < 0.5  # alive for part of it
    # the crash-looping pod's group, and only it, burns its budget (half its requests fail for two hours)
    crash = next(t.pod for t in world.targets if t.crash_loop)
    assert entries[f"checkout-errors{{pod={quote(crash)}}}"]["status"] == "breached"
    assert "checkout-errors by pod (4 groups)" in report.headline()
    entry_schema = Draft202012Validator({"$ref": "slo.json#/$defs/slo"}, registry=registry())
    assert [e.message for entry in entries.values() for e in entry_schema.iter_errors(entry)] == []
    assert undescribed_keys({"report": "slo", "slos": list(entries.values())}, "slo") == []


def test_sloth_sum_by_route_and_code_equals_the_truth_per_group(crash_loop_stack: WorldStack, source,
                                                                 tmp_path: Path) -> None:
    world = crash_loop_stack.world
    start, end = world.end - WINDOW, world.end
    report = slo_report(source, catalog=_write(tmp_path, "sloth.yml", SLOTH), window="2d", end=end.isoformat())
    entries = {e["name"]: e for e in report.summary()["slos"]}
    truth = group_truth(world, ("route", "code"), start, end)
    assert len(truth) == 12 and len(entries) == 12
    for (route, code), (good, total) in truth.items():
        entry = entries[f"checkout-requests{{route={quote(route)}, code={quote(code)}}}"]
        assert (entry["good_events"], entry["total_events"]) == (good, total), (route, code)
        assert entry["group"] == {"route": route, "code": code}
    first_503 = min(stamps[0] for samples in world.iter_samples()
                    for lab, stamps in zip(samples.labels, samples.timestamps, strict=True) if lab["code"] == "503")
    assert start.value // 1_000_000 < first_503  # the 503 groups are born inside the window
    assert sum(e["total_events"] for e in entries.values()) == world.events(start, end)[1]  # the groups add up


class _Counting:
    """A PrometheusAPI that counts what it is asked (to see that a refusal comes before any event is fetched)."""

    def __init__(self, source: PrometheusSource) -> None:
        self.source = source
        self.asked: list[str] = []

    def __getattr__(self, name: str):
        method = getattr(self.source, name)
        if name in ("query", "query_range", "series"):
            def counted(*args, **kwargs):
                self.asked.append(name)
                return method(*args, **kwargs)
            return counted
        return method


def test_too_many_groups_are_refused_before_any_event_is_fetched(crash_loop_stack: WorldStack, source,
                                                                  tmp_path: Path) -> None:
    counting = _Counting(source)
    with pytest.raises(BadInputError, match=r"SLO checkout-requests: grouped by route, code, it has 12 groups with "
                                            r"series between .* above max_groups=11") as info:
        slo_report(counting, catalog=_write(tmp_path, "sloth.yml", SLOTH), window="2d",
                   end=crash_loop_stack.world.end.isoformat(), max_groups=11)
    assert info.value.exit_code == 2 and set(counting.asked) == {"series"}


def test_the_groups_are_recorded_and_replayed(crash_loop_stack: WorldStack, tmp_path: Path) -> None:
    """The series question that finds the groups goes through the source: a recorded run replays offline to the
    same rows."""
    end = crash_loop_stack.world.end
    catalog = _write(tmp_path, "pyrra.yaml", PYRRA.replace("window: 2d", "window: 1d"))
    with PrometheusSource(crash_loop_stack.url, clock=lambda: end,
                          recorder=SnapshotRecorder(tmp_path / "snap", as_of=end)) as live:
        recorded = slo_report(live, catalog=catalog, window="6h", end=end.isoformat()).summary()["slos"]
    with PrometheusSource(None, clock=lambda: end, replayer=SnapshotReplayer(tmp_path / "snap")) as offline:
        replayed = slo_report(offline, catalog=catalog, window="6h", end=end.isoformat()).summary()["slos"]
    assert replayed == recorded and len(recorded) == 3  # the replaced pod has no series in the last 6 hours


@pytest.mark.parametrize("crash_loop_stack", ["prometheus"], indirect=True)
def test_a_refusal_inside_the_kernel_is_a_failed_run_naming_the_slo(crash_loop_stack: WorldStack,
                                                                     tmp_path: Path) -> None:
    """Through the CLI: the groups are known only once the server is asked, inside the notebook's kernel, so too
    many groups fail the run (exit 1, the failed run published with the message), not exit 2, which promises
    that nothing was run (README, docs/slo-catalog.md)."""
    result = _run_cli(crash_loop_stack, tmp_path, _write(tmp_path, "sloth.yml", SLOTH), "max_groups=5")
    assert result.returncode == 1, result.stderr[-2000:]
    assert "BadInputError: SLO checkout-requests: grouped by route, code, it has 12 groups" in result.stderr
    assert "above max_groups=5" in result.stderr
    (summary_path,) = (tmp_path / "out").glob("slo/*/summary.json")
    summary = json.loads(summary_path.read_text())
    assert summary["status"] == "failed" and "max_groups=5" in summary["error"]["message"]


@pytest.mark.parametrize("crash_loop_stack", ["victoriametrics"], indirect=True)
def test_a_grouped_slo_report_runs_through_the_cli(crash_loop_stack: WorldStack, tmp_path: Path) -> None:
    """The notebook with grouped rows: a section, figures (file names from `SLO{label="value"}`) and summary.json
    (validated against docs/schema by conftest) per group, and each group's days kept under its own archive key."""
    result = _run_cli(crash_loop_stack, tmp_path, _write(tmp_path, "pyrra.yaml", PYRRA))
    assert result.returncode == 0, result.stderr[-2000:]
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    summary = json.loads((run_dir / "summary.json").read_text())
    names = [e["name"] for e in summary["slos"]]
    assert len(names) == 4 and all(n.startswith('checkout-errors{pod="checkout-') for n in names)
    sli_figures = [p for p in (run_dir / "figures").glob("*_sli.json") if p.name.startswith("checkout-errors")]
    assert len(sli_figures) == 4
    archived = json.loads(subprocess.run(
        [sys.executable, "-m", "goreliable_lib", "archive", "status", "--catalog", str(tmp_path / "pyrra.yaml"),
         "--archive", str(tmp_path / "archive"), "--json"], env=_env(crash_loop_stack, tmp_path), capture_output=True,
        text=True, timeout=300, check=True).stdout)
    assert sorted(row["slo"] for row in archived["slos"]) == sorted(names)  # a key per group
    assert len({row["key"] for row in archived["slos"]}) == 4 and archived["other_keys"] == {}


def _env(stack: WorldStack, tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GORELIABLE_")}
    env.update({"GORELIABLE_PROFILE": "live", "GORELIABLE_PROMETHEUS_URL": stack.url,
                "GORELIABLE_CONFIG": os.devnull, "GORELIABLE_NOW": stack.world.end.isoformat(),
                "GORELIABLE_ARCHIVE_URI": str(tmp_path / "archive")})
    return env


def _run_cli(stack: WorldStack, tmp_path: Path, catalog: str, *more: str) -> subprocess.CompletedProcess:
    """`goreliable report run slo` (a real kernel) over the 2 days ending at the world's end."""
    command = [sys.executable, "-m", "goreliable_lib", "report", "run", "slo", "-p", f"catalog={catalog}",
               "-p", "window=2d", "-p", f"end={stack.world.end.isoformat()}", "--out", str(tmp_path / "out")]
    for assignment in more:
        command += ["-p", assignment]
    return subprocess.run(command, env=_env(stack, tmp_path), capture_output=True, text=True, timeout=600,
                          check=False)


def test_the_postmortem_charges_each_group(crash_loop_stack: WorldStack, source, tmp_path: Path) -> None:
    """The crash loop as an incident: the postmortem reads the catalog through the same path, a row per pod, each
    group's bad events in the incident equal to the truth (only the crash-looping pod's group has many)."""
    world = crash_loop_stack.world
    low, high = world.crash_loop_window()
    params = {"incident_start": low.isoformat(), "incident_end": high.isoformat(),
              "catalog": _write(tmp_path, "pyrra.yaml", PYRRA), "services": "all", "slos": "checkout-errors",
              "end": world.end.isoformat()}
    report = postmortem.build(postmortem.fetch(sources_of(source), params), params)
    rows = {e["name"]: e for e in report.summary()["slos"]}
    truth = group_truth(world, ("pod",), low.floor("min"), high.floor("min"))
    alive = {pod: counts for (pod,), counts in truth.items()}
    assert set(rows) == {f"checkout-errors{{pod={quote(pod)}}}" for pod in alive}
    for pod, (good, total) in alive.items():
        row = rows[f"checkout-errors{{pod={quote(pod)}}}"]
        assert (row["bad_events"], row["total_events"]) == (total - good, total), pod
        assert row["group"] == {"pod": pod} and row["grouped_by"] == "checkout-errors"
    crash = next(t.pod for t in world.targets if t.crash_loop)
    assert rows[f"checkout-errors{{pod={quote(crash)}}}"]["bad_events"] > 10 * max(
        r["bad_events"] for name, r in rows.items() if crash not in name)
