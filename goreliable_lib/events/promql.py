"""Every PromQL expression the SLO event engine and the SLO report send, written once and tested by its text.

Selectors come in as PromQL text (`inputs.promql.Selector.to_promql()`, `series.Family.narrow()`), never from raw
user strings, so label values are already escaped. A range is written by `range_text` for the server at hand:
the window (t - d, t] is `[d]` on servers whose range selectors are left-open (Prometheus 3, VictoriaMetrics) and
`[d - 1ms]` on those that hold both ends (Prometheus 2, Thanos, Mimir 2), which `RANGE_PROBE` tells apart.

| expression | what the server answers |
| --- | --- |
| `raw_samples` `S[d]` | the raw samples of (t - d, t] (staleness markers dropped by the source) |
| `held` `last_over_time(S[G])` | each series' last value when it has a sample within the scrape window G |
| `held_sum` `sum by (...) (last_over_time(S[G]))` | A(m) and, with G + 1m, B(m) of `analysis.counters` |
| `reset_flags` `resets(S[d]) > 0` | the series holding a counter reset in (t - d, t] |
| `left_last_minute` `... offset 1m unless ...` | series held a minute ago and not now (a silence begins) |
| `sample_count` `count_over_time(S[d])` | whether a series has a sample in (t - d, t] |
| `terms` `label_replace(f(S[d] @ t), ...) or ...` | many look-ups at different times in one request |
| `drift_max` `max by (model) (max_over_time(G[step]))` | the drift gauge's maximum per step |
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

#: Tells closed ranges (Prometheus 2: [t - d, t], answers 3) from left-open ones (Prometheus 3, VictoriaMetrics:
#: (t - d, t], answers 2).
RANGE_PROBE = "count_over_time(vector(1)[2m:1m])"
#: The label that keeps batched look-ups apart (`terms`).
TERM_LABEL = "goreliable_term"
_MILLISECOND = pd.Timedelta(milliseconds=1)


def range_text(length: pd.Timedelta, *, closed: bool) -> str:
    """A range selector's duration covering exactly (t - length, t]: whole seconds when they are, else
    milliseconds; one millisecond less on a server whose ranges hold both ends (`closed`)."""
    ms = int(length / _MILLISECOND)
    if closed:
        return f"{ms - 1}ms"
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def raw_samples(selector: str, span: str) -> str:
    """`S[span]`: the raw samples of the selector's series in the range."""
    return f"{selector}[{span}]"


def held(selector: str, span: str) -> str:
    """`last_over_time(S[span])`: each series with a sample in the range, at its last value."""
    return f"last_over_time({selector}[{span}])"


def held_sum(selector: str, span: str, by: Sequence[str] = ()) -> str:
    """`sum(last_over_time(S[span]))`, or `sum by (labels)(...)`: the sum of the held series' last values."""
    grouping = f" by ({', '.join(by)})" if by else ""
    return f"sum{grouping}({held(selector, span)})"


def reset_flags(selector: str, span: str) -> str:
    """`resets(S[span]) > 0`: the series holding at least one counter reset in the range."""
    return f"resets({selector}[{span}]) > 0"


def left_last_minute(selector: str, span: str) -> str:
    """The series held a minute ago and not held now (their silence begins in the last minute), at the last value
    they had then."""
    return f"last_over_time({selector}[{span}] offset 1m) unless {held(selector, span)}"


def sample_count(selector: str, span: str) -> str:
    """`count_over_time(S[span])`: a series' number of samples in the range (none: absent)."""
    return f"count_over_time({selector}[{span}])"


def terms(function: str, items: Sequence[tuple[str, str, pd.Timestamp]], first_index: int = 0) -> str:
    """Many look-ups in one request: `function(selector[span] @ at)` per item, each labelled with its index in
    `TERM_LABEL` (from `first_index`), joined with `or`."""
    return " or ".join(
        f'label_replace({function}({selector}[{span}] @ {at.value / 1e9:.3f}), "{TERM_LABEL}", "{first_index + i}", '
        '"", "")' for i, (selector, span, at) in enumerate(items))


def drift_max(metric: str, model_label: str, step_seconds: int) -> str:
    """The drift gauge's maximum over each step, per model: a drift episode shorter than the step is not missed."""
    return f"max by ({model_label}) (max_over_time({metric}[{step_seconds}s]))"
