"""Correction windows (inputs/corrections.py, analysis/correction_windows.py, the SLO report's build): the
documents validated with messages naming file, document, field and line; the windows of one-off and recurring
corrections across DST changes; and the SLO report over an in-memory Prometheus, whose corrected figures equal the
truth computed here without the corrected minutes, while the SLO event archive stays byte-identical.

Every expected value is derived in the comments from the synthetic traffic below, not through the code tested."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from counter_streams import FakePrometheus
from slo_fixtures import memory_source

from goreliable_lib import cli
from goreliable_lib.analysis import correction_windows
from goreliable_lib.analysis.history import monthly_history
from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs.catalog import read_catalog
from goreliable_lib.inputs.corrections import catalog_corrections, load_corrections, read_corrections
from goreliable_lib.plots.format import percent
from goreliable_lib.reports import slo
from goreliable_lib.runner import execute as runner
from goreliable_lib.sources.archive import ArchiveSource
from goreliable_lib.sources.connect import MissingSource, Sources

ROOT = Path(__file__).resolve().parent.parent
MIN = pd.Timedelta(minutes=1)
HOUR = pd.Timedelta(hours=1)


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC") if "+" not in text and not text.endswith("Z") else pd.Timestamp(text)


def correction(spec: str, name: str = "c") -> str:
    return (f"apiVersion: goreliable/v1\nkind: Correction\nmetadata:\n  name: {name}\nspec:\n"
            + "".join(f"  {line}\n" for line in spec.strip().splitlines()))


@pytest.fixture(scope="module")
def seed_catalog() -> Any:
    return read_catalog(ROOT / "params" / "slos.yaml")


# --------------------------------------------------------------------------------------------- validation
GOOD_RULE = """slos: [order-success-rate]
rrule: FREQ=DAILY
start: 2026-10-20T02:30:00
duration: 30m
timeZone: Europe/Berlin
reason: nightly database maintenance
author: jane"""
ONE_OFF = """service: api-gateway
start: 2026-11-11T14:00:00Z
end: 2026-11-11T15:00:00Z
reason: load test
author: bob"""


@pytest.mark.parametrize(("spec", "message"), [
    (GOOD_RULE.replace("FREQ=DAILY", "FREQ=DAILLY"),
     r"document 1 \(c\): spec.rrule: FREQ=DAILLY is not an RFC 5545 frequency \(SECONDLY, .*YEARLY\) \(line 7\)"),
    (GOOD_RULE.replace("FREQ=DAILY", "FREQ=DAILY;BYHOUR=25"),
     r"spec.rrule: 'FREQ=DAILY;BYHOUR=25' is not an RFC 5545 RRULE \(hour must be in 0..23\) \(line 7\)"),
    (GOOD_RULE.replace("FREQ=DAILY", "BYDAY=SU"), r"spec.rrule: 'BYDAY=SU' has no FREQ .* \(line 7\)"),
    (GOOD_RULE.replace("FREQ=DAILY", "FREQ=MINUTELY"), r"spec.rrule: FREQ=MINUTELY is not read .*HOURLY"),
    (GOOD_RULE.replace("FREQ=DAILY", "FREQ=DAILY;COUNT=3;UNTIL=20261231T000000Z"),
     r"spec.rrule: COUNT and UNTIL together"),
    (ONE_OFF.replace("end: 2026-11-11T15:00:00Z", "end: 2026-11-11T13:00:00Z"),
     r"document 1 \(c\): spec.end: 2026-11-11 13:00:00 UTC is not after start 2026-11-11 14:00:00 UTC \(line 8\)"),
    (ONE_OFF.replace("end: 2026-11-11T15:00:00Z\n", ""), r"spec.end: required field missing"),
    (GOOD_RULE.replace("[order-success-rate]", "[order-success-rate, orders-typo]"),
     r"spec.slos\[1\]: unknown SLO 'orders-typo' \(the catalog's SLOs: .*order-success-rate.*\) \(line 6\)"),
    (ONE_OFF.replace("api-gateway", "api-gatway"), r"spec.service: unknown service 'api-gatway' .* \(line 6\)"),
    (GOOD_RULE.replace("duration: 30m\n", ""), r"spec.duration: required field missing \(how long each occurrence"),
    (GOOD_RULE.replace("timeZone: Europe/Berlin\n", "").replace("02:30:00", "02:30:00Z"),
     r"spec.timeZone: required field missing"),
    (GOOD_RULE.replace("Europe/Berlin", "Europe/Berln"),
     r"spec.timeZone: 'Europe/Berln' is not an IANA time zone name .* \(line 10\)"),
    (ONE_OFF.replace("14:00:00Z", "14:00:00"), r"spec.start: 2026-11-11 14:00:00 has no UTC offset"),
    (ONE_OFF.replace("service: api-gateway", "service: api-gateway\nslos: all"), r"spec.service: give slos or service"),
    (ONE_OFF.replace("service: api-gateway\n", ""), r"spec.slos: required field missing"),
    (ONE_OFF.replace("author: bob", ""), r"spec.author: required field missing"),
    (GOOD_RULE + "\nend: 2026-12-01T00:00:00Z", r"spec.end: a recurring correction ends with its rule's UNTIL"),
    (ONE_OFF.replace("start: 2026-11-11T14:00:00Z", "start: next tuesday"), r"spec.start: 'next tuesday' is not an "
     "RFC3339 time"),
])
def test_bad_corrections_name_file_document_field_and_line(tmp_path: Path, seed_catalog: Any, spec: str,
                                                          message: str) -> None:
    path = tmp_path / "corrections.yaml"
    path.write_text(correction(spec))
    with pytest.raises(BadInputError, match=message) as info:
        read_corrections(path, seed_catalog)
    assert str(info.value).startswith(f"{path}: document 1 (c): spec.")
    assert info.value.exit_code == 2


def test_a_corrections_file_holds_corrections_only_and_unique_names(tmp_path: Path, seed_catalog: Any) -> None:
    path = tmp_path / "corrections.yaml"
    path.write_text(correction(ONE_OFF) + "---\n" + correction(GOOD_RULE))
    with pytest.raises(BadInputError, match=r"document 2 \(c\): metadata.name: duplicate correction name 'c', first "
                                            r"defined in .*document 1 \(c\)"):
        read_corrections(path, seed_catalog)
    path.write_text(correction(ONE_OFF) + "---\napiVersion: openslo/v1\nkind: SLO\nmetadata: {name: x}\n")
    with pytest.raises(BadInputError, match=r"document 2 \(x\): a corrections file holds apiVersion: goreliable/v1, "
                                            r"kind: Correction documents only, got kind 'SLO' \(line 13\)"):
        read_corrections(path, seed_catalog)
    path.write_text("")
    with pytest.raises(BadInputError, match="holds no document"):
        read_corrections(path, seed_catalog)


def test_the_catalog_keeps_its_corrections_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "slos.yaml"
    path.write_text((ROOT / "params" / "slos.yaml").read_text() + "---\n" + correction(ONE_OFF, "load-test"))
    catalog = read_catalog(path)  # not refused
    assert len(catalog.slos) == 6
    assert any("kind Correction kept for the SLO report" in note for note in catalog.notes)
    [kept] = catalog_corrections(catalog)
    assert (kept.name, kept.service, kept.reason, kept.author) == ("load-test", "api-gateway", "load test", "bob")
    assert (kept.start, kept.end) == (utc("2026-11-11T14:00"), utc("2026-11-11T15:00"))
    # the catalog's come first, then the file's; a name used in both is refused
    other = tmp_path / "more.yaml"
    other.write_text(correction(GOOD_RULE, "nightly"))
    assert [c.name for c in load_corrections(catalog, other)] == ["load-test", "nightly"]
    other.write_text(correction(GOOD_RULE, "load-test"))
    with pytest.raises(BadInputError, match="duplicate correction name 'load-test'"):
        load_corrections(catalog, other)


def test_a_bad_corrections_file_exits_2_and_runs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """The file is read while the report's kernel starts (runner/execute.py): a bad one stops that kernel before
    any cell ran, removes the run folder and exits 2."""
    started: list[object] = []
    stopped: list[object] = []
    monkeypatch.setattr(runner, "start_kernel", lambda *args, **kwargs: started.append(object()) or started[-1])
    monkeypatch.setattr(runner, "stop_kernel", stopped.append)
    path = tmp_path / "corrections.yaml"
    path.write_text(correction(GOOD_RULE.replace("FREQ=DAILY", "FREQ=DAILLY")))
    out = tmp_path / "reports"
    assert cli.main(["report", "run", "slo", "-p", f"corrections={path}", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("goreliable: error: ") and f"corrections: {path}: document 1 (c): spec.rrule: " in err
    assert stopped == started and len(started) == 1
    assert not any(p.is_file() for p in out.rglob("*")), "a run folder or a file was left behind"


# --------------------------------------------------------------------------------------------- windows
def _windows(spec: str, since: str, until: str, seed_catalog: Any, tmp_path: Path) -> list[tuple[str, str]]:
    path = tmp_path / "c.yaml"
    path.write_text(correction(spec))
    [found] = read_corrections(path, seed_catalog)
    return [(f"{a:%m-%d %H:%M}", f"{b:%m-%d %H:%M}") for a, b in correction_windows.windows(found, utc(since),
                                                                                            utc(until))]


def test_a_rule_stays_at_its_wall_clock_time_across_the_spring_dst_change(tmp_path: Path, seed_catalog: Any) -> None:
    # Europe/Berlin moves from CET (UTC+1) to CEST (UTC+2) on Sunday 2026-03-29 at 02:00 local (01:00 UTC).
    # 02:30 local each day: 01:30 UTC while CET; on the 29th 02:30 does not exist: the first instant after the gap
    # is 03:00 CEST, 01:00 UTC; from the 30th, 00:30 UTC. Each occurrence lasts 1 h of real time.
    spec = GOOD_RULE.replace("2026-10-20T02:30:00", "2026-03-01T02:30:00").replace("30m", "1h")
    assert _windows(spec, "2026-03-27T00:00", "2026-03-31T00:00", seed_catalog, tmp_path) == [
        ("03-27 01:30", "03-27 02:30"), ("03-28 01:30", "03-28 02:30"), ("03-29 01:00", "03-29 02:00"),
        ("03-30 00:30", "03-30 01:30")]


def test_a_rule_stays_at_its_wall_clock_time_across_the_autumn_dst_change(tmp_path: Path, seed_catalog: Any) -> None:
    # Back to CET on Sunday 2026-10-25 at 03:00 CEST (01:00 UTC): 02:00-03:00 local happens twice. 02:30 local:
    # 00:30 UTC while CEST (the 24th), the first of the two on the 25th (CEST: 00:30 UTC), 01:30 UTC from the 26th.
    assert _windows(GOOD_RULE, "2026-10-24T00:00", "2026-10-27T00:00", seed_catalog, tmp_path) == [
        ("10-24 00:30", "10-24 01:00"), ("10-25 00:30", "10-25 01:00"), ("10-26 01:30", "10-26 02:00")]


def test_weekly_rules_until_in_utc_and_a_first_occurrence_with_an_offset(tmp_path: Path, seed_catalog: Any) -> None:
    # Sundays at 23:00 New York time (EST, UTC-5, from Nov 1): Monday 04:00 UTC; UNTIL 2026-11-16T04:00Z (in UTC,
    # as RFC 5545 asks with a time zone) keeps Nov 1, 8 and 15 (local dates), whose starts are at or before it.
    # The first occurrence is written with its offset: 2026-11-01T23:00:00-05:00.
    spec = """slos: all
