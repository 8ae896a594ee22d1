"""The SLO event archive (sources/archive.py) on a folder and on S3 (moto): days written once, partial days
replaced by better ones, corrupt files named and never used, replays from a snapshot; and the compliance history
(analysis/history.py) with figures derived by hand."""

from __future__ import annotations

import concurrent.futures
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from report_fixtures import moto_endpoint
from sim_metrics_fixtures import metrics_stack_fixture  # noqa: F401  (session fixture `metrics_stack`)

from goreliable_lib.analysis.history import monthly_history
from goreliable_lib.cli import main
from goreliable_lib.events.archive import archive_definition, archive_key, complete_from_archive
from goreliable_lib.inputs.catalog import read_catalog
from goreliable_lib.sources.archive import ArchiveSource, definition_key
from goreliable_lib.sources.snapshot import SnapshotRecorder, SnapshotReplayer

moto_endpoint = moto_endpoint  # the fixture, re-exported for pytest
DAY = pd.Timedelta(days=1)
MINUTE = pd.Timedelta(minutes=1)
D1 = pd.Timestamp("2026-11-01", tz="UTC")
DEFINITION = {"total": 'http_requests_total{service="checkout"}', "bad": 'http_requests_total{code=~"5.."}',
              "engine": 1}
KEY = definition_key(DEFINITION)
BUCKET = "goreliable-archive"


def minutes(start: pd.Timestamp, days: int, total: float = 60.0, bad: float = 1.0) -> pd.DataFrame:
    """Per-minute events over (start, start + days]: `total` events a minute, `bad` of them bad."""
    stamps = pd.date_range(start + pd.Timedelta(minutes=1), start + days * DAY, freq="min")
    return pd.DataFrame({"timestamp": stamps, "good": total - bad, "total": total})


def with_gap(events: pd.DataFrame, first: pd.Timestamp, count: int) -> pd.DataFrame:
    out = events.copy()
    hit = (out["timestamp"] > first) & (out["timestamp"] <= first + pd.Timedelta(minutes=count))
    out.loc[hit, ["good", "total"]] = np.nan
    return out


@pytest.fixture(params=["folder", "s3"])
def archive(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ArchiveSource:
    if request.param == "folder":
        return ArchiveSource(str(tmp_path / "archive"))
    import boto3

    endpoint = request.getfixturevalue("moto_endpoint")
    for name, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "moto-archive-id",
                        "AWS_SECRET_ACCESS_KEY": "moto-archive-key", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3")
    if BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=BUCKET)
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    return ArchiveSource(f"s3://{BUCKET}/reports/archive")


def test_complete_days_are_written_once_and_read_back_exactly(archive: ArchiveSource) -> None:
    # a computation over (D1 06:00, D1 + 3d 06:00]: only D1+1 and D1+2 are whole UTC days inside it
    events = minutes(D1 + pd.Timedelta(hours=6), 3)
    outcome = archive.write(KEY, DEFINITION, "checkout-availability", events, D1 + pd.Timedelta(hours=6),
                            D1 + 3 * DAY + pd.Timedelta(hours=6))
    assert outcome == {"written": ["2026-11-02", "2026-11-03"], "kept": [], "replaced": []}
    again = archive.write(KEY, DEFINITION, "checkout-availability", events, D1 + pd.Timedelta(hours=6),
                          D1 + 3 * DAY + pd.Timedelta(hours=6))
    assert again["written"] == [] and again["kept"] == ["2026-11-02", "2026-11-03"]  # a second writer: no-op
    assert archive.days(KEY)["day"].tolist() == [D1 + DAY, D1 + 2 * DAY]
    back = archive.read(KEY, [D1 + DAY, D1 + 2 * DAY, D1 + 9 * DAY])  # a day not held is simply absent
    assert len(back) == 2 * 1440 and back.attrs["warnings"] == []
    assert back["total"].sum() == 2 * 1440 * 60 and back["good"].sum() == 2 * 1440 * 59
    assert back["timestamp"].iloc[0] == D1 + DAY + pd.Timedelta(minutes=1)
    assert back["timestamp"].iloc[-1] == D1 + 3 * DAY  # the day's last minute is midnight
    keys = archive.keys()
    assert keys["key"].tolist() == [KEY] and keys["names"].tolist() == ["checkout-availability"]


