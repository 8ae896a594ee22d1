"""SLO windows longer than retention (issue 14): weekly runs against a full-history Prometheus keep their days in
the archive (`<out>/archive`, a folder or S3 on moto); a later run against a Prometheus that holds only the last
15 days takes the days it no longer has from the archive, and its 30-day figures equal the simulator's truth and
the full-history server's. Two runs writing the same days at once leave one file per day; a corrupt archive file
is named in a warning, never used, and never fails the report."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from report_fixtures import moto_endpoint
from sim_metrics_fixtures import (  # noqa: F401  (fixtures)
    HELD,
    MetricsStack,
    metrics_stack_fixture,
    trimmed_prometheus_fixture,
)

from goreliable_lib.devstack.sim import Simulation
from goreliable_lib.devstack.stack.prometheus import PrometheusServer
from goreliable_lib.runner.execute import run_report
from goreliable_lib.runner.suite import RunRequest, run_many

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.timeout(1200)]
moto_endpoint = moto_endpoint  # the fixture, re-exported for pytest

DAY = pd.Timedelta(days=1)
SERVICES = "api-gateway"  # its availability and latency SLOs
NAMES = ("api-gateway-availability", "api-gateway-latency")
BUCKET = "goreliable-archive-runs"


def _live(url: str, as_of: pd.Timestamp) -> dict[str, str]:
    return {"GORELIABLE_PROFILE": "live", "GORELIABLE_PROMETHEUS_URL": url, "GORELIABLE_CONFIG": "/dev/null",
            "GORELIABLE_NOW": as_of.isoformat()}


def _run(env: dict[str, str], out: str, end: pd.Timestamp, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    with monkeypatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("GORELIABLE_")]:
            patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        result = run_report("slo", {"end": end.isoformat(), "services": SERVICES}, out, progress=False)
    assert result.exit_code == 0, result.error
    return _summary(result.location)


def _summary(location: str) -> dict[str, Any]:
    if location.startswith("s3://"):
        bucket, _, key = location[5:].rstrip("/").partition("/")
        return json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=f"{key}/summary.json")["Body"].read())
    return json.loads((Path(location) / "summary.json").read_text())


def _entries(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in summary["slos"]}


def _assert_equal_to_the_truth(summary: dict[str, Any], end: pd.Timestamp) -> None:
    truth = Simulation().metrics
    for name, entry in _entries(summary).items():
        assert (entry["good_events"], entry["total_events"]) == truth.slo_events(name, end - 30 * DAY, end), name


def _assert_the_30_days_equal_the_truth(summary: dict[str, Any], full: dict[str, Any], as_of: pd.Timestamp) -> None:
    truth = Simulation().metrics
    entries, full_entries = _entries(summary), _entries(full)
    for name in NAMES:
        good, total = truth.slo_events(name, as_of - 30 * DAY, as_of)
        assert (entries[name]["good_events"], entries[name]["total_events"]) == (good, total), name
        for field in ("good_events", "total_events", "sli", "error_budget_remaining", "burn_rates", "status"):
            assert entries[name][field] == full_entries[name][field], (name, field)
        assert entries[name]["partial"] is False and entries[name]["data_starts_at"] is None
    # The days before the trimmed server's data (and the alerts' 3-day lookback) came from the archive. Its complete
    # days are not asked of the server again, up to the first partial one: 2026-11-08 holds the simulated 30-minute
    # scrape gap, so the server is asked from 2026-11-07 on (that day compared), and Nov 8's minutes before the
    # server's data starts (06:00, plus the baseline margin) are the archive's: Oct 21 .. Nov 8, 19 days.
    assert (summary["archive"]["first_day"], summary["archive"]["last_day"], summary["archive"]["days"]) == (
        f"{as_of - 33 * DAY:%Y-%m-%d}", f"{as_of - HELD:%Y-%m-%d}", 19)


@pytest.fixture(scope="module")
def full_run(metrics_stack: MetricsStack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same 30-day report against the full-history server (no archive needed): what the trimmed run must equal."""
    as_of = metrics_stack.simulation.as_of
    with pytest.MonkeyPatch.context() as patch:
        return _run(_live(metrics_stack.url, as_of), str(tmp_path_factory.mktemp("full-out")), as_of, patch)


