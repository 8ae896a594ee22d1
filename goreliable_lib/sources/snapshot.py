"""Snapshots: every result a run fetches, recorded as Parquet plus a manifest, and replayed offline.

A snapshot folder holds `manifest.json` and one Parquet file per recorded request. The manifest names the
source, the canonical request (never credentials), when it was fetched, the row count and a SHA-256 of the
Parquet file. Replay looks a request up by (source, canonical JSON); a miss names the request and the
nearest recorded ones, so a user sees at once which parameter differs. Its first line (`SnapshotMissError.summary`,
what `%promql` prints) says which profile replays which snapshot, and how to reach a server instead.

A snapshot is data: it is written from the requests and results as they are (never masked) and replayed as it
is, whatever text its manifest holds. A manifest that is not what this module writes (a missing or mistyped
field, a file outside the folder) is a `SourceError` naming the manifest and the field, never another error.

The manifest lists its entries sorted by request key (the same run gives the same bytes, whatever order concurrent
fetches finished in). A recorder rewrites it after every result unless it is given `min_interval` (the run's
recorder, runner.context: 0.5 s): then it is rewritten at most that often while results arrive, and always by
`flush()` (the run calls it when it writes its summary), by `flush_all()` (the run's kernel calls it before the
runner stops it: runner/context.py `end_of_run`) and when the process exits (an `atexit` flush: a kernel whose cell
failed still leaves a complete manifest). A process killed outright (SIGKILL, an out-of-memory kill) may leave the
last `min_interval` of entries out of the manifest; their Parquet files are there, unlisted.
"""

from __future__ import annotations

import atexit
import contextlib
import difflib
import hashlib
import json
import os
import threading
import time
import weakref
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from goreliable_lib.errors import BadInputError, SnapshotMissError, SourceError
from goreliable_lib.timeutil import parse_time, to_rfc3339, utc_now

FORMAT = "goreliable.snapshot/v1"
MANIFEST = "manifest.json"
#: The setting that points the `live` profile at each source's server (named in a miss's advice).
SERVER_SETTINGS = {"prometheus": "GORELIABLE_PROMETHEUS_URL", "kubecost": "GORELIABLE_KUBECOST_URL",
                   "drills": "GORELIABLE_DRILLS_URI", "archive": "GORELIABLE_ARCHIVE_URI"}


class Encoded(NamedTuple):
    """A recorded result as its snapshot holds it: the Parquet file's bytes and their SHA-256 (checked)."""

    data: bytes
    sha256: str


def request_key(source: str, request: dict[str, Any]) -> str:
    """The lookup key of a request: the source name and its canonical JSON."""
    return source + " " + json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    plain = frame.copy()
    plain.attrs = {}
    plain.to_parquet(  # lossless; ~7x smaller than snappy defaults on minute-grid counter samples
        path, index=False, compression="zstd", compression_level=9,
        use_dictionary=[c for c in plain.columns if pd.api.types.is_string_dtype(plain[c])],  # labels
        column_encoding={  # floats: byte-stream split; times and ints: deltas (1-minute grids cost ~nothing)
            **{c: "BYTE_STREAM_SPLIT" for c in plain.columns if pd.api.types.is_float_dtype(plain[c])},
            **{c: "DELTA_BINARY_PACKED" for c in plain.columns if pd.api.types.is_datetime64_any_dtype(plain[c])
               or (pd.api.types.is_integer_dtype(plain[c]) and not pd.api.types.is_bool_dtype(plain[c]))}})


def _jsonable_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(attrs, default=str))


