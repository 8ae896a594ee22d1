"""The one path every fetch takes: replay from a snapshot, or fetch for real and record; and `PrometheusAPI`, what
the kit asks of a Prometheus-API server (the source, the memo in front of it, a snapshot replay, the tests' fakes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from goreliable_lib.timeutil import utc_now

if TYPE_CHECKING:
    from goreliable_lib.sources.snapshot import SnapshotRecorder, SnapshotReplayer


class PrometheusAPI(Protocol):
    """The three questions of the Prometheus HTTP API, with times as `Timestamp` and steps as `Timedelta`.

    `query` answers at one time (a range selector `S[d]` answers raw samples, never staleness markers or NaN);
    `query_range` every `step` over [start, end] (`align`: on the step's absolute grid; `series`: how many series
    the answer is expected to hold, so the request is cut to keep series x points bounded); `series` lists the
    series with samples in [start, end] (a superset: servers answer from their index)."""

    def query(self, promql: str, time: pd.Timestamp | None = None) -> pd.DataFrame: ...

    def query_range(self, promql: str, start: pd.Timestamp, end: pd.Timestamp, step: pd.Timedelta, *,
                    align: bool = True, series: int = 1) -> pd.DataFrame: ...

    def series(self, match: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame: ...

    def now(self) -> pd.Timestamp: ...


class Source:
    """Base class of the Prometheus, Kubecost and drill-log sources.

    Public methods turn their arguments into a canonical request (a JSON-able dict, fully resolved,
    without credentials) and call `_get`. Subclasses implement `_fetch`, the real I/O.
    """

    name: str = "source"

    def __init__(self, *, recorder: SnapshotRecorder | None = None, replayer: SnapshotReplayer | None = None,
                 clock: Callable[[], pd.Timestamp] | None = None) -> None:
        self.recorder = recorder
        self.replayer = replayer
        self._clock = clock

    def now(self) -> pd.Timestamp:
        """The source's clock: the snapshot's `as_of` when replaying, else the configured clock or the wall clock."""
        if self.replayer is not None:
            return self.replayer.as_of
        return self._clock() if self._clock is not None else utc_now()

    @property
    def offline(self) -> bool:
        """True when results come from a snapshot."""
        return self.replayer is not None

    def _get(self, request: dict[str, Any], **options: Any) -> pd.DataFrame:
        """The result of `request` (the snapshot's key: what decides the result); `options` change only how it is
        fetched (e.g. how a range query is cut into requests) and are passed to `_fetch`."""
        if self.replayer is not None:
            frame, encoded = self.replayer.read(self.name, request)
            if self.recorder is not None:  # a replayed run records too (the file as it is), so every run folder
                self.recorder.record(self.name, request, frame, encoded=encoded)  # holds its data
            return frame
        frame = self._fetch(request, **options)
        if self.recorder is not None:
            self.recorder.record(self.name, request, frame)
        return frame

    def _fetch(self, request: dict[str, Any], **options: Any) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError
