"""One memo in front of a Prometheus-API source: each distinct question is asked once per run.

SLOs of one service often share a selector (availability and latency read the same `_count`), several objectives
of one SLO share its events, and thresholdMetric objectives may share an expression; the SLO report, the
postmortem, the threshold SLIs and the archive's backfill all ask through one `Memo`, so none keeps a cache of its
own. The memo answers what the source would (the same frames, the same snapshot records: the source records on
the first asking).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import pandas as pd

from goreliable_lib.sources.base import PrometheusAPI


class Memo:
    """A `PrometheusAPI` that asks `source` each distinct question once (`clear()` forgets the answers)."""

    def __init__(self, source: PrometheusAPI) -> None:
        self.source = source
        self._answers: dict[tuple[Hashable, ...], pd.DataFrame] = {}

    def query(self, promql: str, time: pd.Timestamp | None = None) -> pd.DataFrame:
        key = ("query", promql, time)
        if key not in self._answers:
            self._answers[key] = self.source.query(promql, time)
        return self._answers[key]

    def query_range(self, promql: str, start: pd.Timestamp, end: pd.Timestamp, step: pd.Timedelta, *,
                    align: bool = True, series: int = 1) -> pd.DataFrame:
        key = ("query_range", promql, start, end, step, align)
        if key not in self._answers:
            self._answers[key] = self.source.query_range(promql, start, end, step, align=align, series=series)
        return self._answers[key]

    def series(self, match: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        key = ("series", match, start, end)
        if key not in self._answers:
            self._answers[key] = self.source.series(match, start, end)
        return self._answers[key]

    def now(self) -> pd.Timestamp:
        return self.source.now()

    @property
    def endpoint(self) -> str:
        """Where the source's answers come from (`PrometheusSource.endpoint`)."""
        return endpoint_of(self.source)

    def clear(self) -> None:
        """Forget every answer (a long job asking for one chunk after another keeps memory flat)."""
        self._answers.clear()


def endpoint_of(source: Any) -> str:
    """Where a source's answers come from, for messages: its `endpoint` (a URL without credentials, or a snapshot)."""
    return str(getattr(source, "endpoint", None) or f"the {type(source).__name__} source")