class SnapshotRecorder:
    """Records fetched frames into a snapshot folder (thread-safe; the manifest is rewritten atomically, after
    every result, or, when `min_interval` is given, at most every `min_interval` seconds (a result recorded sooner
    is written by a timer when that time has passed), on `flush()` and at exit)."""

    def __init__(self, path: str | os.PathLike[str], as_of: pd.Timestamp | str | None = None, *,
                 min_interval: float = 0.0) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.min_interval = min_interval
        self._written_at = float("-inf")  # time.monotonic() of the last manifest write
        self._dirty = False
        self._pending: threading.Timer | None = None  # the write due once `min_interval` has passed
        existing = self.path / MANIFEST
        if existing.exists():
            self._manifest = json.loads(existing.read_text())
        else:
            self._manifest = {"format": FORMAT, "as_of": None, "created_at": to_rfc3339(utc_now()), "entries": []}
        if as_of is not None:
            self._manifest["as_of"] = to_rfc3339(as_of)
        self._keys = {request_key(e["source"], e["request"]): e for e in self._manifest["entries"]}
        if min_interval > 0:
            _THROTTLED.add(self)

    def set_as_of(self, as_of: pd.Timestamp | str) -> None:
        """Set the clock a replay of this snapshot will use as `now`."""
        with self._lock:
            self._manifest["as_of"] = to_rfc3339(as_of)
            self._write_manifest()

    def set_endpoints(self, endpoints: dict[str, str | None]) -> None:
        """Remember the (credential-free) endpoints the results came from, e.g. the drills URI."""
        with self._lock:
            self._manifest["endpoints"] = dict(endpoints)
            self._write_manifest()

    def record(self, source: str, request: dict[str, Any], frame: pd.DataFrame, *,
               encoded: Encoded | None = None) -> None:
        """Store one result; recording the same request again replaces the earlier result. `encoded`: the result
        as another snapshot holds it (a replay: `SnapshotReplayer.read`), written as it is rather than encoded
        again."""
        key = request_key(source, request)
        digest = hashlib.sha256(key.encode()).hexdigest()[:20]
        name = f"{source}-{digest}.parquet"
        target = self.path / name
        tmp = target.with_suffix(".parquet.tmp")
        if encoded is not None:
            tmp.write_bytes(encoded.data)
            checksum = encoded.sha256
        else:
            _write_parquet(frame, tmp)
            checksum = hashlib.sha256(tmp.read_bytes()).hexdigest()
        os.replace(tmp, target)
        entry = {
            "source": source,
            "request": json.loads(json.dumps(request, default=str)),
            "file": name,
            "fetched_at": to_rfc3339(utc_now()),
            "rows": len(frame),
            "sha256": checksum,
            "attrs": _jsonable_attrs(dict(frame.attrs)),
        }
        with self._lock:
            self._keys[key] = entry  # replaces an earlier result of the same request
            self._dirty = True
            wait = self.min_interval - (time.monotonic() - self._written_at)
            if wait <= 0:
                self._write_manifest()
            elif self._pending is None:  # written within `min_interval` at the latest, even if no result follows
                self._pending = threading.Timer(wait, self.flush)
                self._pending.daemon = True
                self._pending.start()

    def flush(self) -> None:
        """Write the manifest now if results arrived since it was last written."""
        with self._lock:
            self._pending = None
            if self._dirty:
                self._write_manifest()

    def _write_manifest(self) -> None:
        if self._manifest.get("as_of") is None:
            self._manifest["as_of"] = to_rfc3339(utc_now())
        # entries in request order, not in the order concurrent fetches finished: the same run gives the same bytes
        self._manifest["entries"] = [self._keys[key] for key in sorted(self._keys)]
        tmp = self.path / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(self._manifest, indent=1, sort_keys=True))
        os.replace(tmp, self.path / MANIFEST)
        self._written_at, self._dirty = time.monotonic(), False


#: The recorders that write their manifest at most every `min_interval` (`flush_all` writes what they hold back).
_THROTTLED: weakref.WeakSet[SnapshotRecorder] = weakref.WeakSet()


def flush_all() -> None:
    """Write the manifest of every throttled recorder holding results not yet listed in it (also at the process's
    exit). A folder that is gone (a test's temporary folder) is skipped."""
    for recorder in list(_THROTTLED):
        with contextlib.suppress(OSError):
            recorder.flush()


atexit.register(flush_all)


