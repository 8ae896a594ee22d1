"""Snapshots: record, replay, checksums, misses that name the nearest requests."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from goreliable_lib.config import load_settings
from goreliable_lib.errors import SnapshotMissError, SourceError
from goreliable_lib.sources.base import Source
from goreliable_lib.sources.connect import connect, demo_snapshot_path
from goreliable_lib.sources.snapshot import SnapshotRecorder, SnapshotReplayer

AS_OF = pd.Timestamp("2026-11-23T06:00:00Z")


class Counting(Source):
    """A source whose fetch is a pure function of the request, counting real fetches."""

    name = "counting"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.fetches = 0

    def series(self, n: int) -> pd.DataFrame:
        return self._get({"method": "series", "n": n})

    def _fetch(self, request: dict) -> pd.DataFrame:
        self.fetches += 1
        n = request["n"]
        frame = pd.DataFrame({
            "timestamp": pd.date_range(AS_OF - pd.Timedelta(minutes=n - 1), AS_OF, freq="min"),
            "value": np.arange(n, dtype="float64"),
            "service": ["api-gateway"] * n,
        })
        frame.loc[0, "value"] = np.nan
        frame.attrs["warnings"] = [f"{n} points"]
        return frame


def test_record_then_replay_gives_identical_frames(tmp_path: Path) -> None:
    live = Counting(recorder=SnapshotRecorder(tmp_path, as_of=AS_OF))
    frames = {n: live.series(n) for n in (1, 5, 60)}
    replay = Counting(replayer=SnapshotReplayer(tmp_path))
    assert replay.now() == AS_OF
    for n, frame in frames.items():
        again = replay.series(n)
        pd.testing.assert_frame_equal(again, frame)
        assert again.attrs == frame.attrs
    assert replay.fetches == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["format"] == "goreliable.snapshot/v1"
    assert {e["rows"] for e in manifest["entries"]} == {1, 5, 60}


def _listed(folder: Path) -> list[int]:
    return [e["request"]["n"] for e in json.loads((folder / "manifest.json").read_text())["entries"]]


def test_a_throttled_recorder_lists_every_result_once_flushed(tmp_path: Path) -> None:
    # min_interval (the run's recorder): the first result is written at once, the next ones wait for the interval
    # or a flush; the flushed manifest is what an unthrottled recorder writes (sorted by request key, not by the
    # order results arrived: 60, 5, 1 -> keys '...:1}', '...:5}', '...:60}' in text order).
    recorder = SnapshotRecorder(tmp_path / "t", as_of=AS_OF, min_interval=3600)
    live = Counting(recorder=recorder)
    for n in (60, 5, 1):
        live.series(n)
    assert _listed(tmp_path / "t") == [60]
    recorder.flush()
    assert _listed(tmp_path / "t") == [1, 5, 60]
    plain = Counting(recorder=SnapshotRecorder(tmp_path / "p", as_of=AS_OF))
    for n in (60, 5, 1):
        plain.series(n)
    assert _listed(tmp_path / "p") == [1, 5, 60]
    throttled, unthrottled = (json.loads((tmp_path / f / "manifest.json").read_text()) for f in ("t", "p"))
    for manifest in (throttled, unthrottled):
        manifest.pop("created_at")
        for entry in manifest["entries"]:
            entry.pop("fetched_at")
    assert throttled == unthrottled
    replay = Counting(replayer=SnapshotReplayer(tmp_path / "t"))
    assert [len(replay.series(n)) for n in (1, 5, 60)] == [1, 5, 60]
    assert replay.fetches == 0
    live.series(5)  # recorded again: replaced, listed once; flushing twice writes nothing new
    recorder.flush()
    recorder.flush()
    assert _listed(tmp_path / "t") == [1, 5, 60]


def test_a_throttled_recorder_flushes_when_the_process_exits(tmp_path: Path) -> None:
    # a kernel whose cell failed never calls flush: the atexit handler lists what it recorded
    script = ("import sys; sys.path.insert(0, sys.argv[2]); from tests.test_core_snapshot import Counting, AS_OF;"
              "from goreliable_lib.sources.snapshot import SnapshotRecorder;"
              "live = Counting(recorder=SnapshotRecorder(sys.argv[1], as_of=AS_OF, min_interval=3600));"
              "[live.series(n) for n in (60, 5, 1)]")
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", script, str(tmp_path), str(root)], check=True, timeout=120)
    assert _listed(tmp_path) == [1, 5, 60]


def test_a_miss_names_the_request_and_the_nearest(tmp_path: Path) -> None:
    live = Counting(recorder=SnapshotRecorder(tmp_path, as_of=AS_OF))
    live.series(5)
    live.series(60)
    with pytest.raises(SnapshotMissError) as info:
        Counting(replayer=SnapshotReplayer(tmp_path)).series(61)
    assert '"n": 61' in str(info.value)
    assert info.value.nearest[0] in ({"method": "series", "n": 60}, {"method": "series", "n": 5})
    assert len(info.value.nearest) == 2


def test_a_changed_file_is_detected(tmp_path: Path) -> None:
    Counting(recorder=SnapshotRecorder(tmp_path, as_of=AS_OF)).series(5)
    parquet = next(tmp_path.glob("*.parquet"))
    pd.DataFrame({"value": [1.0]}).to_parquet(parquet)
    with pytest.raises(SourceError, match="checksum mismatch"):
        Counting(replayer=SnapshotReplayer(tmp_path)).series(5)


def test_not_a_snapshot(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no manifest.json"):
        SnapshotReplayer(tmp_path)
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(SourceError, match="not valid JSON"):
        SnapshotReplayer(tmp_path)


def test_a_replayed_run_records_too(tmp_path: Path) -> None:
    Counting(recorder=SnapshotRecorder(tmp_path / "a", as_of=AS_OF)).series(3)
    copy = SnapshotRecorder(tmp_path / "b", as_of=AS_OF)
    Counting(replayer=SnapshotReplayer(tmp_path / "a"), recorder=copy).series(3)
    pd.testing.assert_frame_equal(Counting(replayer=SnapshotReplayer(tmp_path / "b")).series(3),
                                  Counting(replayer=SnapshotReplayer(tmp_path / "a")).series(3))
    # the replayed result's file is copied as it is, not encoded again: a snapshot written another way (snappy,
    # as an older kit wrote them) is recorded with the same bytes, the same checksum
    (tmp_path / "b").rename(tmp_path / "b-first")
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    for entry in manifest["entries"]:
        file = tmp_path / "a" / entry["file"]
        pd.read_parquet(file).to_parquet(file, index=False, compression="snappy")
        entry["sha256"] = hashlib.sha256(file.read_bytes()).hexdigest()
    (tmp_path / "a" / "manifest.json").write_text(json.dumps(manifest))
    Counting(replayer=SnapshotReplayer(tmp_path / "a"), recorder=SnapshotRecorder(tmp_path / "b", as_of=AS_OF)
             ).series(3)
    files = {folder: {e["file"]: e for e in json.loads((tmp_path / folder / "manifest.json").read_text())["entries"]}
             for folder in ("a", "b")}
    assert files["a"].keys() == files["b"].keys()
    for name, entry in files["a"].items():
        assert (tmp_path / "b" / name).read_bytes() == (tmp_path / "a" / name).read_bytes()
        assert (files["b"][name]["sha256"], files["b"][name]["rows"], files["b"][name]["attrs"]) == (
            entry["sha256"], entry["rows"], entry["attrs"])


def _demo_drills_snapshot(folder: Path, uri: str) -> None:
    """The bundled demo's drill-log result as a snapshot whose endpoint and request hold `uri`."""
    demo = demo_snapshot_path()
    manifest = json.loads((demo / "manifest.json").read_text())
    entry = next(e for e in manifest["entries"] if e["source"] == "drills")
    folder.mkdir()
    (folder / entry["file"]).write_bytes((demo / entry["file"]).read_bytes())
    entry["request"]["uri"] = uri
    manifest.update(entries=[entry], endpoints={"drills": uri})
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_a_manifest_the_scrubber_rewrote_replays_as_it_is(tmp_path: Path) -> None:
    """Issue 13: the old scrubber turned s3://goreliable-drills/drills into s3://[REDACTED]-drills/drills in the
    manifest; the offline re-run died in urlsplit ('REDACTED' does not appear to be an IPv4 or IPv6 address)."""
    _demo_drills_snapshot(tmp_path / "snap", "s3://[REDACTED]-drills/drills")
    sources = connect(settings=load_settings({"GORELIABLE_CONFIG": os.devnull},
                                             profile=f"snapshot:{tmp_path / 'snap'}"))
    assert sources.describe()["endpoints"] == {"drills": "s3://[REDACTED]-drills/drills"}
    assert len(sources.drills.components()) > 0


