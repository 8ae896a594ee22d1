"""DrillSource: folder and real moto S3, against the simulator's ground truth and broken logs."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import drill_fixtures
import pandas as pd
import pytest
from drill_fixtures import (
    BROKEN_DRILL,
    BROKEN_LOG_DUPLICATE_LINE,
    BROKEN_LOG_INVALID_LINES,
    broken_log_text,
    line,
)

from goreliable_lib.devstack.sim.drills import DrillSimulation
from goreliable_lib.devstack.stack.s3 import S3Server, client, enable_iam_checks, upload_drills
from goreliable_lib.errors import BadInputError, DrillLogError, SnapshotMissError
from goreliable_lib.sources.drills import COMPONENT_COLUMNS, EVENT_COLUMNS, DrillLogWarning, DrillSource
from goreliable_lib.sources.snapshot import SnapshotRecorder, SnapshotReplayer

drill_sim = drill_fixtures.drill_sim
drill_folder = drill_fixtures.drill_folder
moto_endpoint = drill_fixtures.moto_endpoint
drill_s3 = drill_fixtures.drill_s3
s3 = drill_fixtures.s3
fresh_bucket = drill_fixtures.fresh_bucket
aws_env = drill_fixtures.aws_env


def _quiet(call: Any) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DrillLogWarning)
        return call()


def assert_matches_truth(components: pd.DataFrame, sim: DrillSimulation) -> None:
    truth = sim.truth_components().set_index(["drill_id", "component"]).sort_index()
    got = components.set_index(["drill_id", "component"]).sort_index()
    assert got.index.equals(truth.index)
    for column in ("rto_seconds", "rpo_seconds", "aborted", "disaster_declared_at"):
        pd.testing.assert_series_equal(got[column], truth[column], check_dtype=False, check_names=False,
                                       check_index_type=False)
    drills = sim.truth_drills().set_index("drill_id")
    durations = components.groupby("drill_id")["drill_duration_seconds"].first()
    pd.testing.assert_series_equal(durations.sort_index(), drills["duration_seconds"].sort_index(),
                                   check_names=False, check_index_type=False)


def test_folder_every_rto_and_rpo_to_the_second(drill_folder: Path, drill_sim: DrillSimulation) -> None:
    source = DrillSource(str(drill_folder))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DrillLogWarning)  # the simulated logs are clean
        events = source.events()
        components = source.components()
    assert list(events.columns) == EVENT_COLUMNS and list(components.columns) == COMPONENT_COLUMNS
    assert str(events["ts"].dtype) == "datetime64[ns, UTC]" and events["data_loss_seconds"].dtype == "float64"
    assert events.attrs["warnings"] == [] and components.attrs["warnings"] == []
    assert_matches_truth(components, drill_sim)
    latest = components[components["drill_id"] == drill_sim.latest_drill_id]
    assert set(latest["drill_duration_seconds"]) == {420.0}
    # unknown fields kept, notes kept, events sorted by time within each drill
    assert {"operator": "a.kowalski", "ticket": "DR-2026-Q4"} in list(events["extra"])
    assert (events["event"] == "note").sum() == 2
    assert events.groupby("drill_id")["ts"].apply(lambda ts: ts.is_monotonic_increasing).all()
    assert events["note"].map(lambda n: n is None or isinstance(n, str)).all()


def test_s3_paginated_listing_equals_folder(drill_s3: dict[str, Any], drill_folder: Path) -> None:
    s3_client = client(drill_s3["endpoint"])
    listings: list[dict[str, Any]] = []
    s3_client.meta.events.register("provide-client-params.s3.ListObjectsV2",
                                   lambda params, **_: listings.append(params))
    events = DrillSource(drill_s3["uri"], s3_client=s3_client, page_size=2).events()
    assert len(listings) >= 5  # 10 logs, 2 keys a page
    assert all(call.get("MaxKeys") == 2 for call in listings)
    folder_events = DrillSource(str(drill_folder)).events()
    pd.testing.assert_frame_equal(events, folder_events)


def test_s3_from_the_standard_aws_environment(aws_env: str, drill_s3: dict[str, Any],
                                              drill_sim: DrillSimulation) -> None:
    assert_matches_truth(DrillSource(drill_s3["uri"]).components(), drill_sim)


def _check_broken(events: pd.DataFrame, components: pd.DataFrame, location: str) -> None:
    messages = events.attrs["warnings"]
    for number in BROKEN_LOG_INVALID_LINES:
        assert any(m.startswith(f"{location} line {number}: ") and "line skipped" in m for m in messages), number
    text = "\n".join(messages)
    assert "line 3: not valid JSON" in text
    assert "line 4: field 'data_loss_seconds': Input should be greater than or equal to 0" in text
    assert "line 5: field 'event'" in text and "'exploded'" in text
    assert "line 6: field 'ts'" in text and "line 16: field 'ts'" in text and "no time zone" in text
    assert "line 7: field 'schema': 'goreliable.drill/v2' is not goreliable.drill/v1" in text
    assert "line 8: field 'component': Field required" in text
    assert "line 15: expected a JSON object, got list" in text
    assert f"line {BROKEN_LOG_DUPLICATE_LINE}: duplicates {location} line 11" in text
    assert "unknown component 'redis'" in text
    assert not any(" line 9:" in m for m in messages)  # blank line: skipped silently
    assert len(events) == 6  # 16 lines - 8 invalid - 1 blank - 1 duplicate
    assert list(events["line"]) == [2, 11, 14, 10, 1, 12]  # sorted by ts, not file order
    assert events.loc[events["line"] == 1, "extra"].iloc[0] == {"operator": "r.tanaka"}
    assert list(events.loc[~events["known_component"], "component"]) == ["redis"]
    table = components.set_index("component")
    assert table.loc["postgresql", "rto_seconds"] == 300.0 and table.loc["postgresql", "rpo_seconds"] == 42.0
    assert table.loc["grafana-dashboards", "rto_seconds"] == 120.0
    assert table.loc["grafana-dashboards", "rpo_seconds"] == 0.0
    assert not table.loc["redis", "known_component"] and table.loc["redis", "rto_seconds"] == 180.0
    assert math.isnan(table.loc["redis", "rpo_seconds"])
    assert set(table["drill_duration_seconds"]) == {300.0}


def test_broken_log_in_folder(tmp_path: Path, drill_sim: DrillSimulation) -> None:
    root = drill_sim.write_folder(tmp_path)
    (root / "2026" / "Q1").mkdir(parents=True, exist_ok=True)
    path = root / "2026" / "Q1" / f"{BROKEN_DRILL}.jsonl"
    path.write_text(broken_log_text())
    source = DrillSource(str(root))
    with pytest.warns(DrillLogWarning) as caught:
        events = source.events()
    assert len(caught) == len(events.attrs["warnings"]) == len(BROKEN_LOG_INVALID_LINES) + 2
    components = _quiet(source.components)
    _check_broken(events[events["drill_id"] == BROKEN_DRILL].reset_index(drop=True),
                  components[components["drill_id"] == BROKEN_DRILL], str(path))
    # the broken file never stops the others
    assert_matches_truth(components[components["drill_id"] != BROKEN_DRILL], drill_sim)


def test_broken_log_on_s3(s3: Any, fresh_bucket: str) -> None:
    s3.put_object(Bucket=fresh_bucket, Key="dr/2026/Q1/broken.jsonl", Body=broken_log_text().encode())
    source = DrillSource(f"s3://{fresh_bucket}/dr", s3_client=s3)
    events, components = _quiet(source.events), _quiet(source.components)
    assert set(events["file"]) == {"2026/Q1/broken.jsonl"}
    _check_broken(events, components, f"s3://{fresh_bucket}/dr/2026/Q1/broken.jsonl")


def test_drill_split_across_files_out_of_order_and_duplicated(tmp_path: Path) -> None:
    drill = "2026-03-05-cluster-replacement"
    first = [line(drill, "*", "disaster_declared", "2026-03-05T10:00:00Z"),
             line(drill, "postgresql", "recovered", "2026-03-05T10:04:00Z"),
             line(drill, "postgresql", "data_loss", "2026-03-05T10:06:00Z", data_loss_seconds=30)]
    # a second laptop's log: the same recovered line again, a flap (recovered again later), a bigger data loss
    second = [line(drill, "postgresql", "recovered", "2026-03-05T10:09:00Z"),
              line(drill, "postgresql", "recovered", "2026-03-05T10:04:00Z"),
              line(drill, "postgresql", "data_loss", "2026-03-05T10:10:00Z", data_loss_seconds=75.5)]
    (tmp_path / "a.jsonl").write_text("\n".join(first) + "\n")
    (tmp_path / "b.jsonl").write_text("\r\n".join(second))  # CRLF, no final newline
    source = DrillSource(str(tmp_path))
    events = _quiet(source.events)
    assert list(events["file"]) == ["a.jsonl", "a.jsonl", "a.jsonl", "b.jsonl", "b.jsonl"]
    assert events.attrs["warnings"] == [f"{tmp_path / 'b.jsonl'} line 2: duplicates {tmp_path / 'a.jsonl'} line 2 "
                                        f"(recovered of postgresql in {drill}); duplicate dropped"]
    row = _quiet(source.components).iloc[0]
    assert row["rto_seconds"] == 540.0  # the final recovery counts
    assert row["rpo_seconds"] == 75.5  # the worst data loss counts


def test_invalid_utf8_and_missing_declaration(tmp_path: Path) -> None:
    drill = "2026-03-05-cluster-replacement"
    content = (line(drill, "postgresql", "recovered", "2026-03-05T10:04:00Z").encode() + b"\n"
               + b'{"schema": "goreliable.drill/v1", "note": "caf\xe9"}\n')
    (tmp_path / "x.jsonl").write_bytes(content)
    source = DrillSource(str(tmp_path))
    events = _quiet(source.events)
    assert any("line 2: not valid JSON" in m for m in events.attrs["warnings"])
    components = _quiet(source.components)
    assert math.isnan(components["rto_seconds"].iloc[0])
    assert f"drill {drill}: no disaster_declared event; RTO and duration unknown" in components.attrs["warnings"]


def test_missing_folder_and_bad_uris(tmp_path: Path) -> None:
    with pytest.raises(DrillLogError, match=f"drill logs at {tmp_path / 'nowhere'}: folder does not exist"):
        DrillSource(str(tmp_path / "nowhere")).events()
    with pytest.raises(BadInputError, match="only s3://bucket/prefix and local folders"):
        DrillSource("https://example.com/drills")
    with pytest.raises(BadInputError, match="names no bucket"):
        DrillSource("s3:///drills")


def test_empty_folder_and_empty_prefix(tmp_path: Path, s3: Any, fresh_bucket: str) -> None:
    s3.put_object(Bucket=fresh_bucket, Key="elsewhere/readme.txt", Body=b"not a log")
    for source in (DrillSource(str(tmp_path)), DrillSource(f"s3://{fresh_bucket}/drills", s3_client=s3)):
        with pytest.warns(DrillLogWarning, match="no drill logs"):
            events = source.events()
        assert events.empty and list(events.columns) == EVENT_COLUMNS
        components = _quiet(source.components)
        assert components.empty and list(components.columns) == COMPONENT_COLUMNS


def test_missing_bucket(s3: Any) -> None:
    with pytest.raises(DrillLogError) as caught:
        DrillSource("s3://no-such-drills-bucket/drills", s3_client=s3).events()
    assert str(caught.value) == ("drill logs at s3://no-such-drills-bucket/drills: bucket 'no-such-drills-bucket' "
                                 "does not exist")
    assert caught.value.exit_code == 1


def test_unreachable_endpoint() -> None:
    unreachable = client("http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(DrillLogError, match="drill logs at s3://bucket-x/drills: cannot reach the S3 endpoint"):
        DrillSource("s3://bucket-x/drills", s3_client=unreachable).events()


@pytest.mark.slow
def test_access_denied_with_iam_checks(drill_sim: DrillSimulation) -> None:
    """moto ignores bucket policies, but checks IAM identity policies once its auth switch is on."""
    import boto3

    with S3Server() as endpoint:
        upload_drills(endpoint, "locked-drills", "drills", drill_sim.files())
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        iam.create_user(UserName="intern")
        iam.put_user_policy(UserName="intern", PolicyName="no-s3", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="intern")["AccessKey"]
        enable_iam_checks(endpoint)
        intern = client(endpoint, aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
        with pytest.raises(DrillLogError) as caught:
            DrillSource("s3://locked-drills/drills", s3_client=intern).events()
        message = str(caught.value)
        assert (message.startswith("drill logs at s3://locked-drills/drills: access denied")
                and "AccessDenied" in message)
        assert key["SecretAccessKey"] not in message and key["AccessKeyId"] not in message


def test_canonical_request_and_snapshot_replay(drill_s3: dict[str, Any], s3: Any, tmp_path: Path) -> None:
    recorder = SnapshotRecorder(tmp_path / "snap", as_of="2026-11-23T06:00:00Z")
    live = DrillSource(drill_s3["uri"] + "/", s3_client=s3, recorder=recorder)
    live_events, live_components = live.events(), live.components()
    manifest = json.loads((tmp_path / "snap" / "manifest.json").read_text())
    assert [(e["source"], e["request"]) for e in manifest["entries"]] == [
        ("drills", {"method": "events", "uri": "s3://goreliable-drills/drills"})]
    assert "testing" not in (tmp_path / "snap" / "manifest.json").read_text()
    # replayed with S3 unreachable: identical frames (extra dicts included), the snapshot's clock
    replay = DrillSource(drill_s3["uri"], replayer=SnapshotReplayer(tmp_path / "snap"),
                         s3_client=client("http://127.0.0.1:9"))
    pd.testing.assert_frame_equal(replay.events(), live_events)
    pd.testing.assert_frame_equal(replay.components(), live_components)
    assert replay.now() == pd.Timestamp("2026-11-23T06:00:00Z")
    with pytest.raises(SnapshotMissError):
        DrillSource("s3://goreliable-drills/other", replayer=SnapshotReplayer(tmp_path / "snap")).events()