def test_a_partial_day_is_marked_and_replaced_only_by_a_better_one(archive: ArchiveSource) -> None:
    gappy = with_gap(minutes(D1, 1), D1 + pd.Timedelta(hours=3), 30)  # 30 of 1440 minutes missing
    worse = with_gap(minutes(D1, 1), D1 + pd.Timedelta(hours=3), 60)
    assert archive.write(KEY, DEFINITION, "x", gappy, D1, D1 + DAY)["written"] == ["2026-11-01"]
    assert archive.days(KEY)["complete"].tolist() == [False]
    assert archive.write(KEY, DEFINITION, "x", worse, D1, D1 + DAY)["kept"] == ["2026-11-01"]
    assert archive.read(KEY, [D1])["total"].notna().sum() == 1410  # still the 30-minute gap's version
    assert archive.write(KEY, DEFINITION, "x", minutes(D1, 1), D1, D1 + DAY)["written"] == ["2026-11-01"]
    assert archive.days(KEY)["complete"].tolist() == [True]
    assert archive.read(KEY, [D1])["total"].notna().all()
    names = archive._storage.list(KEY)  # the partial file is gone once the complete one exists
    assert [s.name.rsplit("/", 1)[-1] for s in names] == ["2026-11-01.parquet", "slo.json"]


def test_partial_replaced_by_more_coverage(archive: ArchiveSource) -> None:
    archive.write(KEY, DEFINITION, "x", with_gap(minutes(D1, 1), D1, 90), D1, D1 + DAY)
    assert archive.write(KEY, DEFINITION, "x", with_gap(minutes(D1, 1), D1, 10), D1, D1 + DAY)["replaced"] == [
        "2026-11-01"]
    assert archive.read(KEY, [D1])["total"].notna().sum() == 1430


def test_two_writers_of_the_same_day_leave_one_file(archive: ArchiveSource) -> None:
    events = minutes(D1, 2)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda _: archive.write(KEY, DEFINITION, "x", events, D1, D1 + 2 * DAY), range(4)))
    written = [day for o in outcomes for day in o["written"]]
    assert sorted(written) == ["2026-11-01", "2026-11-02"]  # each day created exactly once
    assert all(sorted(o["written"] + o["kept"]) == ["2026-11-01", "2026-11-02"] for o in outcomes)
    assert len(archive.read(KEY, [D1, D1 + DAY])) == 2 * 1440


@pytest.mark.parametrize("damage", ["truncated", "flipped", "foreign"])
def test_a_damaged_file_is_named_and_never_used(tmp_path: Path, damage: str) -> None:
    archive = ArchiveSource(str(tmp_path / "archive"))
    archive.write(KEY, DEFINITION, "x", minutes(D1, 2), D1, D1 + 2 * DAY)
    path = tmp_path / "archive" / KEY / "2026-11-02.parquet"
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flipped":  # one value changed, the file still parses and keeps its metadata: the checksum says so
        table = pq.read_table(path)
        good = table.column("good").to_numpy().copy()
        good[100] += 1
        pq.write_table(table.set_column(1, "good", pa.array(good)).replace_schema_metadata(table.schema.metadata), path)
    else:  # another SLO's day under this key
        other = ArchiveSource(str(tmp_path / "other"))
        other.write("otherkey", DEFINITION, "x", minutes(D1, 2), D1, D1 + 2 * DAY)
        path.write_bytes((tmp_path / "other" / "otherkey" / "2026-11-02.parquet").read_bytes())
    back = archive.read(KEY, [D1, D1 + DAY])
    assert back["day"].unique().tolist() == [D1]  # the damaged day is left out, the good one used
    assert len(back.attrs["warnings"]) == 1 and "2026-11-02.parquet" in back.attrs["warnings"][0]
    assert "not used" in back.attrs["warnings"][0]


