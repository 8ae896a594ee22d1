"""Drill logs (`goreliable.drill/v1` JSON Lines) from `s3://bucket/prefix` or a local folder.

Reading rules (the contract the DR report relies on):
- every `*.jsonl` file under the URI is read (S3: paginated `list_objects_v2`; folder: recursively), in key order;
  other files are ignored; blank lines are skipped silently;
- each line is validated against `DrillEvent`; an invalid line (bad JSON, wrong schema, missing field, bad `ts`,
  unknown event type, negative `data_loss_seconds`, ...) is reported as "<file> line N: <problem>" in
  `frame.attrs["warnings"]` and as a Python `DrillLogWarning`, then skipped; the rest is still read;
- unknown fields are kept in the `extra` column (a dict);
- exact duplicates (same drill, component, event, ts, data loss, note and extra fields) are dropped with a
  warning naming both lines; events are then sorted by (`drill_id`, `ts`) whatever the order in the files
  (logs appended from several laptops are often out of order; that is not a warning);
- components not in `known_components` (default: the seed's DR table) are kept and flagged
  `known_component=False`, with one warning per drill and component;
- missing bucket, access denied, unreachable endpoint, missing folder: `DrillLogError` naming the URI;
  a URI with no drill logs gives empty frames with a warning.

Derived per drill and component (`components()`): RTO = the component's last `recovered` minus the drill's
first `disaster_declared` (a component that recovered, failed again and recovered counts at its final
recovery); RPO = the largest `data_loss_seconds` of the component (NaN = unknown, no `data_loss` event);
drill duration = the last `recovered` minus `disaster_declared`, NaN for an aborted drill (it never finished).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import math
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import orjson
import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from goreliable_lib.errors import BadInputError, DrillLogError
from goreliable_lib.inputs.dr_targets import SEED_COMPONENTS
from goreliable_lib.sources.base import Source

SCHEMA = "goreliable.drill/v1"
#: The AWS SDK, loaded by name by `s3_client`: 0.1 s of imports that a kernel reading no S3 (a report on Prometheus,
#: a local archive or the demo) does without.
AWS_SDK = "boto3"
ALL_COMPONENTS = "*"
EVENT_TYPES = ("disaster_declared", "recovery_started", "recovered", "verified", "data_loss", "aborted", "note")
EventType = Literal["disaster_declared", "recovery_started", "recovered", "verified", "data_loss", "aborted", "note"]
DRILL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"

EVENT_COLUMNS = ["file", "line", "schema", "drill_id", "scenario", "component", "event", "ts",
                 "data_loss_seconds", "note", "extra", "known_component"]
COMPONENT_COLUMNS = ["drill_id", "scenario", "component", "disaster_declared_at", "recovery_started_at",
                     "recovered_at", "verified_at", "rto_seconds", "rpo_seconds", "aborted", "aborted_at",
                     "drill_duration_seconds", "known_component"]


class DrillLogWarning(UserWarning):
    """A drill log line was skipped or something in the logs looks wrong."""


#: The times a drill event may carry: what pandas' nanosecond timestamps hold (1677-09-22 .. 2262-04-11).
EARLIEST_TS = pd.Timestamp.min.ceil("s").to_pydatetime().replace(tzinfo=dt.UTC)
LATEST_TS = pd.Timestamp.max.floor("s").to_pydatetime().replace(tzinfo=dt.UTC)


def _parse_ts(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError(f"expected an RFC3339 string like 2026-08-14T10:23:41Z, got {value!r}")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an RFC3339 time like 2026-08-14T10:23:41Z") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone (end it with Z)")
    try:
        utc = parsed.astimezone(dt.UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00
        utc = None
    if utc is None or not EARLIEST_TS <= utc <= LATEST_TS:
        raise ValueError(f"{value!r} is out of range ({EARLIEST_TS:%Y-%m-%d} .. {LATEST_TS:%Y-%m-%d})")
    return utc


class DrillEvent(BaseModel):
    """One `goreliable.drill/v1` line. Unknown fields are allowed and kept (`model_extra`)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    schema_: Literal["goreliable.drill/v1"] = Field(alias="schema")
    drill_id: Annotated[str, Field(strict=True, pattern=DRILL_ID_PATTERN)]
    scenario: Annotated[str, Field(strict=True, min_length=1)] | None = None
    component: Annotated[str, Field(strict=True, min_length=1, max_length=128)]
    event: EventType
    ts: Annotated[dt.datetime, BeforeValidator(_parse_ts)]
    data_loss_seconds: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] | None = None
    note: Annotated[str, Field(strict=True)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> DrillEvent:
        if self.event == "data_loss" and self.data_loss_seconds is None:
            raise ValueError("data_loss_seconds: required on a data_loss event")
        if self.event != "data_loss" and self.data_loss_seconds is not None:
            raise ValueError(f"data_loss_seconds: only allowed on data_loss events, not {self.event}")
        if self.event == "disaster_declared" and self.component != ALL_COMPONENTS:
            raise ValueError(f"component: disaster_declared applies to all components ('*'), got {self.component!r}")
        if (self.event in {"recovery_started", "recovered", "verified", "data_loss"}
                and self.component == ALL_COMPONENTS):
            raise ValueError(f"component: {self.event} needs a component name, not '*'")
        return self

    def to_line(self) -> bytes:
        """The JSON line (known fields in schema order, then the extra fields), newline included."""
        data: dict[str, Any] = {"schema": self.schema_, "drill_id": self.drill_id}
        if self.scenario is not None:
            data["scenario"] = self.scenario
        data.update(component=self.component, event=self.event, ts=format_ts(self.ts))
        if self.data_loss_seconds is not None:
            loss = self.data_loss_seconds
            data["data_loss_seconds"] = int(loss) if float(loss).is_integer() else loss
        if self.note is not None:
            data["note"] = self.note
        data.update(self.model_extra or {})
        return orjson.dumps(data) + b"\n"


def format_ts(ts: dt.datetime) -> str:
    """RFC3339 UTC with Z, fractional seconds only when present."""
    text = ts.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if ts.microsecond:
        text += f".{ts.microsecond:06d}".rstrip("0")
    return text + "Z"


def describe_validation_error(exc: ValidationError) -> str:
    """The first problem of a pydantic error as `field 'x': message` (plus how many more)."""
    error = exc.errors()[0]
    message = str(error["msg"]).removeprefix("Value error, ")
    loc = ".".join(str(part) for part in error["loc"])
    if not loc and ": " in message:
        loc, message = message.split(": ", 1)
    if loc:
        value = error.get("input")
        shown = f" (got {value!r})" if loc and error["type"] not in {"missing"} and not isinstance(value, dict) else ""
        message = f"field '{loc}': {message}{shown}"
    more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
    return message + more


def parse_event(data: Any) -> DrillEvent:
    """Validate one decoded JSON value; raises `ValueError` with a readable message."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    if "schema" in data and data["schema"] != SCHEMA:
        raise ValueError(f"field 'schema': {data['schema']!r} is not {SCHEMA}")
    try:
        return DrillEvent.model_validate(data)
    except ValidationError as exc:
        raise ValueError(describe_validation_error(exc)) from None


#: Invalid lines listed one by one per file; the rest are counted in one more warning (a 200,000-line log of
#: garbage must not put 200,000 warnings on the report's first screen).
MAX_PROBLEMS_PER_FILE = 50
#: Logs are read in chunks of this size (folder and S3 alike).
CHUNK_BYTES = 1 << 20
_ROW_FIELDS = ("file", "line", "drill_id", "scenario", "component", "event", "ts_ns", "data_loss_seconds", "note",
               "extra")


def iter_lines(content: bytes | Iterable[bytes]) -> Iterable[bytes]:
    """The lines of a log given whole or as a stream of chunks (split on `\n` only, `\r` stripped at the end),
    holding at most one line and one chunk in memory."""
    if isinstance(content, bytes | bytearray):
        for line in bytes(content).split(b"\n"):
            yield line.rstrip(b"\r")
        return
    pending = bytearray()
    for chunk in content:
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", start)) >= 0:
            yield bytes(pending[start:end]).rstrip(b"\r")
            start = end + 1
        del pending[:start]
    yield bytes(pending).rstrip(b"\r")


def _parse_into(content: bytes | Iterable[bytes], file: str, location: str, columns: dict[str, list[Any]],
                problems: list[str]) -> None:
    """Validate every line of one log, appending valid events to `columns` and one warning per invalid line."""
    invalid = 0
    for number, raw in enumerate(iter_lines(content), start=1):
        if number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        if not raw.strip():
            continue
        try:
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"not valid JSON ({exc})") from None
            event = parse_event(data)
        except ValueError as exc:
            invalid += 1
            if invalid <= MAX_PROBLEMS_PER_FILE:
                problems.append(f"{location} line {number}: {exc}; line skipped")
            continue
        for name, value in zip(_ROW_FIELDS, (
                file, number, event.drill_id, event.scenario, event.component, event.event,
                pd.Timestamp(event.ts).value, math.nan if event.data_loss_seconds is None
                else float(event.data_loss_seconds), event.note, dict(event.model_extra or {})), strict=True):
            columns[name].append(value)
    if invalid > MAX_PROBLEMS_PER_FILE:
        problems.append(f"{location}: {invalid - MAX_PROBLEMS_PER_FILE} more invalid lines skipped (only the first "
                        f"{MAX_PROBLEMS_PER_FILE} of {invalid} are listed); fix the log")


def parse_log(content: bytes | Iterable[bytes], file: str, location: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows (one per valid line) and warnings (one per invalid line, capped) of one JSONL file."""
    columns: dict[str, list[Any]] = {name: [] for name in _ROW_FIELDS}
    problems: list[str] = []
    _parse_into(content, file, location, columns, problems)
    rows = [dict(zip(_ROW_FIELDS, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    for row in rows:
        row["schema"] = SCHEMA
        row["ts"] = pd.Timestamp(row.pop("ts_ns"), tz="UTC")
    return rows, problems


def events_frame(logs: Iterable[tuple[str, str, bytes | Iterable[bytes]]]) -> pd.DataFrame:
    """The events frame of several logs given as (file, location for messages, content or a stream of chunks);
    see the module doc. Memory: the valid events' columns plus one log's chunk at a time."""
    columns: dict[str, list[Any]] = {name: [] for name in _ROW_FIELDS}
    problems: list[str] = []
    locations: dict[str, str] = {}
    for file, location, content in logs:
        locations[file] = location
        _parse_into(content, file, location, columns, problems)
    rows = len(columns["file"])
    frame = pd.DataFrame({
        "file": pd.Series(columns["file"], dtype=object),
        "line": pd.Series(columns["line"], dtype="int64"),
        "schema": pd.Series([SCHEMA] * rows, dtype=object),
        **{column: pd.Series(columns[column], dtype=object)
           for column in ("drill_id", "scenario", "component", "event")},
        "ts": pd.Series(pd.to_datetime(np.asarray(columns["ts_ns"], dtype="int64"), utc=True),
                        dtype="datetime64[ns, UTC]"),
        "data_loss_seconds": pd.Series(columns["data_loss_seconds"], dtype="float64"),
        "note": pd.Series(columns["note"], dtype=object),
        "extra": pd.Series(columns["extra"], dtype=object),
    })
    if rows:
        first_of: dict[str, int] = {}  # the identity of an event -> its first row
        duplicates: list[tuple[int, int]] = []
        for index, key in enumerate(
                json.dumps([drill_id, scenario, component, event, ts, None if math.isnan(loss) else loss, note,
                            extra], sort_keys=True, separators=(",", ":"))  # not orjson: 4 KB per small bytes
                for drill_id, scenario, component, event, ts, loss, note, extra in zip(
                    columns["drill_id"], columns["scenario"], columns["component"], columns["event"],
                    columns["ts_ns"], columns["data_loss_seconds"], columns["note"], columns["extra"], strict=True)):
            if key in first_of:
                duplicates.append((index, first_of[key]))
            else:
                first_of[key] = index
        for index, original in duplicates:
            problems.append(
                f"{locations[frame.at[index, 'file']]} line {frame.at[index, 'line']}: duplicates "
                f"{locations[frame.at[original, 'file']]} line {frame.at[original, 'line']} "
                f"({frame.at[index, 'event']} of {frame.at[index, 'component']} in {frame.at[index, 'drill_id']}); "
                f"duplicate dropped")
        if duplicates:
            frame = frame.drop(index=[index for index, _ in duplicates])
        frame = frame.sort_values(["drill_id", "ts", "file", "line"], kind="stable").reset_index(drop=True)
    frame.attrs["warnings"] = problems
    return frame


_TEXT_COLUMNS = ("file", "schema", "drill_id", "scenario", "component", "event", "note")


def _wire(events: pd.DataFrame) -> pd.DataFrame:
    """The frame as fetched and recorded in snapshots: `extra` as JSON text (Parquet cannot hold free-form dicts)."""
    frame = events.copy()
    frame.attrs = dict(events.attrs)
    frame["extra"] = pd.Series([orjson.dumps(extra).decode() for extra in events["extra"]], dtype=object,
                               index=events.index)
    return frame


def _public(events: pd.DataFrame) -> pd.DataFrame:
    """The wire frame (live or replayed from Parquet) with the documented dtypes: text as object with None,
    `extra` as dicts, `ts` datetime64[ns, UTC]."""
    frame = pd.DataFrame(index=events.index)
    for column in EVENT_COLUMNS[:-1]:
        values = events[column] if column in events else pd.Series([None] * len(events), index=events.index)
        if column in _TEXT_COLUMNS:
            frame[column] = pd.Series([v if isinstance(v, str) else None for v in values], dtype=object,
                                      index=events.index)
        elif column == "extra":
            frame[column] = pd.Series([orjson.loads(v) if isinstance(v, str | bytes) else dict(v or {})
                                       for v in values], dtype=object, index=events.index)
        elif column == "ts":
            frame[column] = pd.to_datetime(values, utc=True).astype("datetime64[ns, UTC]")
        else:
            frame[column] = values.astype("int64" if column == "line" else "float64")
    frame.attrs = {"warnings": list(events.attrs.get("warnings", []))}
    return frame.reset_index(drop=True)


def flag_components(events: pd.DataFrame, known_components: Iterable[str]) -> pd.DataFrame:
    """Add `known_component` and one warning per (drill, unknown component) naming its first line."""
    known = set(known_components) | {ALL_COMPONENTS}
    frame = events.copy()
    frame.attrs = {"warnings": list(events.attrs.get("warnings", []))}
    frame["known_component"] = frame["component"].isin(known).astype(bool)
    unknown = frame[~frame["known_component"]]
    for (drill_id, component), group in unknown.groupby(["drill_id", "component"], sort=True):
        first = group.iloc[0]
        frame.attrs["warnings"].append(
            f"{first['file']} line {first['line']}: unknown component {component!r} in drill {drill_id} "
            f"(not in the DR targets); kept, flagged known_component=False")
    return frame


def _first(series: pd.Series) -> Any:
    return series.iloc[0] if len(series) else pd.NaT


def components_from_events(events: pd.DataFrame) -> pd.DataFrame:
    """One row per drill and component (see the module doc for RTO, RPO and duration)."""
    problems = list(events.attrs.get("warnings", []))
    rows: list[dict[str, Any]] = []
    for drill_id, drill in events.groupby("drill_id", sort=True):
        scenario = next((s for s in drill["scenario"] if isinstance(s, str)), None)
        declared = drill.loc[drill["event"] == "disaster_declared", "ts"]
        declared_at = _first(declared)
        if declared.empty:
            problems.append(f"drill {drill_id}: no disaster_declared event; RTO and duration unknown")
        elif len(declared) > 1:
            problems.append(f"drill {drill_id}: {len(declared)} disaster_declared events; the first "
                            f"({declared.iloc[0]}) starts the clock")
        aborted_ts = drill.loc[drill["event"] == "aborted", "ts"]
        aborted = not aborted_ts.empty
        components = [c for c in drill["component"].drop_duplicates() if c != ALL_COMPONENTS]
        drill_rows = []
        for component in components:
            own = drill[drill["component"] == component]
            recovered = own.loc[own["event"] == "recovered", "ts"]
            recovered_at = recovered.iloc[-1] if len(recovered) else pd.NaT
            rto = (recovered_at - declared_at).total_seconds() if pd.notna(recovered_at) and pd.notna(
                declared_at) else float("nan")
            if rto < 0:
                problems.append(f"drill {drill_id}: {component} recovered before disaster_declared; RTO unknown")
                rto = float("nan")
            losses = own.loc[own["event"] == "data_loss", "data_loss_seconds"]
            drill_rows.append({
                "drill_id": drill_id, "scenario": scenario, "component": component,
                "disaster_declared_at": declared_at,
                "recovery_started_at": _first(own.loc[own["event"] == "recovery_started", "ts"]),
                "recovered_at": recovered_at,
                "verified_at": _last(own.loc[own["event"] == "verified", "ts"]),
                "rto_seconds": rto, "rpo_seconds": float(losses.max()) if len(losses) else float("nan"),
                "aborted": aborted, "aborted_at": _first(aborted_ts),
                "known_component": bool(own["known_component"].iloc[0]) if "known_component" in own else True,
            })
        recovered_all = [r["recovered_at"] for r in drill_rows if pd.notna(r["recovered_at"])]
        duration = float("nan")
        if not aborted and recovered_all and pd.notna(declared_at):
            duration = max((max(recovered_all) - declared_at).total_seconds(), 0.0)
        for row in drill_rows:
            row["drill_duration_seconds"] = duration
        rows.extend(drill_rows)
    frame = pd.DataFrame(rows, columns=COMPONENT_COLUMNS, dtype=object)
    frame = frame.sort_values(["drill_id", "component"], kind="stable").reset_index(drop=True)
    for column in ("disaster_declared_at", "recovery_started_at", "recovered_at", "verified_at", "aborted_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[ns, UTC]")
    for column in ("rto_seconds", "rpo_seconds", "drill_duration_seconds"):
        frame[column] = frame[column].astype("float64")
    for column in ("aborted", "known_component"):
        frame[column] = frame[column].astype(bool)
    frame.attrs["warnings"] = problems
    return frame


def _last(series: pd.Series) -> Any:
    return series.iloc[-1] if len(series) else pd.NaT


def parse_drills_uri(uri: str) -> tuple[str, str, str]:
    """(`"s3"`, bucket, prefix) or (`"file"`, absolute folder, ""), and the normalised URI is rebuilt from it."""
    text = str(uri).strip()
    if not text:
        raise BadInputError("drills URI is empty (set GORELIABLE_DRILLS_URI to s3://bucket/prefix or a folder)")
    if text.startswith("s3://"):
        bucket, _, prefix = text[5:].partition("/")
        if not bucket:
            raise BadInputError(f"drills URI {uri!r} names no bucket (use s3://bucket/prefix)")
        return "s3", bucket, prefix.strip("/")
    if "://" in text and not text.startswith("file://"):
        raise BadInputError(f"drills URI {uri!r}: only s3://bucket/prefix and local folders are supported")
    return "file", str(Path(text.removeprefix("file://")).expanduser().resolve()), ""


def normalise_uri(uri: str) -> str:
    kind, where, prefix = parse_drills_uri(uri)
    if kind == "s3":
        return f"s3://{where}/{prefix}" if prefix else f"s3://{where}"
    return where


def replayed_uri(uri: str, recorded: Iterable[Any]) -> str:
    """The drills URI a snapshot is asked under: the snapshot's text as it is when it recorded requests under it
    (whatever the text: a replay fetches nothing), else normalised like a live URI when it parses (requests are
    recorded under that form, the endpoint may be the text the user gave), else the text (a miss names it)."""
    if any(isinstance(request, dict) and request.get("uri") == uri for request in recorded):  # any JSON value
        return uri
    try:
        return normalise_uri(uri)
    except (BadInputError, ValueError, OSError):
        return uri


def s3_client() -> Any:
    """A boto3 S3 client from the standard AWS environment (AWS_ENDPOINT_URL included), with timeouts. The SDK
    (`AWS_SDK`) is loaded by name here, with the first client."""
    boto3 = importlib.import_module(AWS_SDK)
    config = importlib.import_module("botocore.config").Config(connect_timeout=5, read_timeout=30,
                                                               retries={"max_attempts": 3, "mode": "standard"})
    return boto3.client("s3", config=config)


def s3_error(uri: str, action: str, exc: Exception) -> DrillLogError:
    """A `DrillLogError` naming the URI for a boto3/botocore failure (no credentials in the message)."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "NoSuchBucket":
            bucket = parse_drills_uri(uri)[1]
            return DrillLogError(f"drill logs at {uri}: bucket {bucket!r} does not exist")
        if (code in {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled"}
                or status == 403):
            return DrillLogError(f"drill logs at {uri}: access denied while trying to {action} ({code or status}); "
                                 f"check the AWS credentials and the bucket policy")
        return DrillLogError(f"drill logs at {uri}: S3 error while trying to {action}: {code or status} "
                             f"{exc.response.get('Error', {}).get('Message', '')}".rstrip())
    if isinstance(exc, NoCredentialsError):
        return DrillLogError(f"drill logs at {uri}: no AWS credentials (set AWS_ACCESS_KEY_ID and "
                             f"AWS_SECRET_ACCESS_KEY, or a profile/role)")
    if isinstance(exc, EndpointConnectionError):
        return DrillLogError(f"drill logs at {uri}: cannot reach the S3 endpoint ({exc})")
    return DrillLogError(f"drill logs at {uri}: {action} failed: {exc}")


class DrillSource(Source):
    """Drill logs from `s3://bucket/prefix` (boto3) or a local folder."""

    name = "drills"

    def __init__(self, uri: str, *, recorder: Any = None, replayer: Any = None,
                 clock: Callable[[], pd.Timestamp] | None = None, s3_client: Any = None,
                 known_components: Iterable[str] | None = None, page_size: int | None = None) -> None:
        super().__init__(recorder=recorder, replayer=replayer, clock=clock)
        self.uri = normalise_uri(uri) if replayer is None else replayed_uri(uri, replayer.requests(self.name))
        self.known_components = tuple(known_components) if known_components is not None else SEED_COMPONENTS
        self.page_size = page_size
        self._s3 = s3_client

    def __repr__(self) -> str:
        return f"DrillSource({self.uri!r})"

    def events(self) -> pd.DataFrame:
        """One row per valid event: file, line, schema, drill_id, scenario, component, event, ts (UTC),
        data_loss_seconds (NaN when absent), note, extra (dict of unknown fields), known_component."""
        raw = self._get({"method": "events", "uri": self.uri})
        frame = flag_components(_public(raw), self.known_components)
        for message in frame.attrs["warnings"]:
            warnings.warn(message, DrillLogWarning, stacklevel=2)
        return frame

    def components(self) -> pd.DataFrame:
        """One row per drill and component: drill_id, scenario, component, disaster_declared_at,
        recovery_started_at, recovered_at, verified_at, rto_seconds, rpo_seconds (NaN = unknown), aborted,
        aborted_at, drill_duration_seconds, known_component."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DrillLogWarning)
            events = self.events()
        frame = components_from_events(events)
        for message in frame.attrs["warnings"]:
            warnings.warn(message, DrillLogWarning, stacklevel=2)
        return frame

    # -- I/O -------------------------------------------------------------------------------------------
    def _fetch(self, request: dict[str, Any]) -> pd.DataFrame:
        if request.get("method") != "events":
            raise ValueError(f"DrillSource cannot fetch {request!r}")
        kind, where, prefix = parse_drills_uri(request["uri"])
        logs = self._read_s3(where, prefix) if kind == "s3" else self._read_folder(Path(where))
        frame = events_frame(logs)
        if not logs:
            frame.attrs["warnings"].insert(0, f"no drill logs (*.jsonl) under {self.uri}")
        return _wire(frame)

    def _read_folder(self, folder: Path) -> list[tuple[str, str, Iterable[bytes]]]:
        if folder.is_file():
            return [(folder.name, str(folder), self._file_chunks(folder))]
        if not folder.is_dir():
            raise DrillLogError(f"drill logs at {self.uri}: folder does not exist")
        try:
            paths = [path for path in sorted(folder.rglob("*.jsonl")) if path.is_file()]
        except OSError as exc:
            raise DrillLogError(f"drill logs at {self.uri}: cannot read {exc.filename}: {exc.strerror}") from None
        return [(path.relative_to(folder).as_posix(), str(path), self._file_chunks(path)) for path in paths]

    def _file_chunks(self, path: Path) -> Iterable[bytes]:
        """A log file read lazily in chunks (a huge log is never held whole in memory)."""
        try:
            with open(path, "rb") as handle:
                while chunk := handle.read(CHUNK_BYTES):
                    yield chunk
        except OSError as exc:
            raise DrillLogError(f"drill logs at {self.uri}: cannot read {exc.filename}: {exc.strerror}") from None

    def _read_s3(self, bucket: str, prefix: str) -> list[tuple[str, str, Iterable[bytes]]]:
        client = self._s3 if self._s3 is not None else s3_client()
        list_prefix = f"{prefix}/" if prefix else ""
        pagination = {"PageSize": self.page_size} if self.page_size else {}
        try:
            keys = [item["Key"]
                    for page in client.get_paginator("list_objects_v2").paginate(
                        Bucket=bucket, Prefix=list_prefix, PaginationConfig=pagination)
                    for item in page.get("Contents", [])
                    if item["Key"].endswith(".jsonl")]
        except (ClientError, BotoCoreError) as exc:
            raise s3_error(self.uri, "list the drill logs", exc) from None
        return [(key.removeprefix(list_prefix), f"s3://{bucket}/{key}", self._s3_chunks(client, bucket, key))
                for key in sorted(keys)]

    @staticmethod
    def _s3_chunks(client: Any, bucket: str, key: str) -> Iterable[bytes]:
        """An S3 object streamed in chunks; a key deleted since the listing reads as empty."""
        try:
            body = client.get_object(Bucket=bucket, Key=key)["Body"]
            yield from body.iter_chunks(CHUNK_BYTES)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchKey":  # deleted since the listing
                return
            raise s3_error(f"s3://{bucket}/{key}", "read a drill log", exc) from None
        except BotoCoreError as exc:
            raise s3_error(f"s3://{bucket}/{key}", "read a drill log", exc) from None