rrule: RRULE:FREQ=WEEKLY;BYDAY=SU;UNTIL=20261116T040000Z
start: "2026-11-01T23:00:00-05:00"
duration: 2h
timeZone: America/New_York
reason: weekly batch
author: ops"""
    assert _windows(spec, "2026-10-01T00:00", "2026-12-31T00:00", seed_catalog, tmp_path) == [
        ("11-02 04:00", "11-02 06:00"), ("11-09 04:00", "11-09 06:00"), ("11-16 04:00", "11-16 06:00")]


def test_a_minute_is_corrected_when_its_start_lies_in_a_window(tmp_path: Path, seed_catalog: Any) -> None:
    # window [10:00:30, 10:03:30): the minutes starting 10:01, 10:02, 10:03, i.e. the rows stamped 10:02-10:04;
    # the row stamped 10:01 (minute 10:00-10:01) starts before the window, the row 10:05 after it.
    path = tmp_path / "c.yaml"
    path.write_text(correction(ONE_OFF.replace("14:00:00Z", "10:00:30Z").replace("15:00:00Z", "10:03:30Z")))
    found = read_corrections(path, seed_catalog)
    stamps = pd.date_range(utc("2026-11-11T10:00"), periods=7, freq="min")  # 10:00 .. 10:06
    assert list(correction_windows.covered_by(stamps, found)) == [-1, -1, 0, 0, 0, -1, -1]


def test_overlapping_corrections_count_each_minute_once_for_the_first_read(tmp_path: Path,
                                                                            seed_catalog: Any) -> None:
    # first: [10:00, 10:10) covers rows 10:01-10:10; second: [10:05, 10:20) rows 10:06-10:20, of which 10:06-10:10
    # already belong to the first: it keeps 10:11-10:20. 10 events a minute, 1 bad: the first removes 10 minutes,
    # 100 events (90 good); the second 10 minutes, 100 events; together 200 = raw 300 - corrected 100.
    path = tmp_path / "c.yaml"
    path.write_text(correction(ONE_OFF.replace("14:00:00Z", "10:00:00Z").replace("15:00:00Z", "10:10:00Z"), "first")
                    + "---\n" + correction(ONE_OFF.replace("14:00:00Z", "10:05:00Z").replace("15:00:00Z",
                                                                                              "10:20:00Z"), "second"))
    found = read_corrections(path, seed_catalog)
    start = utc("2026-11-11T10:00")
    events = pd.DataFrame({"timestamp": pd.date_range(start + MIN, periods=30, freq="min"), "good": 9.0,
                           "total": 10.0})
    corrected = correction_windows.apply_corrections(events, found)
    assert corrected.events["total"].sum() == 100 and events["total"].sum() == 300  # the frame given is unchanged
    assert [(r["name"], r["minutes"], r["good_events"], r["total_events"])
            for r in correction_windows.removed(events, found, start, start + 30 * MIN)] == [
        ("first", 10, 90.0, 100.0), ("second", 10, 90.0, 100.0)]
    # a minute without a sample stays without: coverage is not changed by a correction
    gap = events.assign(total=events["total"].where(events.index != 3), good=events["good"].where(events.index != 3))
    assert correction_windows.apply_corrections(gap, found).events["total"].isna().sum() == 1


def test_the_history_marks_corrected_months() -> None:
    # October: 31 x 1440 minutes of 10 events; the last 60 minutes of the month are corrected (their events are
    # already left out: 0) -> 60 corrected minutes, total (44640 - 60) x 10; November not corrected.
    stamps = pd.date_range(utc("2026-10-01T00:01"), utc("2026-11-02T00:00"), freq="min")
    events = pd.DataFrame({"timestamp": stamps, "good": 10.0, "total": 10.0})
    corrected = (stamps > utc("2026-10-31T23:00")) & (stamps <= utc("2026-11-01T00:00"))
    events.loc[corrected, ["good", "total"]] = 0.0
    october, november = monthly_history(events, 0.99, utc("2026-11-02T00:00"), months=2, corrected=corrected)
    assert (october["corrected_minutes"], october["total_events"]) == (60, (44640 - 60) * 10)
    assert november["corrected_minutes"] == 0 and october["coverage"] == 1


# --------------------------------------------------------------------------------------------- the report
# A shop sampled once a minute from S0 = 2026-03-20 00:00 UTC to END = 2026-03-31 00:00 UTC (its counters' values at
# each whole minute), so the row stamped t holds exactly the increments of the sample at t. Minute k (row S0 + k):
#   total = 100 + k mod 13;  bad = 1 when k mod 5 == 0, else 0  (about 0.2% bad: a burn rate near 0.2);
#   an outage in (Mar 26 10:30, Mar 26 11:30]: half the requests fail;
#   during the nightly maintenance (02:30 Europe/Berlin, 1 h: see the windows below) 10 requests a minute fail.
S0, END = utc("2026-03-20T00:00"), utc("2026-03-31T00:00")
WINDOW_START = END - pd.Timedelta(days=7)
stamps = pd.date_range(S0, END, freq="min")
K = np.arange(len(stamps))
# the nightly maintenance windows in UTC, by hand: 02:30 CET = 01:30 UTC up to Mar 28; Mar 29 02:30 does not exist
# (moved to 03:00 CEST = 01:00 UTC); 02:30 CEST = 00:30 UTC from Mar 30.
NIGHTLY = [(utc(f"2026-03-{d}T01:30"), utc(f"2026-03-{d}T02:30")) for d in range(20, 29)] + [
    (utc("2026-03-29T01:00"), utc("2026-03-29T02:00")), (utc("2026-03-30T00:30"), utc("2026-03-30T01:30"))]
OUTAGE = [(utc("2026-03-26T10:00"), utc("2026-03-26T12:00"))]  # the one-off correction around the outage
BIG = [(utc("2026-03-27T00:00"), utc("2026-03-28T06:00"))]  # a 30-hour correction: 18% of a 7-day window


def _rows_in(windows: list[tuple[pd.Timestamp, pd.Timestamp]]) -> np.ndarray:
    """Rows whose minute (t - 1m, t] starts in one of the windows [a, b)."""
    starts = stamps - MIN
    return np.logical_or.reduce([(starts >= a) & (starts < b) for a, b in windows])


TOTAL = (100 + K % 13).astype(float)
BAD = np.where(K % 5 == 0, 1.0, 0.0)
BAD = np.where((stamps > utc("2026-03-26T10:30")) & (stamps <= utc("2026-03-26T11:30")), TOTAL // 2, BAD)
BAD = np.where(_rows_in(NIGHTLY), 10.0, BAD)
GOOD = TOTAL - BAD
IN_WINDOW = (stamps > WINDOW_START) & (stamps <= END)

CATALOG = """apiVersion: openslo/v1
kind: SLO
metadata: {name: shop-availability}
spec:
  service: shop
  indicator:
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: Prometheus, spec: {query: 'shop_requests_total{code!~"5.."}'}}}
        total: {metricSource: {type: Prometheus, spec: {query: shop_requests_total}}}
  timeWindow: [{duration: 7d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.99}]
