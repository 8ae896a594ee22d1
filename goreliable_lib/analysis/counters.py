"""Counter maths: raw counter samples and the server's per-minute sums -> exact per-minute events (pure).

Ground truth (DESIGN.md): the events of minute m are the increments of every raw sample whose timestamp falls in
(m - 1m, m]. The increment of a sample is its value minus the previous sample's of the same series; a drop means
the counter restarted from 0, so the increment is the new value (a *reset*). A series' very first sample is 0
events when its history is unknown (a *baseline*: the series was there when the server's data starts) and its
value when the series is *new* (it appeared while the server already held its neighbours, e.g. `code="500"` on
the first error). Two spellings of one bucket bound (`le="0.3"`, `le="0.30"`) are one counter. A raw sample is a
finite value: staleness markers (NaN), NaN and infinities are not samples (`finite_samples`).

How the engine (`events.engine`) gets there without holding raw samples: the server sums, per minute m,
    A(m) = sum over series held at m of L_s(m)          (`sum(last_over_time(S[G]))`)
    B(m) = sum over series held at m or m - 1 of their last value in (m - 1m - G, m]   (`[G + 1m]`)
where a series is *held* at m when it has a sample in (m - G, m] (G = the scrape window, see `scrape_window`)
and L_s(m) is that last sample. Then, exactly,
    events(m) = B(m) - A(m - 1) + sum over series s of correction_s(m)
with correction_s(m) = exact_s(m) - server_s(m) (`series_corrections`), and server_s(m) = L_s(m) - L_s(m - 1)
while s is held in both minutes, L_s(m) when it is held at m only (it *enters*), 0 otherwise. The correction is
0 except (a) around a reset (the telescoped difference misses the value before the drop), and (b) when a series
enters with a known predecessor: a continuing counter returning after a silence (minus its previous value).
A series entering for the first time is counted from 0 by the sum itself (its correction is 0) unless it is a
baseline. So only the series-minutes around resets and returns need raw samples: the engine fetches just those.

Coverage: minute m has data when some series is held at m (a sample within the scrape window); a *scrape gap*
is a run of minutes without. Minutes before the server's data (retention, a new server) are not gaps: the
engine reports them through `data_starts_at`. Series first seen within `baseline_margin` of that start are
baselines (their first sample is 0 events; scrape targets have their own offsets within the interval).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from goreliable_lib.inputs.promql import Matcher, format_le, quote
from goreliable_lib.labelsets import combination_codes, factorize_label
from goreliable_lib.timeutil import MINUTE, to_rfc3339

MINUTE_NS = MINUTE.value
#: Scrape windows are whole minutes between these bounds (a scrape interval up to 5 min is supported).
MAX_SCRAPE_WINDOW_MINUTES = 10
#: Jitter tolerance when the scrape interval is rounded up to whole minutes (60.3 s is still a 1-minute scrape).
INTERVAL_TOLERANCE = 0.02
#: The least time after the server's oldest sample during which series are taken for baselines.
MIN_BASELINE_MARGIN = pd.Timedelta(minutes=10)
LABEL_COLUMNS_EXCLUDED = ("timestamp", "value")


# --------------------------------------------------------------------------------------------- scrape window
def scrape_window(interval_seconds: float | None) -> pd.Timedelta:
    """G: the scrape interval rounded up to whole minutes (2% jitter tolerance), 1 to 10 minutes.

    A series is held at minute m when it has a sample in (m - G, m]; with G at least the scrape interval a
    regularly scraped series is held every minute, so only real silences (gaps, births, deaths) change the set."""
    if interval_seconds is None or not math.isfinite(interval_seconds) or interval_seconds <= 0:
        return MINUTE
    minutes = math.ceil(interval_seconds * (1 - INTERVAL_TOLERANCE) / 60.0)
    return MINUTE * min(max(minutes, 1), MAX_SCRAPE_WINDOW_MINUTES)


def baseline_margin(window: pd.Timedelta) -> pd.Timedelta:
    """How long after the server's oldest sample a series' first sample is still a baseline (unknown history):
    twice the scrape window, at least 10 minutes."""
    return max(MIN_BASELINE_MARGIN, 2 * window)


def timestamps_ns(times: pd.Series | pd.Index) -> np.ndarray:
    """UTC timestamps as int64 nanoseconds since the epoch."""
    return pd.DatetimeIndex(times).as_unit("ns").asi8


def scrape_interval_seconds(samples: pd.DataFrame) -> float | None:
    """The scrape interval seen in raw samples: per series the shortest spacing between two samples (a missed
    scrape only lengthens spacings), then the lower median over series: a spacing some series had, never the mean
    of two (two series, one back from a long silence: 300 s and 3300 s give 300 s, not 1800 s). None without two
    samples of one series."""
    samples = samples[np.isfinite(samples["value"].to_numpy(dtype=float))] if len(samples) else samples
    if samples.empty:
        return None
    keys = series_codes(samples)
    times = timestamps_ns(samples["timestamp"])
    order = np.lexsort((times, keys))
    times, keys = times[order], keys[order]
    same = keys[1:] == keys[:-1]
    spacing = np.diff(times)[same] / 1e9
    spacing_keys = keys[1:][same]
    positive = spacing > 0
    if not positive.any():
        return None
    shortest = np.sort(pd.Series(spacing[positive]).groupby(spacing_keys[positive]).min().to_numpy())
    return float(shortest[(len(shortest) - 1) // 2])


# --------------------------------------------------------------------------------------------- labels
def canonical_le(value: Any) -> Any:
    """The canonical spelling of a bucket bound (`0.30` -> `0.3`, `Inf` -> `+Inf`); other values unchanged."""
    if not isinstance(value, str):
        return value
    try:
        number = float(value.replace("Inf", "inf"))
    except ValueError:
        return value
    return format_le(number)


def _label_values(frame: pd.DataFrame, label: str) -> pd.Series:
    if label not in frame.columns:
        return pd.Series("", index=frame.index, dtype=object)
    return frame[label].astype(object).where(frame[label].notna(), "").astype(str)


def matches(frame: pd.DataFrame, matchers: tuple[Matcher, ...]) -> pd.Series:
    """Boolean mask of the rows whose labels satisfy the matchers (Prometheus semantics: a missing label is the
    empty string, regexes are anchored, `le` equality compares numbers)."""
    mask = pd.Series(True, index=frame.index)
    for matcher in matchers:
        values = _label_values(frame, matcher.label)
        if matcher.label == "le" and matcher.op in ("=", "!="):
            hit = pd.to_numeric(values.replace({"+Inf": "inf", "-Inf": "-inf", "Inf": "inf"}), errors="coerce") \
                == float(matcher.value.replace("Inf", "inf"))
        elif matcher.op in ("=", "!="):
            hit = values == matcher.value
        else:
            hit = values.str.fullmatch(matcher.value).fillna(False).astype(bool)
        mask &= ~hit if matcher.op in ("!=", "!~") else hit
    return mask


def label_names(frame: pd.DataFrame) -> list[str]:
    """The label columns of a sample or series frame, `__name__` first."""
    names = [c for c in frame.columns if c not in LABEL_COLUMNS_EXCLUDED]
    return sorted(names, key=lambda n: (n != "__name__", n))


def _label_codes(frame: pd.DataFrame, names: list[str], merge_le: bool) -> np.ndarray:
    """One integer per distinct label combination (missing = ""), vectorised over the rows."""
    per_label = []
    for name in names:  # numpy arrays, not Series: a look-up's frame has a few rows, the per-call cost is what counts
        codes, values = factorize_label(frame[name].to_numpy(dtype=object), missing="")
        if merge_le and name == "le" and len(values):
            canonical = pd.Series([canonical_le(v) for v in values], dtype=object)
            codes = pd.factorize(canonical)[0][codes]
        per_label.append(codes)
    return combination_codes(per_label, len(frame))


def series_labels(frame: pd.DataFrame, *, merge_le: bool = True) -> list[tuple[tuple[str, str], ...]]:
    """One label tuple per row ((name, value) pairs sorted, missing or empty labels left out, `le` canonical
    when `merge_le`): the identity of a counter. Two spellings of one bound give the same tuple."""
    codes, unique = series_label_codes(frame, merge_le=merge_le)
    return [unique[c] for c in codes]


def series_label_codes(frame: pd.DataFrame, *,
                       merge_le: bool = True) -> tuple[np.ndarray, list[tuple[tuple[str, str], ...]]]:
    """`series_labels` as (one code per row, the distinct label tuples the codes index): a lookup per counter
    rather than per row."""
    names = label_names(frame)
    if not len(frame):
        return np.zeros(0, dtype=np.int64), []
    codes = _label_codes(frame, names, merge_le)
    firsts = np.unique(codes, return_index=True)[1]  # the first row of each combination, by code
    columns = [frame[n].to_numpy(dtype=object)[firsts] for n in names]
    unique = []
    for row in zip(*columns, strict=True) if names else [()] * len(firsts):
        pairs = []
        for name, value in zip(names, row, strict=True):
            if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
                continue
            pairs.append((name, canonical_le(value) if merge_le and name == "le" else str(value)))
        unique.append(tuple(pairs))
    return codes, unique


def series_codes(frame: pd.DataFrame, *, merge_le: bool = True) -> np.ndarray:
    """One integer per distinct counter (see `series_labels`), in order of first appearance."""
    return _label_codes(frame, label_names(frame), merge_le) if len(frame) else np.zeros(0, dtype=np.int64)


def series_name(labels: tuple[tuple[str, str], ...] | dict[str, str]) -> str:
    """A counter as PromQL writes it: `name{label="value",...}` (labels sorted, values escaped)."""
    pairs = sorted(labels.items()) if isinstance(labels, dict) else list(labels)
    name = next((v for k, v in pairs if k == "__name__"), "")
    inner = ",".join(f"{k}={quote(v)}" for k, v in pairs if k != "__name__" and v not in (None, ""))
    return f"{name}{{{inner}}}" if inner or not name else name


# --------------------------------------------------------------------------------------------- one series
def finite_samples(times_ns: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The samples that are samples: a staleness marker (a NaN), a NaN an exporter wrote or an infinity is no
    counter value (Prometheus drops markers from raw answers; VictoriaMetrics 1.79, among others, returns them as
    NaN)."""
    keep = np.isfinite(values)
    return (times_ns, values) if keep.all() else (times_ns[keep], values[keep])


