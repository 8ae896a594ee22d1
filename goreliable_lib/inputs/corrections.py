"""Correction windows: `apiVersion: goreliable/v1, kind: Correction` documents (a planned maintenance, a known-bad
load test), validated. What a correction does to the figures is `analysis.correction_windows`.

```yaml
apiVersion: goreliable/v1
kind: Correction
metadata:
  name: weekly-db-maintenance
spec:
  slos: [order-success-rate]       # SLO names, or `all`; or instead `service: order-service`
  rrule: FREQ=WEEKLY;BYDAY=SU      # RFC 5545 RRULE, as Datadog's recurring corrections
  start: 2026-03-01T02:00:00       # the first occurrence (wall-clock time in timeZone, or RFC3339 with an offset)
  duration: 2h
  timeZone: Europe/Berlin
  reason: weekly database maintenance (CHG-1234)
  author: jane@example.com
```
They stand in the SLO catalog (`inputs.catalog` keeps them) or in a file of their own (the SLO report's
`corrections` parameter). Rules:
- which SLOs: `slos` (names from the catalog: an SLO's name covers every objective and every group of it; an
  `SLO/objective` name covers that objective) or `service` (every SLO of that service), or `slos: all`; one of the
  two, not both;
- one-off: `start` and `end` (RFC3339; `end` after `start`);
- recurring: `rrule` (one RRULE line: FREQ=HOURLY, DAILY, WEEKLY, MONTHLY or YEARLY with INTERVAL, COUNT or
  UNTIL, BYDAY, BYMONTHDAY, BYHOUR, ...), `start` (its first occurrence, the rule's DTSTART), `duration` (`2h`,
  `90m`) and `timeZone` (IANA). The occurrences are expanded in the zone's wall-clock time, so a rule at 02:00
  Europe/Berlin stays at 02:00 local across a DST change (a wall time the change skips moves forward to the first
  instant after it, a wall time it repeats is the first of the two); each lasts `duration` of real time. UNTIL
  may be written in UTC (`...Z`, as RFC 5545 asks with a time zone) or in wall-clock time;
- a time without a UTC offset is read in `timeZone`; without a `timeZone` it is refused;
- `reason` and `author` are required: a correction changes what the report says, so it says why and who;
- names are unique across the catalog and the corrections file.
Every error is a BadInputError naming the file, the document, the field and the line (exit 2).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from dateutil.rrule import rrule, rrulestr
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs.catalog import CORRECTION_KIND, POLICY_API_VERSION, Catalog, SLOObjective, read_objects
from goreliable_lib.inputs.openslo import Metadata
from goreliable_lib.inputs.yamlfile import line_of, validate_document
from goreliable_lib.timeutil import check_time_zone, duration_text, parse_duration, wall_clock, wall_to_utc

ALL = "all"
#: RFC3339 as written in a file: a date, a time to the minute at least, and optionally an offset.
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?P<offset>[Zz]|[+-]\d{2}:\d{2})?$")
_UNTIL_UTC = re.compile(r"UNTIL=(?P<stamp>\d{8}T\d{6})Z", re.IGNORECASE)
#: Rule frequencies the kit reads: a correction is counted in whole minutes, so a rule firing every second or
#: minute is not a window (and would expand into millions of occurrences over a year's history).
_FREQUENCIES = ("HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")
_RFC_FREQUENCIES = ("SECONDLY", "MINUTELY", *_FREQUENCIES)


@dataclass(frozen=True)
class Correction:
    """One validated correction: which SLOs (`slos` None with `service` None = every SLO), its window (`start`,
    `end` for a one-off; `rule` with `duration` in `time_zone` for a recurring one, `start` its first occurrence),
    why and who. `origin` says where it was written (`params/x.yaml: document 2 (name)`)."""

    name: str
    origin: str
    reason: str
    author: str
    start: pd.Timestamp  # UTC
    end: pd.Timestamp | None = None  # UTC, one-off only
    rule: rrule | None = None  # recurring only: expanded from the wall-clock time of `start` in `time_zone`
    rrule_text: str | None = None  # the rule as written
    duration: pd.Timedelta | None = None
    time_zone: str | None = None
    slos: tuple[str, ...] | None = None
    service: str | None = None

    @property
    def recurring(self) -> bool:
        return self.rule is not None

    def applies_to(self, objective: SLOObjective) -> bool:
        """Whether the correction covers this objective: every SLO, its service, or a name it goes by (the
        objective's own, its SLO's, or for a group of a grouped SLO the SLO it was grouped from)."""
        if self.service is not None:
            return objective.service == self.service
        if self.slos is None:
            return True
        names = {objective.name, objective.slo_name, getattr(objective, "grouped_by", None)}
        return any(name in names for name in self.slos)

    def describe(self) -> str:
        """`2026-11-08 02:00 - 04:00 UTC` or `FREQ=WEEKLY;BYDAY=SU from 2026-03-01 02:00 Europe/Berlin, 2h each`."""
        if self.rule is None:
            end = self.end if self.end is not None else self.start
            return f"{self.start:%Y-%m-%d %H:%M} - {end:%Y-%m-%d %H:%M} UTC"
        first = wall_clock(self.start, self.time_zone or "UTC")
        length = duration_text(self.duration.total_seconds()) if self.duration is not None else ""
        return f"{self.rrule_text} from {first:%Y-%m-%d %H:%M} {self.time_zone}, {length} each"


# --------------------------------------------------------------------------------------------- the document
class CorrectionSpec(BaseModel):
    """A Correction's `spec` as written; the validator parses its times and rule (`parsed`)."""

    model_config = ConfigDict(extra="forbid")

    slos: list[str] | str | None = None
    service: str | None = Field(None, min_length=1)
    start: str | dt.datetime | None = None
    end: str | dt.datetime | None = None
    rrule: str | None = None
    duration: str | int | None = None
    timeZone: str | None = None
    reason: str = Field(min_length=1)
    author: str = Field(min_length=1)
    _parsed: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> CorrectionSpec:
        self._parsed = {**_targets(self.slos, self.service), **_window(self)}
        return self


class CorrectionDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    apiVersion: Literal["goreliable/v1"]
    kind: Literal["Correction"]
    metadata: Metadata
    spec: CorrectionSpec


def _targets(slos: list[str] | str | None, service: str | None) -> dict[str, Any]:
    if slos is not None and service is not None:
        raise ValueError("service: give slos or service, not both")
    if slos is None and service is None:
        raise ValueError("slos: required field missing (SLO names, `all`, or a service with `service`)")
    if isinstance(slos, str):
        if slos.strip() != ALL:
            raise ValueError(f"slos: expected a list of SLO names or `all`, got {slos!r}")
        return {"slos": None, "service": None}
    if slos is not None and (not slos or any(not name.strip() for name in slos)):
        raise ValueError("slos: expected at least one SLO name (or `all`)")
    return {"slos": tuple(name.strip() for name in slos) if slos is not None else None, "service": service}


def _window(spec: CorrectionSpec) -> dict[str, Any]:
    zone = None
    if spec.timeZone is not None:
        try:
            zone = check_time_zone(spec.timeZone, field="timeZone")
        except BadInputError as exc:
            raise ValueError(str(exc)) from None
    if spec.start is None:
        raise ValueError("start: required field missing (a one-off correction's start, or a rule's first occurrence)")
    start = _time(spec.start, "start", zone)
    if spec.rrule is None:
        if spec.duration is not None:
            raise ValueError("duration: a one-off correction has start and end (duration goes with rrule)")
        if spec.end is None:
            raise ValueError("end: required field missing (a one-off correction has start and end; a recurring one "
                             "has rrule, duration and timeZone)")
        end = _time(spec.end, "end", zone)
        if end <= start:
            raise ValueError(f"end: {end:%Y-%m-%d %H:%M:%S} UTC is not after start {start:%Y-%m-%d %H:%M:%S} UTC")
        return {"start": start, "end": end, "time_zone": zone}
    if spec.end is not None:
        raise ValueError("end: a recurring correction ends with its rule's UNTIL or COUNT, not with end")
    if spec.duration is None:
        raise ValueError("duration: required field missing (how long each occurrence of the rule lasts, e.g. 2h)")
    if zone is None:
        raise ValueError("timeZone: required field missing (the IANA time zone the rule's occurrences follow, "
                         "e.g. Europe/Berlin or UTC)")
    try:
        duration = parse_duration(spec.duration, field="duration")
    except BadInputError as exc:
        raise ValueError(str(exc)) from None
    return {"start": start, "rule": _rule(spec.rrule, wall_clock(start, zone), zone), "rrule_text": spec.rrule.strip(),
            "duration": duration, "time_zone": zone}


def _time(value: str | dt.datetime, name: str, zone: str | None) -> pd.Timestamp:
    """A time of the document in UTC: RFC3339 with an offset, or a wall-clock time in `zone`."""
    if isinstance(value, dt.datetime):
        stamp, has_offset = pd.Timestamp(value), value.tzinfo is not None
    else:
        match = _TIME.match(value.strip())
        if match is None:
            raise ValueError(f"{name}: {value!r} is not an RFC3339 time (e.g. 2026-11-08T02:00:00Z or "
                             "2026-11-08T02:00:00+01:00)")
        stamp, has_offset = pd.Timestamp(value.strip()), match["offset"] is not None
    if has_offset:
        return stamp.tz_convert("UTC")
    if zone is None:
        raise ValueError(f"{name}: {value!s} has no UTC offset: write it with one (Z, +01:00) or give timeZone")
    return wall_to_utc(stamp, zone)


