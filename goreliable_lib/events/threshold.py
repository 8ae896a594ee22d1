"""thresholdMetric SLIs: the catalog's PromQL expression (a p99 from `histogram_quantile`, a queue lag) evaluated by
the server once per time slice, shared by the slo and postmortem reports (part of the events layer: the same
objectives, the same request path).

One range query per objective and window, at the slice step on Prometheus' own grid (`align=False`: the points
are the slice ends start + k x step, aligned to the window's start as the slices are), through the source's
`query_range` so the run records it into its snapshot and a replay answers it; a range longer than the server's
11,000 points per series is chunked by the source. The value at a slice's end is the slice's value: write the
expression over the slice (`rate(...[5m])` for 5-minute slices). A slice whose point is missing or NaN (no
traffic in it: `histogram_quantile` of nothing) has no data: neither good nor bad. The expression must give one
series: several (a `by` clause, no aggregation) are refused, naming them, since which one is "the" value is
not said.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from goreliable_lib.analysis import slo as analysis
from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs.catalog import SLOObjective
from goreliable_lib.sources.base import PrometheusAPI

VALUE_COLUMNS = ("timestamp", "value")


@dataclass
class ThresholdValues:
    """The values of one thresholdMetric objective: `values` (timestamp, value) at the slice ends `ends`."""

    name: str
    query: str
    step: pd.Timedelta
    ends: pd.DatetimeIndex
    values: pd.DataFrame
    series: int

    def slices(self, objective: SLOObjective) -> pd.DataFrame:
        """The objective's slices (`analysis.slo.threshold_slices`): good when `value op value` holds."""
        return analysis.threshold_slices(self.values, objective.spec.op, objective.spec.value,  # type: ignore[arg-type]
                                         self.ends)


def _empty() -> pd.DataFrame:
    return pd.DataFrame({"timestamp": pd.DatetimeIndex([], tz="UTC"), "value": pd.Series([], dtype=float)})


def fetch_threshold_values(prometheus: PrometheusAPI, objective: SLOObjective, start: pd.Timestamp,
                           end: pd.Timestamp, *, lookback: pd.Timedelta = analysis.LOOKBACK,
                           anchor: pd.Timestamp | None = None) -> ThresholdValues:
    """The objective's value at every slice end of (start - lookback, end], slices aligned to `anchor` (default
    `start`). Objectives sharing an expression share a request when `prometheus` is the run's `Memo`."""
    query, step = objective.threshold_query, objective.time_slice_window
    if query is None or step is None:
        raise BadInputError(f"SLO {objective.name}: not a thresholdMetric objective with a timeSliceWindow")
    start, end = pd.Timestamp(start).floor("min"), pd.Timestamp(end).floor("min")
    ends = analysis.slice_ends(anchor if anchor is not None else start, start - lookback, end, step)
    if not len(ends):
        return ThresholdValues(objective.name, query, step, ends, _empty(), 0)
    frame = prometheus.query_range(query, ends[0], ends[-1], step, align=False)
    labels = [c for c in frame.columns if c not in VALUE_COLUMNS]
    series = frame[labels].drop_duplicates() if labels else frame.iloc[:1]
    if len(frame) and (len(series) > 1 or frame["timestamp"].duplicated().any()):
        shown = "; ".join(",".join(f"{k}={v}" for k, v in row.items() if isinstance(v, str))
                          for row in series.head(3).to_dict("records"))
        raise BadInputError(f"SLO {objective.name}: thresholdMetric query returned {len(series)} series ({shown}"
                            f"{', ...' if len(series) > 3 else ''}); it must give one value per slice: aggregate it "
                            f"(e.g. max(...) or histogram_quantile(0.99, sum by (le) (...))), query: {query}")
    values = frame[["timestamp", "value"]].reset_index(drop=True) if len(frame) else _empty()
    return ThresholdValues(objective.name, query, step, ends, values, int(len(series)) if len(frame) else 0)
