"""`connect()`: the sources a profile points at (live servers, the bundled demo, or a snapshot)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from goreliable_lib.config import Settings, load_settings
from goreliable_lib.errors import SourceError
from goreliable_lib.paths import reports_dir, without_credentials
from goreliable_lib.sources.archive import ArchiveSource
from goreliable_lib.sources.drills import DrillSource
from goreliable_lib.sources.kubecost import KubecostSource
from goreliable_lib.sources.prometheus import PrometheusSource
from goreliable_lib.sources.snapshot import SnapshotRecorder, SnapshotReplayer
from goreliable_lib.timeutil import parse_time, to_rfc3339, utc_now


def demo_snapshot_path() -> Path:
    """The bundled demo snapshot, shipped inside the package."""
    return Path(str(resources.files("goreliable_lib") / "data" / "demo"))


class MissingSource:
    """Stands in for a source the profile does not configure; any use says which variable to set."""

    def __init__(self, name: str, variable: str) -> None:
        self._name = name
        self._variable = variable

    def __getattr__(self, attribute: str) -> Any:
        raise SourceError(f"no {self._name} configured: set {self._variable} (or use GORELIABLE_PROFILE=demo)")

    def __repr__(self) -> str:
        return f"<{self._name}: not configured, set {self._variable}>"


@dataclass
class Sources:
    """The three sources of a profile, sharing one clock."""

    profile: str
    prometheus: PrometheusSource | MissingSource
    kubecost: KubecostSource | MissingSource
    drills: DrillSource | MissingSource
    endpoints: dict[str, str | None] = field(default_factory=dict)
    replayer: SnapshotReplayer | None = None
    clock_override: pd.Timestamp | None = None
    recorder: SnapshotRecorder | None = None
    archive: ArchiveSource | None = None  # the SLO event archive (sources.archive)

    def now(self) -> pd.Timestamp:
        """The sources' clock: the snapshot's time when replaying, GORELIABLE_NOW if set, else the wall clock."""
        if self.replayer is not None:
            return self.replayer.as_of
        return self.clock_override if self.clock_override is not None else utc_now()

    def drill_source(self, uri: str | None = None, *,
                     known_components: Sequence[str] | None = None) -> DrillSource | MissingSource:
        """The drill logs at `uri` (read live, recorded like every other fetch, on these sources' clock; it becomes
        the `drills` endpoint, so a recorded run replays with `snapshot:<run>/data`), or the profile's drill source
        when `uri` is None. Components outside `known_components` are flagged in the logs' problems."""
        if uri is None:
            source = self.drills
            if known_components is not None and isinstance(source, DrillSource):
                source.known_components = tuple(known_components)
            return source
        source = DrillSource(uri, recorder=self.recorder, clock=self.now,
                             known_components=tuple(known_components) if known_components is not None else None)
        self.endpoints["drills"] = source.uri
        if self.recorder is not None:
            self.recorder.set_endpoints({k: without_credentials(v) for k, v in self.endpoints.items()})
        return source

    def describe(self) -> dict[str, Any]:
        """The `source` block of summary.json: the kind and the endpoints, never credentials."""
        return {"kind": self.profile.split(":")[0], "profile": self.profile, "as_of": to_rfc3339(self.now()),
                "endpoints": {k: without_credentials(v) for k, v in self.endpoints.items()}}


def connect(profile: str | None = None, *, recorder: SnapshotRecorder | None = None,
            settings: Settings | None = None) -> Sources:
    """Connect to the sources the environment points at.

    `profile` overrides GORELIABLE_PROFILE: `demo` (the bundled snapshot, the default when no URL is set),
    `live`, or `snapshot:PATH`. With a `recorder` (or GORELIABLE_RECORD=PATH), every result fetched is also
    written to that snapshot, which `GORELIABLE_PROFILE=snapshot:PATH` replays later.
    """
    settings = settings or load_settings(profile=profile)
    if recorder is None and settings.record:
        recorder = SnapshotRecorder(settings.record)
    if settings.profile == "live":
        clock_override = parse_time(settings.now, field="GORELIABLE_NOW") if settings.now else None

        def clock() -> pd.Timestamp:
            return clock_override if clock_override is not None else utc_now()

        common: dict[str, Any] = {"recorder": recorder, "clock": clock}
        prometheus: PrometheusSource | MissingSource = MissingSource("Prometheus", "GORELIABLE_PROMETHEUS_URL")
        if settings.prometheus_url:
            basic = ((settings.prometheus_username, settings.prometheus_password or "")
                     if settings.prometheus_username else None)
            prometheus = PrometheusSource(
                settings.prometheus_url, token=settings.prometheus_token, headers=settings.prometheus_headers,
                basic_auth=basic, ca_bundle=settings.prometheus_ca_bundle, verify=settings.prometheus_verify,
                timeout=settings.prometheus_timeout, retry_timeouts=settings.prometheus_retry_timeouts,
                thanos_dedup=settings.thanos_dedup,
                partial_response=settings.thanos_partial_response,
                max_source_resolution=settings.thanos_max_source_resolution, **common)
        kubecost: KubecostSource | MissingSource = MissingSource("Kubecost", "GORELIABLE_KUBECOST_URL")
        if settings.kubecost_url:
            kubecost = KubecostSource(settings.kubecost_url, token=settings.kubecost_token, **common)
        drills: DrillSource | MissingSource = MissingSource("drill log", "GORELIABLE_DRILLS_URI")
        if settings.drills_uri:
            drills = DrillSource(settings.drills_uri, **common)
        endpoints = {"prometheus": settings.prometheus_url, "kubecost": settings.kubecost_url,
                     "drills": settings.drills_uri}
        archive = ArchiveSource(settings.archive_uri or str(reports_dir() / "archive"), **common)
        sources = Sources(settings.profile, prometheus, kubecost, drills, endpoints, None, clock_override, recorder,
                          archive)
    else:
        path = demo_snapshot_path() if settings.profile == "demo" else Path(settings.snapshot_path or "")
        replayer = SnapshotReplayer(path, profile=settings.profile)
        endpoints = dict(replayer.endpoints)
        common = {"recorder": recorder, "replayer": replayer}
        sources = Sources(
            settings.profile,
            PrometheusSource(None, **common),
            KubecostSource(None, **common),
            DrillSource(endpoints.get("drills") or str(path / "drills"), **common),
            endpoints, replayer, recorder=recorder,
            archive=ArchiveSource(settings.archive_uri or str(path / "archive"), **common))
    if recorder is not None:
        recorder.set_as_of(sources.now())
        recorder.set_endpoints({k: without_credentials(v) for k, v in sources.endpoints.items()})
    return sources
