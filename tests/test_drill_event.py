"""`goreliable drill event` / append_event on a folder and on a real moto S3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import drill_fixtures
import pandas as pd
import pytest

from goreliable_lib.cli import build_parser
from goreliable_lib.devstack.sim.drills import DrillSimulation
from goreliable_lib.devstack.stack.s3 import client, upload_drills
from goreliable_lib.errors import BadInputError, DrillLogError
from goreliable_lib.sources import drill_writer as drill_event
from goreliable_lib.sources.drills import DrillSource

drill_sim = drill_fixtures.drill_sim
moto_endpoint = drill_fixtures.moto_endpoint
s3 = drill_fixtures.s3
fresh_bucket = drill_fixtures.fresh_bucket
aws_env = drill_fixtures.aws_env

NOW = pd.Timestamp("2026-11-23T06:00:00Z")


def cli(argv: list[str]) -> int:
    """The `drill` commands as `goreliable` parses them (its handler called directly: errors propagate)."""
    args = build_parser(argv).parse_args(argv)
    return args.func(args)


INVALID_EVENTS = [
    ({"drill_id": "d-1", "component": "postgresql", "event": "data_loss"},
     "field 'data_loss_seconds': required on a data_loss event"),
    ({"drill_id": "d-1", "component": "postgresql", "event": "data_loss", "data_loss_seconds": -3},
     "field 'data_loss_seconds': Input should be greater than or equal to 0"),
    ({"drill_id": "d-1", "component": "postgresql", "event": "exploded"}, "field 'event': Input should be"),
    ({"drill_id": "d-1", "component": "postgresql", "event": "recovered", "ts": "tomorrow"}, "field 'ts'"),
    ({"drill_id": "../../etc/passwd", "component": "postgresql", "event": "recovered"}, "field 'drill_id'"),
    ({"drill_id": "d-1", "component": "*", "event": "recovered"}, "field 'component': recovered needs a component"),
    ({"drill_id": "d-1", "component": "postgresql", "event": "disaster_declared"}, "field 'component'"),
    ({"drill_id": "d-1", "event": "note"}, "field 'component': Field required"),
    ({"drill_id": "d-1", "component": "postgresql", "event": "recovered", "data_loss_seconds": 5},
     "field 'data_loss_seconds': only allowed on data_loss events"),
]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_folder_append_to_existing_log(drill_sim: DrillSimulation, tmp_path: Path) -> None:
    root = drill_sim.write_folder(tmp_path)
    drill_id = drill_sim.latest_drill_id
    before = _snapshot(root)
    where = drill_event.append_event(str(root), {"drill_id": drill_id, "component": "postgresql",
                                                 "event": "note", "note": "postmortem filed",
                                                 "ts": "2026-11-12T11:00:00Z", "operator": "s.iyer"})
    path = root / "2026" / "Q4" / f"{drill_id}.jsonl"
    assert where == str(path)
    after = _snapshot(root)
    key = f"2026/Q4/{drill_id}.jsonl"
    assert {k: v for k, v in after.items() if k != key} == {k: v for k, v in before.items() if k != key}
    assert after[key].startswith(before[key])
    added = json.loads(after[key][len(before[key]):])
    assert added == {"schema": "goreliable.drill/v1", "drill_id": drill_id, "scenario": "cluster-replacement",
                     "component": "postgresql", "event": "note", "ts": "2026-11-12T11:00:00Z",
                     "note": "postmortem filed", "operator": "s.iyer"}
    events = DrillSource(str(root)).events()
    assert events.iloc[-1]["note"] == "postmortem filed" and events.attrs["warnings"] == []


@pytest.mark.parametrize(("event", "message"), INVALID_EVENTS)
def test_invalid_event_refused_folder_unchanged(drill_sim: DrillSimulation, tmp_path: Path,
                                                event: dict[str, Any], message: str) -> None:
    root = drill_sim.write_folder(tmp_path)
    before = _snapshot(root)
    with pytest.raises(BadInputError) as caught:
        drill_event.append_event(str(root), event, now=NOW)
    assert message in str(caught.value) and "nothing written" in str(caught.value)
    assert caught.value.exit_code == 2
    assert _snapshot(root) == before


def test_cli_records_a_whole_drill_in_a_new_folder_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GORELIABLE_DRILLS_URI", str(tmp_path))
    drill = "2027-02-11-cluster-replacement"
    steps = [["--component", "*", "--event", "disaster_declared", "--ts", "2027-02-11T10:00:00Z",
              "--scenario", "cluster-replacement"],
             ["--component", "postgresql", "--event", "recovered", "--ts", "2027-02-11T10:06:40Z"],
             ["--component", "postgresql", "--event", "data_loss", "--data-loss-seconds", "12.5",
              "--ts", "1802342400"]]
    for step in steps:
        assert cli(["drill", "event", "--drill-id", drill, *step]) == 0
    path = tmp_path / "2027" / "Q1" / f"{drill}.jsonl"
    assert capsys.readouterr().out.splitlines() == [str(path)] * 3
    lines = [json.loads(raw) for raw in path.read_text().splitlines()]
    assert [line["scenario"] for line in lines] == ["cluster-replacement"] * 3  # inherited from the log
    assert lines[2]["data_loss_seconds"] == 12.5 and lines[2]["ts"] == "2027-02-11T10:40:00Z"
    row = DrillSource(str(tmp_path)).components().iloc[0]
    assert (row["rto_seconds"], row["rpo_seconds"]) == (400.0, 12.5)


def test_cli_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GORELIABLE_DRILLS_URI", raising=False)
    base = ["drill", "event", "--drill-id", "d-1", "--component", "postgresql"]
    with pytest.raises(BadInputError, match="GORELIABLE_DRILLS_URI is not set"):
        cli([*base, "--event", "recovered"])
    monkeypatch.setenv("GORELIABLE_DRILLS_URI", str(tmp_path))
    with pytest.raises(BadInputError, match="--data-loss-seconds: 'lots' is not a number"):
        cli([*base, "--event", "data_loss", "--data-loss-seconds", "lots"])
    with pytest.raises(BadInputError, match="--ts"):
        cli([*base, "--event", "recovered", "--ts", "after lunch"])
    with pytest.raises(BadInputError, match="field 'data_loss_seconds'"):
        cli([*base, "--event", "data_loss", "--data-loss-seconds", "nan"])
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv("GORELIABLE_DRILLS_URI", str(tmp_path / "typo"))
    with pytest.raises(DrillLogError, match="folder does not exist"):
        cli([*base, "--event", "recovered"])


def test_s3_append_and_new_log(s3: Any, fresh_bucket: str, drill_sim: DrillSimulation, aws_env: str,
                               moto_endpoint: str) -> None:
    drill_id = drill_sim.missed_rpo_drill_id
    files = drill_sim.files()
    upload_drills(moto_endpoint, fresh_bucket, "drills", files, s3_client=s3)
    uri = f"s3://{fresh_bucket}/drills"
    key = f"drills/2026/Q3/{drill_id}.jsonl"
    # through the CLI and the standard AWS environment (AWS_ENDPOINT_URL), as an operator would
    assert cli(["drill", "event", "--uri", uri, "--drill-id", drill_id, "--component", "postgresql",
                "--event", "note", "--note", "WAL shipping lagged", "--ts", "2026-08-13T12:00:00Z"]) == 0
    body = s3.get_object(Bucket=fresh_bucket, Key=key)["Body"].read()
    original = files[key.removeprefix("drills/")]
    assert body.startswith(original.encode())
    assert json.loads(body[len(original):])["note"] == "WAL shipping lagged"
    # a new drill gets a new log at the simulator's layout
    where = drill_event.append_event(uri, {"drill_id": "2027-02-11-cluster-replacement", "component": "*",
                                           "event": "disaster_declared", "ts": "2027-02-11T10:00:00Z"}, s3=s3)
    assert where == f"s3://{fresh_bucket}/drills/2027/Q1/2027-02-11-cluster-replacement.jsonl"
    components = DrillSource(uri, s3_client=s3).components()
    assert "2027-02-11-cluster-replacement" not in set(components["drill_id"])  # declared only, no component yet
    assert len(DrillSource(uri, s3_client=s3).events()) == sum(len(t.splitlines()) for t in files.values()) + 2


def _bucket_bytes(s3: Any, bucket: str) -> dict[str, bytes]:
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def test_s3_invalid_event_leaves_log_byte_identical(s3: Any, fresh_bucket: str, drill_sim: DrillSimulation,
                                                    moto_endpoint: str) -> None:
    upload_drills(moto_endpoint, fresh_bucket, "drills", drill_sim.files(), s3_client=s3)
    before = _bucket_bytes(s3, fresh_bucket)
    for event, message in INVALID_EVENTS:
        with pytest.raises(BadInputError, match="nothing written") as caught:
            drill_event.append_event(f"s3://{fresh_bucket}/drills", {**event, "drill_id": drill_sim.latest_drill_id}
                                     if event["drill_id"] == "d-1" else event, s3=s3, now=NOW)
        assert message in str(caught.value)
    assert _bucket_bytes(s3, fresh_bucket) == before


def test_s3_concurrent_writer_is_not_lost(s3: Any, fresh_bucket: str, moto_endpoint: str) -> None:
    """Another operator appends between our read and our write: S3 refuses our write (If-Match), we retry."""
    drill = "2026-11-12-cluster-replacement"
    key = f"drills/2026/Q4/{drill}.jsonl"
    first = drill_fixtures.line(drill, "*", "disaster_declared", "2026-11-12T10:00:00Z") + "\n"
    s3.put_object(Bucket=fresh_bucket, Key=key, Body=first.encode())
    other = client(moto_endpoint)
    theirs = drill_fixtures.line(drill, "postgresql", "recovered", "2026-11-12T10:05:00Z") + "\n"
    puts: list[int] = []

    def race(**_: Any) -> None:
        puts.append(1)
        if len(puts) == 1:  # the other operator wins the first round
            other.put_object(Bucket=fresh_bucket, Key=key, Body=(first + theirs).encode())

    mine = client(moto_endpoint)
    mine.meta.events.register("before-call.s3.PutObject", race)
    drill_event.append_event(f"s3://{fresh_bucket}/drills", {"drill_id": drill, "component": "grafana-dashboards",
                                                             "event": "recovered", "ts": "2026-11-12T10:02:00Z"},
                             s3=mine)
    assert len(puts) == 2  # refused once with 412, then written
    lines = s3.get_object(Bucket=fresh_bucket, Key=key)["Body"].read().decode().splitlines()
    assert [json.loads(raw)["event"] for raw in lines] == ["disaster_declared", "recovered", "recovered"]
    assert [json.loads(raw)["component"] for raw in lines][1:] == ["postgresql", "grafana-dashboards"]


def test_s3_missing_bucket(s3: Any) -> None:
    with pytest.raises(DrillLogError, match="bucket 'no-such-drill-bucket' does not exist"):
        drill_event.append_event("s3://no-such-drill-bucket/drills", {"drill_id": "d-1", "component": "*",
                                                                      "event": "note"}, s3=s3)
