"""The SLO event archive: the exact per-minute good/total events of every SLO definition and UTC day a run
computed, kept across runs, so a window longer than the server's retention is still exact, and a year of
monthly compliance costs nothing to fetch.

Layout, under the archive's URI (`<out>/archive/` of the runs, or GORELIABLE_ARCHIVE_URI; a folder or s3://):
```
<key>/slo.json                  the definition the key stands for (selectors, engine version) and its names
<key>/2026-11-01.parquet        a complete day: 1,440 minutes, every one with a sample (coverage 100%)
<key>/2026-11-02.partial.parquet   a day written from data with gaps (coverage below 100%)
```
`<key>` is a hash of what decides the events (the selectors as sent, the engine's version), so a changed SLO
never mixes with old days and a renamed one keeps its history. A minute `t` holds the events of the samples in
(t - 1 min, t], as everywhere in the kit; the day D holds the minutes (D 00:00, D+1 00:00].

Writes are atomic and happen once: a complete day is created only if absent (local: a hard link of a finished
temporary file; S3: `PutObject` with `If-None-Match: *`), so a second writer of the same day is a no-op. A partial
day is replaced only by one with more coverage (S3: `If-Match` on the ETag read), and a complete day supersedes it
(the partial file is removed). Every file carries a SHA-256 of its data in its Parquet metadata; a missing,
truncated or corrupt file is named in a warning and never used. Reads go through `Source._get` like every fetch,
so a run's snapshot replays them offline; a replaying source never writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import BotoCoreError, ClientError

from goreliable_lib.errors import BadInputError, SourceError
from goreliable_lib.sources.base import Source
from goreliable_lib.sources.drills import s3_client
from goreliable_lib.timeutil import DAY, MINUTE, empty_events, parse_time, to_rfc3339, utc_days

FORMAT = "goreliable.slo-archive/v1"
DEFINITION_FILE = "slo.json"
MINUTES_A_DAY = 1440
COLUMNS = ("timestamp", "good", "total")
_CONDITION_FAILED = {"PreconditionFailed", "ConditionalRequestConflict"}


def definition_key(definition: Mapping[str, Any]) -> str:
    """The archive key of an SLO definition: the first 20 hex digits of the SHA-256 of its canonical JSON."""
    text = json.dumps(dict(definition), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def day_name(day: pd.Timestamp, *, complete: bool) -> str:
    return f"{day:%Y-%m-%d}{'' if complete else '.partial'}.parquet"


def _data_digest(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    digest.update(pd.DatetimeIndex(frame["timestamp"]).as_unit("ns").asi8.tobytes())
    for column in ("good", "total"):
        digest.update(frame[column].to_numpy(dtype=np.float64).tobytes())
    return digest.hexdigest()


def encode_day(key: str, day: pd.Timestamp, events: pd.DataFrame) -> tuple[bytes, float]:
    """One day's Parquet file (its 1,440 minutes, missing minutes as NaN) and its coverage."""
    minutes = pd.date_range(day + MINUTE, day + DAY, freq="min", name="timestamp")
    frame = events.set_index("timestamp")[["good", "total"]].reindex(minutes).reset_index()
    coverage = float(frame["total"].notna().mean())
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({
        **(table.schema.metadata or {}), b"goreliable": json.dumps({
            "format": FORMAT, "key": key, "day": f"{day:%Y-%m-%d}", "coverage": coverage,
            "sha256": _data_digest(frame)}).encode()})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue(), coverage


def decode_day(data: bytes, key: str, day: pd.Timestamp, name: str) -> pd.DataFrame:
    """The minutes of one day file; ValueError naming the file when it is truncated, corrupt or not this day's."""
    try:
        table = pq.read_table(io.BytesIO(data))
        meta = json.loads((table.schema.metadata or {}).get(b"goreliable", b"{}"))
        frame = table.to_pandas()
    except Exception as exc:  # pyarrow raises several kinds for a truncated or garbled file
        raise ValueError(f"{name}: unreadable ({type(exc).__name__})") from None
    if meta.get("format") != FORMAT or meta.get("key") != key or meta.get("day") != f"{day:%Y-%m-%d}":
        raise ValueError(f"{name}: not the archive file of this SLO and day")
    if list(frame.columns) != list(COLUMNS) or len(frame) != MINUTES_A_DAY:
        raise ValueError(f"{name}: expected {MINUTES_A_DAY} minutes of {', '.join(COLUMNS)}")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    if _data_digest(frame) != meta.get("sha256"):
        raise ValueError(f"{name}: checksum mismatch (the file was changed or damaged)")
    return frame