def test_a_changed_definition_has_another_key() -> None:
    assert definition_key({**DEFINITION, "total": 'http_requests_total{service="checkout",le="0.3"}'}) != KEY
    assert definition_key({**DEFINITION, "engine": 2}) != KEY
    assert definition_key(dict(reversed(list(DEFINITION.items())))) == KEY  # order does not matter


def test_reads_replay_from_a_snapshot_and_a_replay_writes_nothing(tmp_path: Path) -> None:
    live = ArchiveSource(str(tmp_path / "archive"), recorder=SnapshotRecorder(tmp_path / "snap", as_of=D1 + 9 * DAY))
    live.write(KEY, DEFINITION, "x", minutes(D1, 3), D1, D1 + 3 * DAY)
    days, frame = live.days(KEY), live.read(KEY, [D1, D1 + DAY])
    replay = ArchiveSource(str(tmp_path / "gone"), replayer=SnapshotReplayer(tmp_path / "snap"))
    pd.testing.assert_frame_equal(replay.days(KEY), days)
    pd.testing.assert_frame_equal(replay.read(KEY, [D1, D1 + DAY]), frame)
    assert replay.write(KEY, DEFINITION, "x", minutes(D1, 5), D1, D1 + 5 * DAY)["written"] == []
    assert not (tmp_path / "gone").exists()


def test_monthly_history_by_hand() -> None:
    # October 2026 fully seen: 31 days x 1440 minutes x 60 events, 1 bad a minute -> SLI 59/60 = 0.98333;
    # with a 99% objective the budget left is 1 - (1/60) / 0.01 = -0.6667 (overspent) and the month is breached.
    # November 2026 to the 10th, seen for its first 5 days only, 0.1 bad a minute -> SLI 1 - 0.1/60 = 0.998333,
    # budget left 1 - (0.1/60)/0.01 = 0.8333, met, coverage 5/9 (Nov 1 00:00 to Nov 10 00:00 is 9 days).
    october = minutes(pd.Timestamp("2026-10-01", tz="UTC"), 31)
    november = minutes(pd.Timestamp("2026-11-01", tz="UTC"), 5, bad=0.1)
    end = pd.Timestamp("2026-11-10", tz="UTC")
    months = monthly_history(pd.concat([october, november], ignore_index=True), 0.99, end, months=4)
    assert [m["month"] for m in months] == ["2026-08", "2026-09", "2026-10", "2026-11"]
    august, september, october_entry, november_entry = months
    for unseen in (august, september):  # before the archive and the server reach: unknown, never met
        assert unseen["status"] == "unknown" and unseen["sli"] is None and unseen["breached"] is None
        assert unseen["coverage"] == 0
    assert october_entry["total_events"] == 31 * 1440 * 60 and october_entry["coverage"] == 1
    assert october_entry["sli"] == pytest.approx(59 / 60) and october_entry["breached"] is True
    assert october_entry["error_budget_remaining"] == pytest.approx(1 - (1 / 60) / 0.01)
    assert october_entry["status"] == "breached" and not october_entry["to_date"]
    assert november_entry["to_date"] and november_entry["coverage"] == pytest.approx(5 / 9)
    assert november_entry["sli"] == pytest.approx(1 - 0.1 / 60)
    assert november_entry["error_budget_remaining"] == pytest.approx(1 - (0.1 / 60) / 0.01)
    assert november_entry["status"] == "met (partial)" and november_entry["breached"] is False


def test_monthly_history_counts_the_midnight_minute_in_the_month_it_ends() -> None:
    # the minute stamped 2026-11-01 00:00 holds the events of (Oct 31 23:59, Nov 1 00:00]: October's
    events = pd.DataFrame({"timestamp": pd.to_datetime(["2026-10-31T23:59:00Z", "2026-11-01T00:00:00Z",
                                                        "2026-11-01T00:01:00Z"]),
                           "good": [1.0, 2.0, 4.0], "total": [1.0, 2.0, 4.0]})
    months = monthly_history(events, 0.9, pd.Timestamp("2026-11-02", tz="UTC"), months=2)
    assert [m["total_events"] for m in months] == [3.0, 4.0]


