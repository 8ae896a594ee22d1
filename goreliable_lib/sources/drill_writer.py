"""Append one drill event to its log, on S3 or in a folder: `append_event(uri, event)` (`goreliable drill event`).

The event is validated as `goreliable.drill/v1` first; an invalid event raises `BadInputError` naming the field
and nothing is written. It is appended to the drill's log under the URI: the existing `<drill_id>.jsonl`
anywhere under it, else `YYYY/QN/<drill_id>.jsonl` (year and quarter from the date the drill id starts with,
else from `ts`), the simulator's layout. A missing `scenario` is taken from the drill's existing log.

- Folder: the URI folder must exist; the file is appended under an exclusive `flock`.
- S3: read-modify-write guarded by S3 conditional writes: `PutObject` with `If-Match: <ETag read>` (or
  `If-None-Match: *` for a new log). If another writer changed the log in between, S3 answers 412 and we read
  again and retry (up to 5 times), so a concurrent writer's line is never silently lost. AWS S3 supports these
  conditions since 2024, and so does moto (checked against moto 5.2 in the tests).
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError

from goreliable_lib.errors import BadInputError, DrillLogError
from goreliable_lib.sources.drills import (
    SCHEMA,
    DrillEvent,
    parse_drills_uri,
    parse_event,
    parse_log,
    s3_client,
    s3_error,
)
from goreliable_lib.timeutil import parse_time, to_rfc3339

MAX_ATTEMPTS = 5
_DATED = re.compile(r"^(?P<year>\d{4})-(?P<month>\d{2})-\d{2}")


def validate_event(event: Mapping[str, Any], *, now: pd.Timestamp | None = None) -> DrillEvent:
    """The event as a validated `DrillEvent` (schema filled in, `ts` defaulting to now); `BadInputError` naming
    the field otherwise."""
    data = dict(event)
    data.setdefault("schema", SCHEMA)
    if data.get("ts") is None:
        data["ts"] = to_rfc3339(now if now is not None else pd.Timestamp.now(tz="UTC").floor("s"))
    elif not isinstance(data["ts"], str):
        data["ts"] = to_rfc3339(parse_time(data["ts"], field="ts"))
    if data.get("scenario") is None:
        data.pop("scenario", None)
    try:
        return parse_event(data)
    except ValueError as exc:
        raise BadInputError(f"drill event refused, nothing written: {exc}") from None


def log_key(drill_id: str, ts: pd.Timestamp | Any) -> str:
    """`YYYY/QN/<drill_id>.jsonl`, relative to the drills URI."""
    match = _DATED.match(drill_id)
    if match and 1 <= int(match["month"]) <= 12:
        year, month = int(match["year"]), int(match["month"])
    else:
        stamp = pd.Timestamp(ts)
        year, month = stamp.year, stamp.month
    return f"{year}/Q{(month - 1) // 3 + 1}/{drill_id}.jsonl"


def _scenario_of(content: bytes) -> str | None:
    rows, _ = parse_log(content, "", "")
    return next((row["scenario"] for row in rows if row["scenario"]), None)


def _with_scenario(event: DrillEvent, content: bytes) -> DrillEvent:
    if event.scenario is None and content and (scenario := _scenario_of(content)):
        return event.model_copy(update={"scenario": scenario})
    return event


def _joined(content: bytes, line: bytes) -> bytes:
    return content + (b"\n" if content and not content.endswith(b"\n") else b"") + line


def append_event(uri: str, event: Mapping[str, Any], *, s3: Any = None, now: pd.Timestamp | None = None) -> str:
    """Validate `event` and append it to its drill's log under `uri`; returns where it was written."""
    validated = validate_event(event, now=now)
    kind, where, prefix = parse_drills_uri(uri)
    if kind == "file":
        return _append_folder(Path(where), validated)
    return _append_s3(s3 if s3 is not None else s3_client(), where, prefix, validated)


def _append_folder(folder: Path, event: DrillEvent) -> str:
    if not folder.is_dir():
        raise DrillLogError(f"drill logs at {folder}: folder does not exist (nothing written)")
    existing = sorted(folder.rglob(f"{event.drill_id}.jsonl"))
    path = existing[0] if existing else folder / log_key(event.drill_id, event.ts)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.seek(0)
            content = handle.read()
            line = _with_scenario(event, content).to_line()
            handle.write(line if not content or content.endswith(b"\n") else b"\n" + line)
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return str(path)


def _append_s3(client: Any, bucket: str, prefix: str, event: DrillEvent) -> str:
    base = f"{prefix}/" if prefix else ""
    uri = f"s3://{bucket}/{prefix}".rstrip("/")
    name = f"{event.drill_id}.jsonl"
    try:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base)
        keys = sorted(item["Key"] for page in pages
                      for item in page.get("Contents", []) if item["Key"].rsplit("/", 1)[-1] == name)
    except (ClientError, BotoCoreError) as exc:
        raise s3_error(uri, "find the drill log", exc) from None
    key = keys[0] if keys else base + log_key(event.drill_id, event.ts)
    location = f"s3://{bucket}/{key}"
    for _attempt in range(MAX_ATTEMPTS):
        try:
            try:
                current = client.get_object(Bucket=bucket, Key=key)
                content, condition = current["Body"].read(), {"IfMatch": current["ETag"]}
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in {"NoSuchKey", "404"}:
                    raise
                content, condition = b"", {"IfNoneMatch": "*"}
            body = _joined(content, _with_scenario(event, content).to_line())
            client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson", **condition)
            return location
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if error.get("Code") in {"PreconditionFailed", "ConditionalRequestConflict"} or status in {409, 412}:
                continue  # someone else wrote the log since we read it: read again
            raise s3_error(location, "append to the drill log", exc) from None
        except BotoCoreError as exc:
            raise s3_error(location, "append to the drill log", exc) from None
    raise DrillLogError(f"drill logs at {location}: the log kept changing under concurrent writers; "
                        f"gave up after {MAX_ATTEMPTS} attempts (nothing written by this command)")