---
apiVersion: goreliable/v1
kind: Correction
metadata: {name: outage-drill}
spec:
  slos: [shop-availability]
  start: 2026-03-26T10:00:00Z
  end: 2026-03-26T12:00:00Z
  reason: a planned failover drill
  author: jane
"""
CORRECTIONS = """apiVersion: goreliable/v1
kind: Correction
metadata: {name: nightly}
spec:
  service: shop
  rrule: FREQ=DAILY
  start: 2026-03-01T02:30:00
  duration: 1h
  timeZone: Europe/Berlin
  reason: nightly maintenance
  author: ops
---
apiVersion: goreliable/v1
kind: Correction
metadata: {name: big-migration}
spec:
  slos: all
  start: 2026-03-27T00:00:00Z
  end: 2026-03-28T06:00:00Z
  reason: storage migration
  author: ops
"""


@pytest.fixture(scope="module")
def shop() -> Any:
    """The shop's raw samples in an in-memory Prometheus API."""
    good, bad = 1000 + np.cumsum(np.concatenate([[0], GOOD[1:]])), np.cumsum(np.concatenate([[0], BAD[1:]]))
    frames = [pd.DataFrame({"timestamp": stamps, "value": values, "__name__": "shop_requests_total",
                            "code": code}) for code, values in (("200", good), ("500", bad))]
    return ShopPrometheus(memory_source(pd.concat(frames, ignore_index=True)))


class ShopPrometheus:
    """The shop's in-memory Prometheus API; the drift gauge has no series (an empty answer)."""

    def __init__(self, fake: FakePrometheus) -> None:
        self.fake = fake

    def query_range(self, promql: str, *args: Any, **kwargs: Any) -> pd.DataFrame:
        if "model_drift_detected" in promql:
            return pd.DataFrame({"timestamp": pd.DatetimeIndex([], tz="UTC"), "value": pd.Series([], dtype=float)})
        return self.fake.query_range(promql, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fake, name)


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def reports(shop: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The report three times over one archive folder: without corrections, with them, without again; the
    archive's files hashed after each."""
    folder = tmp_path_factory.mktemp("corrections")
    (folder / "slos.yaml").write_text(CATALOG.split("---\n")[0])
    (folder / "slos-with-correction.yaml").write_text(CATALOG)
    (folder / "corrections.yaml").write_text(CORRECTIONS)
    archive = folder / "archive"
    sources = Sources("live", shop, MissingSource("Kubecost", "GORELIABLE_KUBECOST_URL"),
                      MissingSource("drill log", "GORELIABLE_DRILLS_URI"), clock_override=END,
                      archive=ArchiveSource(str(archive)))
    found: dict[str, Any] = {}
    for run, params in (("raw", {"catalog": str(folder / "slos.yaml")}),
                        ("corrected", {"catalog": str(folder / "slos-with-correction.yaml"),
                                       "corrections": str(folder / "corrections.yaml")}),
                        ("raw again", {"catalog": str(folder / "slos.yaml")})):
        params = {**params, "window": "7d", "end": "2026-03-31T00:00:00Z"}
        found[run] = slo.build(slo.fetch(sources, params), params)
        found[f"{run} archive"] = _digest(archive)
    return found


def test_corrected_figures_equal_the_truth_without_the_corrected_minutes(reports: dict[str, Any]) -> None:
    entry = reports["corrected"].summary()["slos"][0]
    kept = IN_WINDOW & ~_rows_in(NIGHTLY + OUTAGE + BIG)
    good, total = GOOD[kept].sum(), TOTAL[kept].sum()
    raw_good, raw_total = GOOD[IN_WINDOW].sum(), TOTAL[IN_WINDOW].sum()
    assert (entry["good_events"], entry["total_events"]) == (good, total)
    assert entry["sli"] == pytest.approx(good / total, abs=1e-12)
    assert entry["error_budget_remaining"] == pytest.approx(1 - (1 - good / total) / 0.01, abs=1e-9)
    assert entry["sli_raw"] == pytest.approx(raw_good / raw_total, abs=1e-12)
    assert entry["error_budget_remaining_raw"] == pytest.approx(1 - (1 - raw_good / raw_total) / 0.01, abs=1e-9)
    assert entry["sli"] > entry["sli_raw"]  # the outage and the maintenance no longer count
    # burn rate over the last day (Mar 30 00:00, Mar 31 00:00]: the maintenance 00:30-01:30 is left out
    last_day = (stamps > END - pd.Timedelta(days=1)) & ~_rows_in(NIGHTLY)
    assert entry["burn_rates"]["1d"] == pytest.approx(BAD[last_day].sum() / TOTAL[last_day].sum() / 0.01)
    # the raw run is the truth with every minute
    raw = reports["raw"].summary()["slos"][0]
    assert (raw["good_events"], raw["total_events"]) == (raw_good, raw_total) and raw["corrections"] == []
    assert raw["sli_raw"] == raw["sli"] == pytest.approx(entry["sli_raw"], abs=1e-15)


def test_each_correction_says_what_it_removed(reports: dict[str, Any]) -> None:
    entry = reports["corrected"].summary()["slos"][0]
    # read order: the catalog's outage-drill, then the file's nightly and big-migration. In the window
    # (Mar 24, Mar 31]: the drill 120 minutes; the nightly 7 x 60 (Mar 24-30); the migration its 30 h less the
    # nightly hours of Mar 27 and 28 inside it (counted for the nightly, read first): 1800 - 120 = 1680.
    drill = IN_WINDOW & _rows_in(OUTAGE)
    nightly = IN_WINDOW & _rows_in(NIGHTLY)
    migration = IN_WINDOW & _rows_in(BIG) & ~nightly
    assert [(c["name"], c["minutes"], c["good_events"], c["total_events"]) for c in entry["corrections"]] == [
        ("outage-drill", 120, GOOD[drill].sum(), TOTAL[drill].sum()),
        ("nightly", 420, GOOD[nightly].sum(), TOTAL[nightly].sum()),
        ("big-migration", 1680, GOOD[migration].sum(), TOTAL[migration].sum())]
    assert sum(c["total_events"] for c in entry["corrections"]) == TOTAL[IN_WINDOW].sum() - entry["total_events"]
    assert entry["corrections"][1]["reason"] == "nightly maintenance" and entry["corrections"][1]["author"] == "ops"
    # 1680 of the window's 10080 minutes: more than 10%, a warning; the others are below
    warnings = [w for w in reports["corrected"].warnings if "correction" in w]
    assert warnings == ["shop-availability: correction big-migration leaves out 1,680 min, 16.7% of the window (more "
                        "than 10%): its figures stand for the rest of the window only"]


def test_alerts_use_the_corrected_events(reports: dict[str, Any]) -> None:
    # the outage (50% bad: a burn rate near 50) pages in the raw run: the 1-hour burn rate reaches 14.4 once
    # m minutes of it are in the hour, 0.5 x m / 60 / 0.01 >= 14.4, m >= 17.3: at 10:48 (10:30 + 18 min).
    # Corrected, nothing pages (0.2% bad; the maintenance hours, 10 of ~106 bad, are left out too).
    raw = reports["raw"].summary()["slos"][0]["alerts"]
    pages = [a for a in raw if a["severity"] == "page"]
    assert pages and pd.Timestamp(pages[0]["start"]) == utc("2026-03-26T10:48")
    assert [a for a in reports["corrected"].summary()["slos"][0]["alerts"] if a["severity"] == "page"] == []


def test_the_history_marks_the_corrected_month(reports: dict[str, Any]) -> None:
    # the run's minutes reach 3 days before the window (Mar 21 00:00): the nightly hours of Mar 21-30 (600), the
    # drill (120) and the migration (1800, 120 of them nightly hours already) -> 2400 corrected minutes in March
    [history] = reports["corrected"].summary()["history"]
    march = next(m for m in history["months"] if m["month"] == "2026-03")
    seen = stamps > utc("2026-03-21T00:00")
    assert march["corrected_minutes"] == int((seen & _rows_in(NIGHTLY + OUTAGE + BIG)).sum()) == 2400
    kept = seen & ~_rows_in(NIGHTLY + OUTAGE + BIG)
    assert (march["good_events"], march["total_events"]) == (GOOD[kept].sum(), TOTAL[kept].sum())
    assert all(m["corrected_minutes"] == 0 for m in history["months"] if m["month"] != "2026-03")
    assert "marked *corrected*" in reports["corrected"].history_markdown()


def test_the_archive_is_never_rewritten(reports: dict[str, Any]) -> None:
    before, after, again = reports["raw archive"], reports["corrected archive"], reports["raw again archive"]
    assert len([name for name in before if name.endswith(".parquet")]) >= 7  # the days the raw run kept
    assert before == after == again  # byte-identical: the corrections never reached a stored day
    # the later runs took their older days from the archive (the first had none) and corrected them in the figures
    # only; removing the corrections gives the raw figures back exactly
    assert reports["raw"].summary()["slos"][0]["archive_days"] == 0
    assert reports["corrected"].summary()["slos"][0]["archive_days"] > 0
    first, last = ({k: v for k, v in reports[run].summary()["slos"][0].items() if k != "archive_days"}
                   for run in ("raw", "raw again"))
    assert first == last


def test_the_pages_show_raw_and_corrected_side_by_side(reports: dict[str, Any]) -> None:
    report = reports["corrected"]
    section = slo.slo_markdown(report.results[0])
    entry = report.summary()["slos"][0]
    assert f"| corrected | {percent(entry['sli'])} | {percent(entry['error_budget_remaining'], 1)} |" in section
    assert (f"| raw (before corrections) | {percent(entry['sli_raw'])} | "
            f"{percent(entry['error_budget_remaining_raw'], 1)} |") in section
    assert "`outage-drill` 120 min" in section and "`big-migration` 1,680 min" in section
    headline = report.headline()
    assert "**Corrections**" in headline and "`nightly` (FREQ=DAILY from 2026-03-01 02:30 Europe/Berlin, 1 h each; "\
        "nightly maintenance, by ops): shop-availability 420 min" in headline
    table = report.summary_table().iloc[0]
    assert table["sli_raw"] == pytest.approx(entry["sli_raw"]) and table["corrected_minutes"] == 2220
    read = report.summary()["corrections"]
    assert [(c["name"], c["slos"], c["service"]) for c in read] == [
        ("outage-drill", ["shop-availability"], None), ("nightly", None, "shop"), ("big-migration", None, None)]
    assert math.isfinite(entry["sli"])


def test_the_shipped_example_reads_against_the_seed_catalog(seed_catalog: Any) -> None:
    drill, weekly = read_corrections(ROOT / "params" / "corrections.example.yaml", seed_catalog)
    assert (drill.slos, weekly.service) == (("api-gateway-availability", "api-gateway-latency"), "order-service")
    # Sundays 02:00 Berlin: 2026-10-18 (CEST: 00:00 UTC); 2026-10-25, when 02:00-03:00 happens twice (03:00 CEST
    # goes back to 02:00 CET), the first 02:00 (CEST: 00:00 UTC); 2026-11-01 (CET: 01:00 UTC)
    assert correction_windows.windows(weekly, utc("2026-10-17T00:00"), utc("2026-11-02T00:00")) == [
        (utc("2026-10-18T00:00"), utc("2026-10-18T02:00")), (utc("2026-10-25T00:00"), utc("2026-10-25T02:00")),
        (utc("2026-11-01T01:00"), utc("2026-11-01T03:00"))]