def test_weekly_runs_make_a_15_day_server_answer_30_days(metrics_stack: MetricsStack,
                                                         trimmed_prometheus: PrometheusServer,
                                                         full_run: dict[str, Any], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    as_of = metrics_stack.simulation.as_of
    out = str(tmp_path / "reports")
    for weeks in (3, 2, 1):  # the weekly CronJob against the full-history server, before retention was lowered
        earlier = _run(_live(metrics_stack.url, as_of), out, as_of - weeks * 7 * DAY, monkeypatch)
        # the first run finds an empty archive; the next ones take the days the earlier runs kept
        assert (earlier["archive"]["days"] > 0) == (weeks < 3)
        _assert_equal_to_the_truth(earlier, as_of - weeks * 7 * DAY)
    days = sorted(p.name for p in (tmp_path / "reports" / "archive").glob("*/*.parquet"))
    assert len(days) == 2 * (32 + 7 + 7)  # 2 SLOs; a run keeps the 32 whole days of its 33, 7 new a week
    summary = _run(_live(trimmed_prometheus.url, as_of), out, as_of, monkeypatch)
    _assert_the_30_days_equal_the_truth(summary, full_run, as_of)
    assert not [w for w in summary["warnings"] if "archive" in w], summary["warnings"]
    months = {m["month"]: m for m in summary["history"][0]["months"]}
    assert months["2026-10"]["status"] in ("met", "breached") and months["2026-10"]["coverage"] > 0.9
    assert months["2025-12"]["status"] == "unknown"  # before anything the archive or the server reach


def test_the_same_on_s3(metrics_stack: MetricsStack, trimmed_prometheus: PrometheusServer, full_run: dict[str, Any],
                        moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    s3 = {"AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "moto-archive-id",
          "AWS_SECRET_ACCESS_KEY": "moto-archive-key", "AWS_DEFAULT_REGION": "us-east-1"}
    for name, value in s3.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    as_of = metrics_stack.simulation.as_of
    out = f"s3://{BUCKET}/weekly"
    _run(_live(metrics_stack.url, as_of), out, as_of - 7 * DAY, monkeypatch)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="weekly/archive/")
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    assert len([k for k in keys if k.endswith(".parquet")]) == 2 * 32
    summary = _run(_live(trimmed_prometheus.url, as_of), out, as_of, monkeypatch)
    _assert_the_30_days_equal_the_truth(summary, full_run, as_of)


def test_two_runs_writing_the_same_days_at_once(metrics_stack: MetricsStack, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    as_of = metrics_stack.simulation.as_of
    for name in [n for n in os.environ if n.startswith("GORELIABLE_")]:
        monkeypatch.delenv(name)
    for name, value in _live(metrics_stack.url, as_of).items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "reports"
    request = RunRequest("slo", {"end": (as_of - 7 * DAY).isoformat(), "services": SERVICES})
    results = run_many([request, request], str(out), jobs=2, quiet=True)
    assert [code for _, code, _, _ in results] == [0, 0]
    files = sorted((out / "archive").glob("*/*.parquet"))
    assert len(files) == 2 * 32 and not list((out / "archive").glob("*/.tmp-*"))  # one file a day, no leftovers
    truth = Simulation().metrics
    for path in files:  # each day as the truth has it, whoever won the race
        frame = pd.read_parquet(path)
        day = pd.Timestamp(path.stem.removesuffix(".partial"), tz="UTC")
        name = json.loads((path.parent / "slo.json").read_text())["names"][0]
        assert (frame["good"].sum(), frame["total"].sum()) == truth.slo_events(name, day, day + DAY), path


def test_a_corrupt_archive_file_is_named_and_never_used(metrics_stack: MetricsStack,
                                                       trimmed_prometheus: PrometheusServer,
                                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    as_of = metrics_stack.simulation.as_of
    out = str(tmp_path / "reports")
    _run(_live(metrics_stack.url, as_of), out, as_of - 7 * DAY, monkeypatch)
    broken_day = as_of.floor("D") - 20 * DAY
    broken = next((tmp_path / "reports" / "archive").glob(f"*/{broken_day:%Y-%m-%d}.parquet"))
    broken.write_bytes(broken.read_bytes()[:200])  # truncated
    # exit 0: the archive never fails a report
    summary = _run(_live(trimmed_prometheus.url, as_of), out, as_of, monkeypatch)
    warned = [w for w in summary["warnings"] if broken.name in w]
    assert len(warned) == 1 and "not used" in warned[0]
    truth = Simulation().metrics
    name = json.loads((broken.parent / "slo.json").read_text())["names"][0]
    entry = _entries(summary)[name]
    good, total = truth.slo_events(name, as_of - 30 * DAY, as_of)
    lost_good, lost_total = truth.slo_events(name, broken_day, broken_day + DAY)
    assert (entry["good_events"], entry["total_events"]) == (good - lost_good, total - lost_total)
    assert entry["coverage"] < 0.97  # the lost day is a hole, said, never filled