def test_no_traffic_is_not_compliance() -> None:
    quiet = minutes(pd.Timestamp("2026-10-01", tz="UTC"), 31, total=0.0, bad=0.0)
    entry = monthly_history(quiet, 0.99, pd.Timestamp("2026-11-01", tz="UTC"), months=1)[0]
    assert entry["status"] == "no_data" and entry["sli"] is None and entry["breached"] is None
    assert entry["coverage"] == 1 and math.isclose(entry["total_events"], 0.0)


def test_s3_archive_uses_conditional_writes(archive: Any) -> None:
    """On S3 the create is If-None-Match: a day already there is kept even when its bytes differ."""
    archive.write(KEY, DEFINITION, "x", minutes(D1, 1), D1, D1 + DAY)
    assert archive.write(KEY, DEFINITION, "x", minutes(D1, 1, bad=5.0), D1, D1 + DAY)["kept"] == ["2026-11-01"]
    assert archive.read(KEY, [D1])["good"].sum() == 1440 * 59


# --------------------------------------------------------------------------------------------- on the local stack
@pytest.mark.stack
def test_backfill_and_status_from_a_real_prometheus(metrics_stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """`goreliable archive backfill` fills whole UTC days from the server; each archived minute equals the
    simulator's per-sample truth; `archive status` then lists them; a second backfill writes nothing."""
    for name in [n for n in os.environ if n.startswith("GORELIABLE_")]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GORELIABLE_PROMETHEUS_URL", metrics_stack.url)
    monkeypatch.setenv("GORELIABLE_NOW", "2026-11-23T06:00:00Z")
    monkeypatch.setenv("GORELIABLE_CONFIG", "/dev/null")
    archive_dir = tmp_path / "archive"
    common = ["--archive", str(archive_dir), "--services", "api-gateway-availability"]
    assert main(["archive", "backfill", "--from", "2026-11-08", "--to", "2026-11-11", *common]) == 0
    out = capsys.readouterr().out
    assert "api-gateway-availability: 4 days written, 0 already there" in out  # Nov 8, 9, 10, 11
    assert main(["archive", "backfill", "--from", "2026-11-08", "--to", "2026-11-11", *common]) == 0
    assert "0 days written, 4 already there" in capsys.readouterr().out
    assert main(["archive", "status", "--end", "2026-11-12T00:00:00Z", "--json", *common]) == 0
    row = json.loads(capsys.readouterr().out)["slos"][0]
    # Nov 8 holds the simulated 30-minute scrape gap: a partial day; the others are complete
    assert (row["first_day"], row["last_day"], row["days"], row["missing_days"]) == (
        "2026-11-08", "2026-11-11", 4, [])
    assert row["partial_days"] == ["2026-11-08"]
    # without --end, days are counted up to the sources' clock (GORELIABLE_NOW: Nov 23), not the wall clock's
    # today: Nov 12 .. 22 are missing, and no day after the clock
    assert main(["archive", "status", "--json", *common]) == 0
    missing = json.loads(capsys.readouterr().out)["slos"][0]["missing_days"]
    assert missing[0] == "2026-11-12" and missing[-1] == "2026-11-22" and len(missing) == 11
    slo = next(s for s in read_catalog("params/slos.yaml").slos if s.name == "api-gateway-availability")
    days = [pd.Timestamp(f"2026-11-{d:02d}", tz="UTC") for d in (8, 9, 10, 11)]
    archived = ArchiveSource(str(archive_dir)).read(archive_key(slo), days)
    truth = metrics_stack.simulation.metrics
    for day in days:
        good, total = truth.slo_events(slo.name, day, day + DAY)
        own = archived[archived["day"] == day]
        assert (own["good"].sum(), own["total"].sum()) == (good, total), day


# --------------------------------------------------------------------------------------------- a run's use
def _catalog_slo() -> Any:
    return next(s for s in read_catalog("params/slos.yaml").slos if s.name == "api-gateway-availability")


def test_a_run_takes_the_days_its_source_no_longer_holds(tmp_path: Path) -> None:
    """The archive holds Nov 1-12 (written by earlier runs); the source's data starts Nov 8 06:00 (retention).
    The run over (Nov 3, Nov 13] takes Nov 3-8 from the archive where the source has no minute, the source's
    minutes everywhere else; Nov 12, held by both, is compared."""
    archive = ArchiveSource(str(tmp_path / "archive"))
    slo = _catalog_slo()
    archive.write(archive_key(slo), archive_definition(slo), slo.name, minutes(D1, 12), D1, D1 + 12 * DAY)
    first, data_start = D1 + 2 * DAY, D1 + 7 * DAY + pd.Timedelta(hours=6)
    source = minutes(first, 10)  # (Nov 3, Nov 13], NaN before the data starts
    source.loc[source["timestamp"] <= data_start, ["good", "total"]] = np.nan
    taken = complete_from_archive(archive, slo, source, data_start, first)
    assert taken.warnings == []
    assert taken.events["total"].notna().all() and len(taken.events) == 10 * 1440
    assert [f"{d:%d}" for d in taken.archived.days] == ["03", "04", "05", "06", "07", "08"]
    assert taken.archived.summary() == {"days": 6, "first_day": "2026-11-03", "last_day": "2026-11-08"}
    # a changed day: the archive disagrees with the source on Nov 12 -> a warning naming it; the source wins
    changed = source.copy()
    changed.loc[(changed["timestamp"] > D1 + 11 * DAY) & (changed["timestamp"] <= D1 + 11 * DAY + 10 * MINUTE),
                "good"] = 0.0
    again = complete_from_archive(archive, slo, changed, data_start, first)
    assert len(again.warnings) == 1 and "2026-11-12 differs from the source in 10 of 1440 minutes" in again.warnings[0]
    assert again.events.set_index("timestamp").loc[D1 + 11 * DAY + MINUTE, "good"] == 0.0


def test_the_history_reads_archived_days_before_the_run(tmp_path: Path) -> None:
    archive = ArchiveSource(str(tmp_path / "archive"))
    slo = _catalog_slo()
    october = pd.Timestamp("2026-10-01", tz="UTC")
    archive.write(archive_key(slo), archive_definition(slo), slo.name, minutes(october, 31), october, D1)
    taken = complete_from_archive(archive, slo, minutes(D1, 5), None, D1, history_from=october)
    assert len(taken.history) == 31 * 1440 and taken.archived.days == []
    assert taken.events.equals(minutes(D1, 5))


def test_an_unreadable_archive_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    (tmp_path / "archive").write_text("a file where a folder should be")
    taken = complete_from_archive(ArchiveSource(str(tmp_path / "archive")), _catalog_slo(), minutes(D1, 1),
                                  D1 + DAY / 2, D1)
    assert taken.events.equals(minutes(D1, 1)) and len(taken.warnings) == 1
    assert "api-gateway-availability: the SLO archive is not used" in taken.warnings[0]


def test_a_keys_days_are_listed_once_until_the_source_writes_to_it(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # a run asks for one SLO's days three times (reusable_until, complete_from_archive, read_days): one listing
    archive = ArchiveSource(str(tmp_path / "archive"))
    archive.write(KEY, DEFINITION, "x", minutes(D1, 1), D1, D1 + DAY)
    listings = []
    listed = archive._list_days
    monkeypatch.setattr(archive, "_list_days", lambda key: listings.append(key) or listed(key))
    first = archive.days(KEY)
    first.loc[0, "complete"] = False  # a caller's change to its copy is not the next caller's answer
    assert archive.days(KEY)["complete"].tolist() == [True] and listings == [KEY]
    archive.write(KEY, DEFINITION, "x", minutes(D1 + DAY, 1), D1 + DAY, D1 + 2 * DAY)  # its own write: listed anew
    assert archive.days(KEY)["day"].tolist() == [D1, D1 + DAY] and listings == [KEY, KEY]