def test_manifest_entries_are_checked(tmp_path: Path) -> None:
    Counting(recorder=SnapshotRecorder(tmp_path, as_of=AS_OF)).series(5)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    good = manifest["entries"][0]
    cases = {"../../etc/passwd": "entries\\[0\\].file: '../../etc/passwd' is not a file name",
             "/etc/passwd": "is not a file name", 7: "entries\\[0\\].file: expected text"}
    for file, message in cases.items():
        (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "entries": [{**good, "file": file}]}))
        with pytest.raises(SourceError, match=message):
            SnapshotReplayer(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "as_of": "soon"}))
    with pytest.raises(SourceError, match="as_of"):
        SnapshotReplayer(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / good["file"]).unlink()
    with pytest.raises(SourceError, match="the manifest lists it but it cannot be read"):
        Counting(replayer=SnapshotReplayer(tmp_path)).series(5)


def test_a_replay_reads_every_demo_file_as_pandas_reads_it() -> None:
    """The replayer reads a file with pyarrow's ParquetFile (no dataset: 40% faster); every recorded result of the
    bundled demo (Prometheus, Kubecost, drills, the archive: 1,100 files) comes back as `pd.read_parquet` gives it,
    dtypes (pandas' `str` for text) and all."""
    folder = demo_snapshot_path()
    replayer = SnapshotReplayer(folder)
    entries = json.loads((folder / "manifest.json").read_text())["entries"]
    assert len({e["source"] for e in entries}) >= 3 and len(entries) > 1000
    for entry in entries:
        replayed = replayer.lookup(entry["source"], entry["request"])
        pd.testing.assert_frame_equal(replayed, pd.read_parquet(folder / entry["file"]), obj=entry["file"])