def _rule(text: str, first: pd.Timestamp, zone: str) -> rrule:
    """The RRULE expanded from the wall-clock time `first` (its DTSTART), an UNTIL in UTC read in `zone`."""
    line = text.strip()
    if "\n" in line or line.upper().startswith(("DTSTART", "EXDATE", "RDATE")):
        raise ValueError(f"rrule: one RRULE line is read (the first occurrence is spec.start), got {text!r}")
    line = line.removeprefix("RRULE:").removeprefix("rrule:")
    parts = dict(part.split("=", 1) if "=" in part else (part, "") for part in line.upper().split(";"))
    if "FREQ" not in parts:
        raise ValueError(f"rrule: {text!r} has no FREQ (e.g. FREQ=WEEKLY;BYDAY=SU)")
    if parts["FREQ"] not in _RFC_FREQUENCIES:
        raise ValueError(f"rrule: FREQ={parts['FREQ']} is not an RFC 5545 frequency ({', '.join(_RFC_FREQUENCIES)})")
    if parts["FREQ"] not in _FREQUENCIES:
        raise ValueError(f"rrule: FREQ={parts['FREQ']} is not read (a correction is counted in whole minutes: "
                         f"FREQ is one of {', '.join(_FREQUENCIES)})")
    if "COUNT" in parts and "UNTIL" in parts:
        raise ValueError("rrule: COUNT and UNTIL together (RFC 5545 allows one of them)")
    if "BYSECOND" in parts:
        raise ValueError("rrule: BYSECOND is not read (a correction is counted in whole minutes)")
    local = _UNTIL_UTC.sub(lambda m: "UNTIL=" + f"{wall_clock(pd.Timestamp(m['stamp'], tz='UTC'), zone):%Y%m%dT%H%M%S}",
                           line)
    try:
        rule = rrulestr(local, dtstart=first.to_pydatetime())
    except (ValueError, TypeError) as exc:
        raise ValueError(f"rrule: {text!r} is not an RFC 5545 RRULE ({exc})") from None
    if not isinstance(rule, rrule):
        raise ValueError(f"rrule: {text!r} is not one RRULE")
    return rule


# --------------------------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class KnownNames:
    """What a correction may name: the catalog's SLO and objective names, and its services."""

    slos: frozenset[str]
    services: frozenset[str]

    @classmethod
    def of(cls, catalog: Catalog) -> KnownNames:
        return cls(frozenset({o.slo_name for o in catalog.objectives} | {o.name for o in catalog.objectives}),
                   frozenset(o.service for o in catalog.objectives))


def parse_correction(value: Any, label: str, node: Any, known: KnownNames) -> Correction:
    """One Correction object of a file (`label`: `path: document N (name)`), validated, its names checked."""
    document = validate_document(CorrectionDocument, value, label, node)
    parsed = document.spec._parsed
    for i, name in enumerate(parsed["slos"] or ()):
        if name not in known.slos:
            raise BadInputError(f"{label}: spec.slos[{i}]: unknown SLO {name!r} (the catalog's SLOs: "
                                f"{', '.join(sorted(known.slos))}){line_of(node, ('spec', 'slos', i))}")
    if parsed["service"] is not None and parsed["service"] not in known.services:
        raise BadInputError(f"{label}: spec.service: unknown service {parsed['service']!r} (the catalog's services: "
                            f"{', '.join(sorted(known.services))}){line_of(node, ('spec', 'service'))}")
    return Correction(name=document.metadata.name, origin=label, reason=document.spec.reason,
                      author=document.spec.author, **parsed)


def catalog_corrections(catalog: Catalog) -> list[Correction]:
    """The Correction documents the catalog file holds, validated against its SLOs."""
    known = KnownNames.of(catalog)
    return _unique([parse_correction(o.value, o.label, o.node, known) for o in catalog.correction_objects])


def read_corrections(path: str | Path, catalog: Catalog) -> list[Correction]:
    """The Correction documents of a corrections file (only that kind), validated against the catalog's SLOs."""
    known, found = KnownNames.of(catalog), []
    objects = read_objects(path, "corrections file")
    if not objects:
        raise BadInputError(f"{path}: the corrections file holds no document (apiVersion: goreliable/v1, "
                            "kind: Correction)")
    for obj in objects:
        value = obj.value
        kind = value.get("kind") if isinstance(value, dict) else None
        if not isinstance(value, dict) or value.get("apiVersion") != POLICY_API_VERSION or kind != CORRECTION_KIND:
            what = f"kind {kind!r}" if kind is not None else f"a {type(value).__name__}"
            raise BadInputError(f"{obj.label}: a corrections file holds apiVersion: goreliable/v1, kind: Correction "
                                f"documents only, got {what}{line_of(obj.node, ('kind',))}")
        found.append(parse_correction(value, obj.label, obj.node, known))
    return _unique(found)


def load_corrections(catalog: Catalog, path: str | Path | None = None) -> list[Correction]:
    """Every correction of a run: the catalog's, then the corrections file's (None: no file); names unique."""
    return _unique(catalog_corrections(catalog) + (read_corrections(path, catalog) if path else []))


def _unique(corrections: list[Correction]) -> list[Correction]:
    seen: dict[str, str] = {}
    for correction in corrections:
        if correction.name in seen:
            raise BadInputError(f"{correction.origin}: metadata.name: duplicate correction name {correction.name!r}, "
                                f"first defined in {seen[correction.name]}")
        seen[correction.name] = correction.origin
    return corrections