def merge_spellings(times_ns: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Samples of one counter gathered from several series (bucket spellings): time order, one sample per
    timestamp (the highest: two spellings scraped at the same time are the same counter); non-finite values
    (staleness markers) left out."""
    times_ns, values = finite_samples(times_ns, values)
    if len(times_ns) == 0:
        return times_ns.astype(np.int64), values.astype(float)
    order = np.lexsort((values, times_ns))
    times_ns, values = times_ns[order], values[order]
    last = np.append(times_ns[1:] != times_ns[:-1], True)
    return times_ns[last], values[last]


def sample_increments(values: np.ndarray, previous: float | None, first_counts: bool) -> tuple[np.ndarray,
                                                                                               np.ndarray]:
    """Increment of each sample (time order) and where a reset happened.

    `previous` is the value of the sample before the first one (None: the first sample is the series' first
    ever, counted as its value when `first_counts` (a new series) and as 0 otherwise (a baseline))."""
    before = np.empty(len(values))
    if len(values):
        before[1:] = values[:-1]
        before[0] = np.nan if previous is None else previous
    increments = values - before
    reset = increments < 0
    increments = np.where(reset, values, increments)
    if len(values) and previous is None:
        increments[0] = values[0] if first_counts else 0.0
    return increments, reset


def held_last(times_ns: np.ndarray, values: np.ndarray, minutes_ns: np.ndarray,
              window_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Per minute m: is the series held (a sample in (m - window, m]) and its last value there (0 when not)."""
    index = np.searchsorted(times_ns, minutes_ns, side="right") - 1
    clipped = np.clip(index, 0, max(len(times_ns) - 1, 0))
    held = (index >= 0) & (times_ns[clipped] > minutes_ns - window_ns) if len(times_ns) else \
        np.zeros(len(minutes_ns), dtype=bool)
    last = np.where(held, values[clipped] if len(values) else 0.0, 0.0)
    return held, last


def server_share(times_ns: np.ndarray, values: np.ndarray, minutes_ns: np.ndarray, window_ns: int) -> np.ndarray:
    """What the server's B(m) - A(m - 1) counts for this series at each minute (see the module notes)."""
    held, last = held_last(times_ns, values, minutes_ns, window_ns)
    held_before, last_before = held_last(times_ns, values, minutes_ns - MINUTE_NS, window_ns)
    return np.where(held, last - np.where(held_before, last_before, 0.0), 0.0)


def exact_events(times_ns: np.ndarray, increments: np.ndarray, minutes_ns: np.ndarray) -> np.ndarray:
    """Sum of the increments of the samples in (m - 1m, m], per minute m."""
    cumulative = np.concatenate([[0.0], np.cumsum(increments)])
    high = np.searchsorted(times_ns, minutes_ns, side="right")
    low = np.searchsorted(times_ns, minutes_ns - MINUTE_NS, side="right")
    return cumulative[high] - cumulative[low]


def needs_previous(times_ns: np.ndarray, minutes_ns: np.ndarray) -> bool:
    """True when the first sample lies in one of the minutes: its increment depends on the sample before."""
    if len(times_ns) == 0 or len(minutes_ns) == 0:
        return False
    position = np.searchsorted(minutes_ns, times_ns[0], side="left")
    return bool(position < len(minutes_ns) and minutes_ns[position] - MINUTE_NS < times_ns[0])


@dataclass
class Correction:
    """The corrections of one counter at some minutes, and what was seen on the way."""

    correction: np.ndarray  # per minute (aligned with the minutes asked for)
    resets: list[tuple[int, float, float]] = field(default_factory=list)  # (time ns, before, after)
    first_sample: tuple[int, float] | None = None  # a new series' first sample (time ns, value), if in a minute


def series_corrections(spellings: list[tuple[np.ndarray, np.ndarray]], minutes_ns: np.ndarray, window_ns: int,
                       previous: float | None = None, first_counts: bool = True,
                       previous_time: int | None = None) -> Correction:
    """exact_s(m) - server_s(m) at each minute for one counter whose raw samples are `spellings` (one (times,
    values) pair per series spelling it; usually one).

    The samples must cover (m - 1m - window, m] of every minute asked for; `previous` is the value of the sample
    before the first one (None with `first_counts`: the first sample is a new series' first; without: a
    baseline or irrelevant). With `previous_time`, the samples up to it are context only (already counted) and
    `previous` is the value of the last of them."""
    server = np.zeros(len(minutes_ns))
    spellings = [finite_samples(times, values) for times, values in spellings]
    for times, values in spellings:
        server += server_share(times, values, minutes_ns, window_ns)
    times, values = merge_spellings(np.concatenate([t for t, _ in spellings]) if spellings else np.zeros(0, np.int64),
                                    np.concatenate([v for _, v in spellings]) if spellings else np.zeros(0))
    if previous_time is not None:
        keep = times > previous_time
        times, values = times[keep], values[keep]
    increments, reset = sample_increments(values, previous, first_counts)
    exact = exact_events(times, increments, minutes_ns)
    in_minutes = np.zeros(len(times), dtype=bool)
    if len(times) and len(minutes_ns):
        position = np.clip(np.searchsorted(minutes_ns, times, side="left"), 0, len(minutes_ns) - 1)
        in_minutes = (minutes_ns[position] >= times) & (minutes_ns[position] - MINUTE_NS < times)
    before = np.concatenate([[np.nan if previous is None else previous], values[:-1]]) if len(values) else values
    resets = [(int(t), float(b), float(v)) for t, b, v in
              zip(times[reset & in_minutes], before[reset & in_minutes], values[reset & in_minutes], strict=True)]
    first = (int(times[0]), float(values[0])) if (len(times) and previous is None and first_counts
                                                 and in_minutes[0]) else None
    return Correction(exact - server, resets, first)


# --------------------------------------------------------------------------------------------- the minute frame
def minute_events(a: pd.Series, b: pd.Series, corrections: pd.Series | None = None,
                  held: pd.Series | None = None) -> pd.Series:
    """events(m) = B(m) - A(m - 1) + corrections(m) on the minutes of `b` (A reaches one minute earlier).

    A missing point of A or B is a sum over no series (0). `held` (default: A present) marks the minutes with
    data; the others are NaN (no sample within the scrape window)."""
    minutes = b.index
    previous = a.reindex(minutes - MINUTE).fillna(0.0).to_numpy()
    events = b.fillna(0.0).to_numpy() - previous
    if corrections is not None:
        events = events + corrections.reindex(minutes).fillna(0.0).to_numpy()
    has_data = (a.reindex(minutes).notna() if held is None else held.reindex(minutes).fillna(False)).to_numpy()
    return pd.Series(np.where(has_data, events, np.nan), index=minutes)


# --------------------------------------------------------------------------------------------- report facts
@dataclass(frozen=True)
class WindowData:
    """What data a window (start, end] has: the facts for `summary.json` and the first screen."""

    start: pd.Timestamp
    end: pd.Timestamp
    data_starts_at: pd.Timestamp | None  # the server's oldest sample, when after the window's start
    covered_from: pd.Timestamp  # events are known for the minutes after this
    minutes: int
    minutes_with_data: int

    @property
    def partial(self) -> bool:
        """True when part of the window lies before the data the server holds."""
        return self.covered_from > self.start

    @property
    def days(self) -> float:
        return (self.end - self.start) / pd.Timedelta(days=1)

    @property
    def covered_days(self) -> float:
        """Days of the window after the data starts (the whole window when it is not partial)."""
        return self.covered_span / pd.Timedelta(days=1)

    @property
    def covered_span(self) -> pd.Timedelta:
        """The part of the window after the data starts (`covered_days` as a span)."""
        since = self.data_starts_at if self.data_starts_at is not None else self.covered_from
        return max(pd.Timedelta(0), self.end - max(since, self.start))

    @property
    def coverage(self) -> float:
        """Share of the window's minutes with data (minutes before the data starts count as without)."""
        return self.minutes_with_data / self.minutes if self.minutes else math.nan

    def summary(self) -> dict[str, Any]:
        """`data_starts_at` (RFC3339 or None), `partial`, `covered_days` for the SLO's summary.json entry."""
        return {"data_starts_at": _rfc3339(self.data_starts_at) if self.partial else None,
                "partial": self.partial, "covered_days": round(self.covered_days, 3)}


def window_data(events: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, *,
                data_starts_at: pd.Timestamp | None, covered_from: pd.Timestamp | None) -> WindowData:
    """The data facts of the window (start, end] from an events frame (`timestamp`, `total`; NaN = no data)."""
    window = events[(events["timestamp"] > start) & (events["timestamp"] <= end)]
    minutes = int((end.floor("min") - start.floor("min")) / MINUTE)
    covered = covered_from if covered_from is not None else start
    return WindowData(start=start, end=end,
                      data_starts_at=data_starts_at if data_starts_at is not None and data_starts_at > start else None,
                      covered_from=covered, minutes=minutes, minutes_with_data=int(window["total"].notna().sum()))


def _rfc3339(ts: pd.Timestamp | None) -> str | None:
    return None if ts is None else to_rfc3339(ts)