def _check_entry(entry: Any, where: str) -> dict[str, Any]:
    """One manifest entry as the recorder writes it, or a SourceError naming the field."""
    if not isinstance(entry, dict):
        raise SourceError(f"{where}: expected an object, got {type(entry).__name__}")
    for field, kind in (("source", str), ("file", str), ("sha256", str)):
        if not isinstance(entry.get(field), kind):
            raise SourceError(f"{where}.{field}: expected text, got {entry.get(field)!r:.100}")
    if "request" not in entry:
        raise SourceError(f"{where}.request: missing")
    file = entry["file"]
    if file in ("", ".", "..") or "/" in file or "\\" in file or "\x00" in file:
        raise SourceError(f"{where}.file: {file!r:.100} is not a file name in the snapshot folder")
    attrs = entry.get("attrs")
    if attrs is not None and not isinstance(attrs, dict):
        raise SourceError(f"{where}.attrs: expected an object, got {type(attrs).__name__}")
    warnings = (attrs or {}).get("warnings")
    if warnings is not None and not (isinstance(warnings, list) and all(isinstance(w, str) for w in warnings)):
        raise SourceError(f"{where}.attrs.warnings: expected a list of texts, got {warnings!r:.100}")
    return entry


class SnapshotReplayer:
    """Answers requests from a snapshot folder; its clock is the snapshot's `as_of`."""

    def __init__(self, path: str | os.PathLike[str], *, profile: str | None = None) -> None:
        self.path = Path(path)
        #: The profile replaying it (`demo`, `snapshot:PATH`), named when a request was not recorded.
        self.profile = profile
        manifest_path = self.path / MANIFEST
        try:
            manifest = json.loads(manifest_path.read_bytes())
        except FileNotFoundError:
            raise SourceError(f"snapshot {self.path}: no {MANIFEST} (is this a snapshot folder?)") from None
        except OSError as exc:
            raise SourceError(f"snapshot {manifest_path}: cannot be read ({exc.strerror or exc})") from None
        except ValueError as exc:  # not JSON, or not UTF-8
            raise SourceError(f"snapshot {manifest_path}: not valid JSON ({exc})") from None
        if not isinstance(manifest, dict):
            raise SourceError(f"snapshot {manifest_path}: expected a JSON object, got {type(manifest).__name__}")
        if manifest.get("format") != FORMAT:
            raise SourceError(f"snapshot {manifest_path}: format {manifest.get('format')!r:.100}, "
                              f"expected {FORMAT!r}")
        if not isinstance(manifest.get("as_of"), str):
            raise SourceError(f"snapshot {manifest_path}: as_of: expected an RFC3339 time, "
                              f"got {manifest.get('as_of')!r:.100}")
        try:
            self.as_of = parse_time(manifest["as_of"], field=f"snapshot {manifest_path}: as_of")
        except BadInputError as exc:
            raise SourceError(str(exc)) from None
        endpoints = manifest.get("endpoints") or {}
        if not isinstance(endpoints, dict) or not all(v is None or isinstance(v, str) for v in endpoints.values()):
            raise SourceError(f"snapshot {manifest_path}: endpoints: expected an object of texts, "
                              f"got {endpoints!r:.100}")
        entries = manifest.get("entries")
        if not isinstance(entries, list):
            raise SourceError(f"snapshot {manifest_path}: entries: expected a list, got {entries!r:.100}")
        self.manifest = manifest
        self.endpoints: dict[str, str | None] = dict(endpoints)
        self._entries = {request_key(e["source"], e["request"]): e for e in (
            _check_entry(entry, f"snapshot {manifest_path}: entries[{i}]") for i, entry in enumerate(entries))}

    def requests(self, source: str | None = None) -> list[dict[str, Any]]:
        """The recorded requests, optionally of one source."""
        return [e["request"] for e in self.manifest["entries"] if source is None or e["source"] == source]

    def has(self, source: str, request: dict[str, Any]) -> bool:
        """True when the snapshot recorded a result for `request`."""
        return request_key(source, request) in self._entries

    def describe(self) -> str:
        """What replays this snapshot, for messages: the demo profile, a `snapshot:PATH` profile, or the folder."""
        if self.profile == "demo":
            return f"the demo profile replays the bundled snapshot at {self.path}"
        if self.profile:
            return f"profile {self.profile} replays the snapshot at {self.path}"
        return f"the snapshot at {self.path} is replayed"

    def miss_summary(self, source: str) -> str:
        """The one line of a miss: what replays which snapshot, and how to reach a server instead."""
        setting = SERVER_SETTINGS.get(source, "the source's URL (README: Configuration)")
        what = "query" if source == "prometheus" else f"{source} request"
        return (f"{self.describe()}, which did not record this {what}: ad-hoc queries need a server (`make lab` "
                f"starts the local stack and opens the lab on it; or set GORELIABLE_PROFILE=live and {setting})")


    def lookup(self, source: str, request: dict[str, Any]) -> pd.DataFrame:
        """The recorded frame for a request, checked against its checksum."""
        return self.read(source, request)[0]

    def read(self, source: str, request: dict[str, Any]) -> tuple[pd.DataFrame, Encoded]:
        """The recorded frame for a request and the file it was read from (its bytes checked against the
        manifest's checksum)."""
        key = request_key(source, request)
        entry = self._entries.get(key)
        if entry is None:
            candidates = {request_key(source, r): r for r in self.requests(source)}
            nearest_keys = difflib.get_close_matches(key, list(candidates), n=3, cutoff=0.0)
            nearest = [candidates[k] for k in nearest_keys]
            lines = "\n".join(f"  - {json.dumps(r, sort_keys=True, default=str)}" for r in nearest) or "  (none)"
            summary = self.miss_summary(source)
            raise SnapshotMissError(
                f"{summary}\n  {source} request: {json.dumps(request, sort_keys=True, default=str)}\n"
                f"  nearest recorded:\n{lines}",
                request=request, nearest=nearest, summary=summary)
        file = self.path / entry["file"]
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise SourceError(f"snapshot {file}: the manifest lists it but it cannot be read "
                              f"({exc.strerror or exc})") from None
        checksum = hashlib.sha256(data).hexdigest()
        if checksum != entry["sha256"]:
            raise SourceError(f"snapshot {file}: checksum mismatch (the file was changed or is corrupt)")
        try:
            # pyarrow's own reader of one file: pandas' read_parquet goes through a dataset (1 ms more a file, 40%)
            frame = pq.ParquetFile(pa.BufferReader(data)).read().to_pandas()
        except Exception as exc:  # pyarrow raises many kinds (ArrowInvalid, OSError, ...) for a bad file
            raise SourceError(f"snapshot {file}: not a readable Parquet file ({type(exc).__name__}: "
                              f"{str(exc)[:200]})") from None
        frame.attrs = json.loads(json.dumps(entry.get("attrs") or {}))  # a copy: replays never share state
        return frame, Encoded(data, checksum)


def merge_snapshots(folders: list[Path], target: Path, *, as_of: pd.Timestamp | str,
                    endpoints: dict[str, str | None] | None = None) -> int:
    """Merge snapshot folders into `target` (later folders win on the same request); returns the entry count."""
    target.mkdir(parents=True, exist_ok=True)
    merged: dict[str, dict[str, Any]] = {}
    for folder in folders:
        manifest = json.loads((folder / MANIFEST).read_text())
        for entry in manifest["entries"]:
            data = (folder / entry["file"]).read_bytes()
            if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                raise SourceError(f"snapshot {folder / entry['file']}: checksum mismatch")
            (target / entry["file"]).write_bytes(data)
            merged[request_key(entry["source"], entry["request"])] = entry
    keep = {entry["file"] for entry in merged.values()}
    for stale in target.glob("*.parquet"):
        if stale.name not in keep:
            stale.unlink()
    manifest = {"format": FORMAT, "as_of": to_rfc3339(as_of), "created_at": to_rfc3339(utc_now()),
                "endpoints": dict(endpoints or {}),
                "entries": sorted(merged.values(), key=lambda e: (e["source"], e["file"]))}
    (target / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return len(merged)