# --------------------------------------------------------------------------------------------- storage
@dataclass(frozen=True)
class Stored:
    """One object of the archive: its name (relative to the archive root) and its version (ETag or mtime)."""

    name: str
    version: str


class _Folder:
    """A local folder: atomic creation by hard-linking a finished temporary file."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return str(self.root)

    def _check(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise NotADirectoryError(f"{self.root} is not a folder")

    def list(self, prefix: str) -> list[Stored]:
        self._check()
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        return [Stored(f"{prefix}/{p.name}", str(p.stat().st_mtime_ns)) for p in sorted(folder.iterdir())
                if p.is_file() and not p.name.startswith(".")]

    def folders(self) -> list[str]:
        self._check()
        return sorted(p.name for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() else []

    def read(self, name: str) -> tuple[bytes, str] | None:
        path = self.root / name
        try:
            return path.read_bytes(), str(path.stat().st_mtime_ns)
        except FileNotFoundError:
            return None

    def _temporary(self, name: str, data: bytes) -> Path:
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        return Path(temporary)

    def create(self, name: str, data: bytes) -> bool:
        temporary = self._temporary(name, data)
        try:
            os.link(temporary, self.root / name)
            return True
        except FileExistsError:
            return False
        finally:
            temporary.unlink(missing_ok=True)

    def replace(self, name: str, data: bytes, version: str) -> bool:
        current = self.read(name)
        if current is None or current[1] != version:
            return False
        os.replace(self._temporary(name, data), self.root / name)
        return True

    def delete(self, name: str) -> None:
        (self.root / name).unlink(missing_ok=True)


class _Bucket:
    """An S3 prefix: conditional writes (If-None-Match / If-Match), as AWS S3 and moto support them."""

    def __init__(self, bucket: str, prefix: str, client: Any = None) -> None:
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = s3_client()
        return self._client

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def list(self, prefix: str) -> list[Stored]:
        start = self._key(prefix) + "/"
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
            for item in page.get("Contents", []):
                found.append(Stored(f"{prefix}/{item['Key'][len(start):]}", item["ETag"]))
        return sorted(found, key=lambda s: s.name)

    def folders(self) -> list[str]:
        start = self._key("") if self.prefix else ""
        start = start if start.endswith("/") or not start else start + "/"
        keys = set()
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start,
                                                                           Delimiter="/"):
            keys.update(p["Prefix"][len(start):].rstrip("/") for p in page.get("CommonPrefixes", []))
        return sorted(keys)

    def read(self, name: str) -> tuple[bytes, str] | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(name))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise
        return answer["Body"].read(), answer["ETag"]

    def _put(self, name: str, data: bytes, **condition: str) -> bool:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(name), Body=data, **condition)
            return True
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if exc.response.get("Error", {}).get("Code") in _CONDITION_FAILED or status in {409, 412}:
                return False
            raise

    def create(self, name: str, data: bytes) -> bool:
        return self._put(name, data, IfNoneMatch="*")

    def replace(self, name: str, data: bytes, version: str) -> bool:
        return self._put(name, data, IfMatch=version)

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(name))


def storage_for(uri: str, *, s3: Any = None) -> _Folder | _Bucket:
    """The storage of an archive URI: `s3://bucket/prefix` or a local folder."""
    text = str(uri).strip()
    if not text:
        raise BadInputError("GORELIABLE_ARCHIVE_URI: empty (s3://bucket/prefix or a folder)")
    if text.startswith("s3://"):
        bucket, _, prefix = text[5:].partition("/")
        if not bucket:
            raise BadInputError(f"GORELIABLE_ARCHIVE_URI: {uri!r} names no bucket (use s3://bucket/prefix)")
        return _Bucket(bucket, prefix, s3)
    if "://" in text:
        raise BadInputError(f"GORELIABLE_ARCHIVE_URI: {uri!r}: only s3://bucket/prefix and local folders")
    return _Folder(Path(text).expanduser().resolve())


# --------------------------------------------------------------------------------------------- the source
def complete_days(start: pd.Timestamp, end: pd.Timestamp) -> list[pd.Timestamp]:
    """The UTC days wholly inside (start, end] (the minutes a computation covered)."""
    first = start.ceil("D")
    last = end.floor("D") - DAY
    return list(pd.date_range(first, last, freq="D")) if last >= first else []


class ArchiveSource(Source):
    """The archive as a source: `days(key)` and `read(key, days)` are recorded and replayed like every fetch;
    `write(...)` is the one writing path (a replaying source writes nothing)."""

    name = "archive"

    def __init__(self, uri: str, *, recorder: Any = None, replayer: Any = None, clock: Any = None,
                 s3_client: Any = None) -> None:
        super().__init__(recorder=recorder, replayer=replayer, clock=clock)
        self.uri = uri
        self._storage = storage_for(uri, s3=s3_client)
        self._listed: dict[str, pd.DataFrame] = {}  # `days` of a key, until this source writes to it

    def __repr__(self) -> str:
        return f"ArchiveSource({self.uri!r})"

    def _get(self, request: dict[str, Any]) -> pd.DataFrame:
        """A snapshot recorded without an archive (before it existed, or by a run without one) replays as an empty
        archive; one that has archive entries replays them exactly (a missing one is a miss, as for any source)."""
        if self.replayer is not None and not self.replayer.requests(self.name):
            frame = self._empty_answer(request)
            if self.recorder is not None:
                self.recorder.record(self.name, request, frame)
            return frame
        return super()._get(request)

    @staticmethod
    def _empty_answer(request: dict[str, Any]) -> pd.DataFrame:
        if request["method"] == "keys":
            return pd.DataFrame(columns=["key", "names", "definition"])
        if request["method"] == "days":
            return pd.DataFrame({"day": pd.DatetimeIndex([], tz="UTC"), "complete": pd.Series([], dtype=bool)})
        frame = _no_days()
        frame.attrs["warnings"] = []
        return frame

    def _fetch(self, request: dict[str, Any]) -> pd.DataFrame:
        try:
            if request["method"] == "days":
                return self._list_days(request["key"])
            if request["method"] == "keys":
                return self._list_keys()
            return self._read_days(request["key"], [pd.Timestamp(d, tz="UTC") for d in request["days"]])
        except (ClientError, BotoCoreError, OSError) as exc:
            raise SourceError(f"SLO archive at {self._storage.describe()}: {type(exc).__name__}: {exc}") from None

    # ---- reading --------------------------------------------------------------------------------------
    def keys(self) -> pd.DataFrame:
        """One row per SLO definition in the archive: `key`, `names`, `definition` (JSON text)."""
        return self._get({"method": "keys"})

    def days(self, key: str) -> pd.DataFrame:
        """The days held for a key: `day` (UTC midnight), `complete` (bool), one row per day (complete wins). Listed
        once for this source (a run asks for one SLO's days three times) until it writes to the key."""
        if key not in self._listed:
            self._listed[key] = self._get({"method": "days", "key": key})
        return self._listed[key].copy()

    def read(self, key: str, days: Iterable[pd.Timestamp]) -> pd.DataFrame:
        """The per-minute events of those days (`timestamp`, `good`, `total`, `day`); a day that is missing or
        fails its checks is left out and named in `attrs["warnings"]`."""
        wanted = utc_days(days)
        return self._get({"method": "read", "key": key, "days": [f"{d:%Y-%m-%d}" for d in wanted]})

    def _list_keys(self) -> pd.DataFrame:
        rows = []
        for key in self._storage.folders():
            stored = self._storage.read(f"{key}/{DEFINITION_FILE}")
            try:
                described = json.loads(stored[0]) if stored else {}
            except ValueError:
                described = {}
            rows.append({"key": key, "names": ", ".join(described.get("names", [])),
                         "definition": json.dumps(described.get("definition", {}), sort_keys=True)})
        return pd.DataFrame(rows, columns=["key", "names", "definition"])

    def _day_files(self, key: str) -> dict[pd.Timestamp, Stored]:
        """The file each day is read from: the complete one when both exist."""
        chosen: dict[pd.Timestamp, Stored] = {}
        for stored in self._storage.list(key):
            base = stored.name.rsplit("/", 1)[-1]
            if not base.endswith(".parquet"):
                continue
            stem = base.removesuffix(".parquet")
            partial = stem.endswith(".partial")
            try:
                day = pd.Timestamp(stem.removesuffix(".partial"), tz="UTC")
            except ValueError:
                continue
            if day not in chosen or not partial:
                chosen[day] = stored
        return chosen

    def _list_days(self, key: str) -> pd.DataFrame:
        files = self._day_files(key)
        return pd.DataFrame({"day": pd.DatetimeIndex(sorted(files), tz="UTC"),
                             "complete": [not files[d].name.endswith(".partial.parquet") for d in sorted(files)]})

    def _read_days(self, key: str, days: list[pd.Timestamp]) -> pd.DataFrame:
        files = self._day_files(key)
        frames, warnings = [], []
        for day in days:
            stored = files.get(day)
            if stored is None:
                continue
            found = self._storage.read(stored.name)
            if found is None:
                warnings.append(f"SLO archive: {stored.name} vanished while reading; the day is not used")
                continue
            try:
                frames.append(decode_day(found[0], key, day, stored.name).assign(day=day))
            except ValueError as exc:
                warnings.append(f"SLO archive at {self._storage.describe()}: {exc}; the day is not used")
        frame = pd.concat(frames, ignore_index=True) if frames else _no_days()
        frame.attrs["warnings"] = warnings
        return frame

    # ---- writing --------------------------------------------------------------------------------------
    def write(self, key: str, definition: Mapping[str, Any], name: str, events: pd.DataFrame,
              start: Any, end: Any) -> dict[str, list[str]]:
        """Keep the complete UTC days of `events` computed over (start, end]: created once (a second writer is a
        no-op); a partial day only replaces a partial one with less coverage, and a complete day supersedes it.
        Returns the days by outcome (`written`, `kept`, `replaced`); nothing when replaying a snapshot."""
        outcome: dict[str, list[str]] = {"written": [], "kept": [], "replaced": []}
        if self.offline:
            return outcome
        self._listed.pop(key, None)
        start, end = parse_time(start, field="start"), parse_time(end, field="end")
        try:
            self._write_definition(key, definition, name)
            files = self._day_files(key)
            for day in complete_days(start, end):
                inside = events[(events["timestamp"] > day) & (events["timestamp"] <= day + DAY)]
                data, coverage = encode_day(key, day, inside)
                if coverage == 0:  # no sample at all (before the server's data): nothing to keep
                    continue
                label = f"{day:%Y-%m-%d}"
                existing = files.get(day)
                if existing is not None and not existing.name.endswith(".partial.parquet"):
                    outcome["kept"].append(label)
                elif coverage >= 1.0:
                    created = self._storage.create(f"{key}/{day_name(day, complete=True)}", data)
                    outcome["written" if created else "kept"].append(label)
                    if existing is not None:
                        self._storage.delete(existing.name)
                elif existing is None:
                    created = self._storage.create(f"{key}/{day_name(day, complete=False)}", data)
                    outcome["written" if created else "kept"].append(label)
                else:
                    replaced = self._replace_partial(key, day, existing, data, coverage)
                    outcome["replaced" if replaced else "kept"].append(label)
        except (ClientError, BotoCoreError, OSError) as exc:
            raise SourceError(f"SLO archive at {self._storage.describe()}: cannot write: "
                              f"{type(exc).__name__}: {exc}") from None
        return outcome

    def _replace_partial(self, key: str, day: pd.Timestamp, existing: Stored, data: bytes, coverage: float) -> bool:
        found = self._storage.read(existing.name)
        if found is not None:
            with contextlib.suppress(ValueError):
                old = decode_day(found[0], key, day, existing.name)
                if float(old["total"].notna().mean()) >= coverage:
                    return False
        return self._storage.replace(existing.name, data, found[1] if found else existing.version)

    def _write_definition(self, key: str, definition: Mapping[str, Any], name: str) -> None:
        path = f"{key}/{DEFINITION_FILE}"
        found = self._storage.read(path)
        described = json.loads(found[0]) if found else {"format": FORMAT, "definition": dict(definition),
                                                         "names": [], "created_at": to_rfc3339(self.now())}
        if name in described.get("names", []):
            return
        described["names"] = sorted({*described.get("names", []), name})
        data = (json.dumps(described, indent=1, sort_keys=True) + "\n").encode()
        if found is None:
            self._storage.create(path, data)
        else:
            self._storage.replace(path, data, found[1])  # a lost race only loses a name, never events


def _no_days() -> pd.DataFrame:
    """An archive answer without days: the events frame's columns and `day`."""
    return empty_events().assign(day=pd.DatetimeIndex([], tz="UTC"))
