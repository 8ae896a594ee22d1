"""The one path every fetch takes: replay from a snapshot, or fetch for real and record."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from goreliable_lib.timeutil import utc_now

if TYPE_CHECKING:
    from goreliable_lib.sources.snapshot import SnapshotRecorder, SnapshotReplayer


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

    def _get(self, request: dict[str, Any]) -> pd.DataFrame:
        if self.replayer is not None:
            frame = self.replayer.lookup(self.name, request)
        else:
            frame = self._fetch(request)
        if self.recorder is not None:  # a replayed run records too, so every run folder holds its data
            self.recorder.record(self.name, request, frame)
        return frame

    def _fetch(self, request: dict[str, Any]) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError
