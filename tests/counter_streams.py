"""Raw counter streams for the SLO event engine's tests, independent of the engine (no goreliable_lib import):

- `Stream` / `make_samples`: counters as a scraper records them (interval, phase, jitter, process restarts
  anywhere (several inside a minute too), scrape gaps, series born late, dying, coming back, `le` spellings);
- `reference_events`: the ground truth of DESIGN.md computed the plain way, sample by sample;
- `FakePrometheus`: an in-memory Prometheus HTTP API (`query`, `query_range`, `series`) evaluating the small
  PromQL subset the engine sends, with Prometheus 2's closed ranges or VictoriaMetrics' left-open ones (and
  VictoriaMetrics' `resets()` that also compares with the sample before the window, and its per-day series
  index). Its answers are checked against the real servers in test_events_engine_servers.py.

The reference's rules (the documented contract, written again here on purpose):
- minute m holds the samples with timestamp in (m - 1m, m]; an increment is the difference to the previous
  sample of the same counter, or the value itself after a drop (a restart);
- a counter's first sample counts its value when it comes later than `margin` after the oldest sample of the
  selector (a new series), and 0 otherwise (a baseline: its history is unknown);
- `le` spellings of one number are one counter; two samples at the same time are one (the higher);
- a minute has data when some series has a sample within the scrape window G before it (G = the scrape interval
  rounded up to whole minutes with 2% tolerance, 1..10); the minutes before the one holding the oldest sample
  are unknown.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

MIN_NS = 60_000_000_000
S_NS = 1_000_000_000


# --------------------------------------------------------------------------------------------- streams
@dataclass
class Stream:
    """One scraped series: labels, first and last scrape, restarts, silences; values are drawn per scrape."""

    labels: dict[str, str]
    start_ns: int  # first scrape time (phase included)
    stop_ns: int  # no scrape after this
    interval_s: float
    jitter_ms: int = 0
    rate: float = 5.0  # mean increment per scrape
    restarts: list[int] = field(default_factory=list)  # scrape indices where the process restarted before
    silences: list[tuple[int, int]] = field(default_factory=list)  # (from index, count) of missed scrapes
    initial: float = 1000.0  # value at the first scrape (a baseline's history), or small for a new series
    seed: int = 0
    busy: tuple[int, int, float] | None = None  # (from index, to index, mean increment) of a busy spell


def scrape_times(stream: Stream) -> np.ndarray:
    rng = np.random.default_rng(stream.seed)
    step = int(stream.interval_s * S_NS)
    count = max(0, (stream.stop_ns - stream.start_ns) // step + 1)
    times = stream.start_ns + step * np.arange(count, dtype=np.int64)
    if stream.jitter_ms:
        times = times + rng.integers(-stream.jitter_ms, stream.jitter_ms + 1, count) * 1_000_000
    return times // 1_000_000 * 1_000_000  # milliseconds, like Prometheus


def stream_samples(stream: Stream) -> tuple[np.ndarray, np.ndarray]:
    """(times ns, values) as scraped: a counter that restarts from 0 at each restart index and is not
    scraped during its silences."""
    rng = np.random.default_rng(stream.seed + 1)
    times = scrape_times(stream)
    increments = rng.poisson(stream.rate, len(times)).astype(float)
    if stream.busy is not None:
        low, high, rate = stream.busy
        increments[low:high] = rng.poisson(rate, max(0, min(high, len(times)) - low))
    values = np.empty(len(times))
    value = stream.initial
    restarts = set(stream.restarts)
    for i in range(len(times)):
        if i in restarts:
            value = float(rng.integers(0, 3))  # requests served since the process restarted
        elif i > 0:
            value += increments[i]
        values[i] = value
    keep = np.ones(len(times), dtype=bool)
    for first, count in stream.silences:
        keep[first:first + count] = False
    return times[keep], values[keep]


def make_samples(streams: list[Stream]) -> pd.DataFrame:
    """The long table the fake server holds: `t` (ns), `value`, one column per label (None = missing)."""
    names = sorted({k for s in streams for k in s.labels})
    frames = []
    for stream in streams:
        times, values = stream_samples(stream)
        frame = pd.DataFrame({"t": times, "value": values})
        for name in names:
            frame[name] = stream.labels.get(name)
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"t": [], "value": []})
    for name in names:
        table[name] = table[name].astype(object)
    return table


def random_streams(seed: int, service: str, start: pd.Timestamp, hours: float) -> tuple[list[Stream], float]:
    """A seeded random service (the property tests' features, for the real servers): (streams, interval)."""
    rng = np.random.default_rng(seed)
    interval = float(rng.choice([5, 10, 15, 30, 60, 90, 120, 300]))
    stop = start.value + int(hours * 3600 * S_NS)
    per_hour = 3600 / interval
    streams = []
    for pod in range(int(rng.integers(1, 4))):
        phase = int(rng.integers(0, int(interval * 1000))) * 1_000_000
        born, dies = start.value + phase, stop
        initial = float(rng.integers(0, 10**6))
        if rng.random() < 0.3:  # born later: a new series
            born += int(rng.uniform(0.2, 0.7) * hours * 3600) * S_NS
            initial = float(rng.integers(0, 4))
        if rng.random() < 0.2:
            dies = born + int(rng.uniform(0.1, 0.6) * hours * 3600) * S_NS
        count = max(1, int((dies - born) / (interval * S_NS)))
        restarts = sorted({int(i) + k for i in rng.integers(0, count, int(rng.integers(0, 4)))
                           for k in range(int(rng.integers(1, 3)))})
        if rng.random() < 0.3:  # a crash loop
            begin, every = int(rng.integers(0, count)), int(rng.integers(2, 11))
            restarts = sorted(set(restarts) | set(range(begin, min(count, begin + int(per_hour)), every)))
        silences = [(int(rng.integers(0, count)), int(rng.integers(1, max(2, int(per_hour / 6)))))
                    for _ in range(int(rng.integers(0, 3)))]
        jitter = int(rng.integers(0, int(min(300, interval * 10)) + 1))
        for code in ("200", "500"):
            rate = float(rng.uniform(0.5, 8)) / (1 if code == "200" else 10)
            streams.append(Stream(labels={"__name__": "req_total", "service": service, "pod": f"p{pod}", "code": code},
                                  start_ns=born, stop_ns=dies, interval_s=interval, jitter_ms=jitter, rate=rate,
                                  restarts=restarts, silences=silences,
                                  initial=initial if code == "200" else float(int(initial / 50)),
                                  seed=seed * 100 + pod * 2 + (code == "500")))
    return streams, interval


def openmetrics_text(table: pd.DataFrame) -> str:
    """OpenMetrics for `promtool tsdb create-blocks-from openmetrics` (seconds with millisecond decimals)."""
    names = [c for c in table.columns if c not in ("t", "value", "__name__")]
    ordered = table.sort_values(["__name__", *names, "t"], na_position="first", kind="stable")
    lines = []
    for record in ordered.to_dict("records"):
        pairs = ",".join(f'{k}="{record[k]}"' for k in names if isinstance(record[k], str))
        lines.append(f"{record['__name__']}{{{pairs}}} {record['value']:.17g} {record['t'] // 1_000_000 / 1000:.3f}")
    return "\n".join(lines) + "\n# EOF\n"


def prometheus_text(table: pd.DataFrame) -> str:
    """The Prometheus text format with millisecond timestamps (VictoriaMetrics' /api/v1/import/prometheus)."""
    names = [c for c in table.columns if c not in ("t", "value", "__name__")]
    lines = []
    for record in table.to_dict("records"):
        pairs = ",".join(f'{k}="{record[k]}"' for k in names if isinstance(record[k], str))
        lines.append(f"{record['__name__']}{{{pairs}}} {record['value']:.17g} {record['t'] // 1_000_000}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------- reference
def _le_number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value.replace("Inf", "inf"))
        except ValueError:
            return value
    return value


def counter_identity(row: dict[str, Any]) -> tuple:
    return tuple(sorted((k, _le_number(v) if k == "le" else v) for k, v in row.items()
                        if k not in ("t", "value") and isinstance(v, str) and v != ""))


def window_minutes(interval_s: float) -> int:
    return min(max(math.ceil(interval_s * 0.98 / 60), 1), 10)


def reference_events(table: pd.DataFrame, first: pd.Timestamp, end: pd.Timestamp, interval_s: float,
                     select: Any = None) -> pd.Series:
    """Per-minute events of the selected series over (first, end] (index: minute timestamps), NaN where the
    minute has no data. `select(labels dict) -> bool` chooses the series (default all); coverage is always
    measured over the whole table (the SLO's total)."""
    minutes = pd.date_range(first + pd.Timedelta(minutes=1), end, freq="min")
    m_ns = minutes.as_unit("ns").asi8
    g = window_minutes(interval_s)
    margin_ns = max(10, 2 * g) * MIN_NS
    all_t = table["t"].to_numpy(dtype=np.int64)
    oldest = int(all_t.min()) if len(all_t) else None
    events = np.zeros(len(minutes))
    by_counter: dict[tuple, dict[int, float]] = {}
    label_columns = [c for c in table.columns if c not in ("t", "value")]
    # each distinct label set once (selected, identified), then its samples: a counter is the samples of every
    # label set with its identity (`le` spellings), the highest value kept where two share a timestamp
    for _, series in table.groupby(label_columns, dropna=False, sort=False) if label_columns else [((), table)]:
        labels = {k: v for k, v in series.iloc[0].items() if k not in ("t", "value")}
        if select is not None and not select(labels):
            continue
        samples = by_counter.setdefault(counter_identity(labels), {})
        times, values = series["t"].to_numpy(np.int64).tolist(), series["value"].to_numpy(float).tolist()
        for t, value in zip(times, values, strict=True):
            samples[t] = max(samples.get(t, -math.inf), value)
    for samples in by_counter.values():
        times = sorted(samples)
        previous = None
        for t in times:
            v = samples[t]
            if previous is None:
                inc = v if (oldest is not None and t > oldest + margin_ns) else 0.0
            else:
                inc = v - previous if v >= previous else v
            previous = v
            minute = -(-t // MIN_NS) * MIN_NS
            k = (minute - m_ns[0]) // MIN_NS if len(m_ns) else -1
            if 0 <= k < len(m_ns):
                events[k] += inc
    sorted_t = np.sort(all_t)
    high = np.searchsorted(sorted_t, m_ns, side="right")
    low = np.searchsorted(sorted_t, m_ns - g * MIN_NS, side="right")
    covered = high > low
    if oldest is not None and oldest + margin_ns > first.value:
        covered &= m_ns >= -(-oldest // MIN_NS) * MIN_NS
    return pd.Series(np.where(covered, events, np.nan), index=minutes)


# --------------------------------------------------------------------------------------------- fake server
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")
_UNIT = {"ms": 1_000_000, "s": S_NS, "m": MIN_NS, "h": 60 * MIN_NS, "d": 1440 * MIN_NS}
_STRING = r'"(?:[^"\\]|\\.)*"'


@functools.cache
def _duration_ns(text: str) -> int:
    total, position = 0, 0
    for match in _DURATION.finditer(text):
        assert match.start() == position, text
        total += int(match[1]) * _UNIT[match[2]]
        position = match.end()
    assert position == len(text), text
    return total


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r", "t": "\t"}.get(m[1], m[1]), body)


@dataclass
class _Sel:
    metric: str | None
    matchers: list[tuple[str, str, str]]

    def matches(self, labels: dict[str, str]) -> bool:
        if self.metric is not None and labels.get("__name__") != self.metric:
            return False
        for name, op, value in self.matchers:
            have = labels.get(name) or ""
            hit = have == value if op in ("=", "!=") else re.fullmatch(value, have) is not None
            if hit == (op in ("!=", "!~")):
                return False
        return True


@functools.cache
def _parse_selector(text: str) -> _Sel:
    match = re.fullmatch(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*(?:\{(.*)\})?\s*", text, re.S)
    assert match, text
    matchers = []
    body = match[2] or ""
    for item in re.finditer(rf"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*({_STRING})\s*,?", body):
        matchers.append((item[1], item[2], _unquote(item[3])))
    return _Sel(match[1], matchers)


class FakePrometheus:
    """The Prometheus HTTP API over an in-memory sample table (see the module notes).

    `closed=True`: range selectors hold [t - d, t] (Prometheus 2.42); `False`: (t - d, t] (VictoriaMetrics,
    Prometheus 3). `vm_resets`: `resets()` also compares the window's first sample with the one before it.
    `day_index`: `/api/v1/series` answers for whole UTC days (VictoriaMetrics)."""

    def __init__(self, table: pd.DataFrame, *, closed: bool = True, vm_resets: bool = False,
                 day_index: bool = False) -> None:
        self.closed, self.vm_resets, self.day_index = closed, vm_resets, day_index
        self.requests: list[dict[str, Any]] = []
        names = [c for c in table.columns if c not in ("t", "value")]
        self.series_list: list[dict[str, str]] = []
        self._selected: dict[str, list[int]] = {}
        self.data: list[tuple[np.ndarray, np.ndarray]] = []
        if len(table):
            table = table.sort_values("t", kind="stable")
            keys = table[names].astype(object).where(table[names].notna(), None)
            grouped = table.groupby([keys[n].fillna("\0") for n in names], sort=True, dropna=False)
            for _, rows in grouped:
                labels = {n: rows[n].iloc[0] for n in names if isinstance(rows[n].iloc[0], str)}
                t = rows["t"].to_numpy(dtype=np.int64)
                v = rows["value"].to_numpy(dtype=float)
                t, index = np.unique(t, return_index=True)
                self.series_list.append(labels)
                self.data.append((t, v[index]))

    # -- the API ---------------------------------------------------------------------------------------------
    def query(self, promql: str, time: Any = None) -> pd.DataFrame:
        at = pd.Timestamp(time).value
        self.requests.append({"method": "query", "query": promql, "time": time})
        result = self._eval(promql.strip(), at)
        if isinstance(result, list):  # a matrix (raw samples)
            return self._frame([(labels, t, v) for labels, t, v in result])
        return self._frame([(labels, np.array([at]), np.array([v])) for labels, v in result.items()])

    def query_range(self, promql: str, start: Any, end: Any, step: Any, *, align: bool = True,
                    series: int = 1) -> pd.DataFrame:
        self.requests.append({"method": "query_range", "query": promql, "start": start, "end": end, "step": step,
                              "series": series})
        step_ns = pd.Timedelta(step).value if isinstance(step, pd.Timedelta) else int(float(step) * S_NS)
        first = -(-pd.Timestamp(start).value // step_ns) * step_ns
        last = pd.Timestamp(end).value // step_ns * step_ns
        points: dict[tuple, list[tuple[int, float]]] = {}
        for at in range(first, last + 1, step_ns):
            for labels, value in self._eval(promql.strip(), at).items():
                points.setdefault(labels, []).append((at, value))
        return self._frame([(labels, np.array([p[0] for p in pts]), np.array([p[1] for p in pts]))
                            for labels, pts in points.items()])

    def series(self, match: str, start: Any, end: Any) -> pd.DataFrame:
        self.requests.append({"method": "series", "match": match, "start": start, "end": end})
        selector = _parse_selector(match)
        low, high = pd.Timestamp(start).value, pd.Timestamp(end).value
        if self.day_index:
            low = low // (1440 * MIN_NS) * 1440 * MIN_NS
            high = (high // (1440 * MIN_NS) + 1) * 1440 * MIN_NS - 1
        rows = [labels for labels, (t, _) in zip(self.series_list, self.data, strict=True)
                if selector.matches(labels) and ((t >= low) & (t <= high)).any()]
        names = sorted({k for r in rows for k in r}, key=lambda n: (n != "__name__", n))
        return pd.DataFrame({n: pd.Series([r.get(n) for r in rows], dtype=object) for n in names},
                            index=pd.RangeIndex(len(rows)))

    # -- evaluation ------------------------------------------------------------------------------------------
    @staticmethod
    def _frame(rows: list[tuple[tuple, np.ndarray, np.ndarray]]) -> pd.DataFrame:
        names = sorted({k for labels, _, _ in rows for k, _ in labels}, key=lambda n: (n != "__name__", n))
        times, values, columns = [], [], {n: [] for n in names}
        for labels, t, v in rows:
            d = dict(labels)
            times.append(t)
            values.append(v)
            for n in names:
                columns[n].extend([d.get(n)] * len(t))
        t = np.concatenate(times) if times else np.zeros(0, dtype=np.int64)
        frame = pd.DataFrame({"timestamp": pd.to_datetime(t, utc=True),
                              "value": np.concatenate(values) if values else np.zeros(0)})
        for n in names:
            frame[n] = pd.Series(columns[n], dtype=object)
        return frame

    def _window(self, t: np.ndarray, at: int, length: int) -> tuple[int, int]:
        """The positions [low, high) of the samples in the range ending at `at` (`t` sorted, unique)."""
        low = int(np.searchsorted(t, at - length, side="left" if self.closed else "right"))
        return low, int(np.searchsorted(t, at, side="right"))

    def _matching(self, selector_text: str) -> list[int]:
        """The positions in `series_list` of the series `selector_text` selects (the same at every step)."""
        if selector_text not in self._selected:
            selector = _parse_selector(selector_text)
            self._selected[selector_text] = [i for i, labels in enumerate(self.series_list) if selector.matches(labels)]
        return self._selected[selector_text]

    def _range(self, text: str, at: int) -> list[tuple[dict[str, str], np.ndarray, np.ndarray, int]]:
        """`SEL[d] [offset o] [@ t]` -> (labels, times, values, index of the first in-window sample)."""
        match = re.fullmatch(r"(.*)\[([0-9a-z]+)\](?:\s+offset\s+([0-9a-z]+))?(?:\s+@\s+([0-9.]+))?", text.strip(),
                             re.S)
        assert match, text
        length = _duration_ns(match[2])
        if match[4]:
            at = int(round(float(match[4]) * 1000)) * 1_000_000
        if match[3]:
            at -= _duration_ns(match[3])
        out = []
        for position in self._matching(match[1]):
            labels, (t, v) = self.series_list[position], self.data[position]
            low, high = self._window(t, at, length)
            if high > low:
                out.append((labels, t[low:high], v[low:high], low))
            elif self.vm_resets:
                out.append((labels, t[:0], v[:0], int(np.searchsorted(t, at - length, side="right"))))
        return out

    def _function(self, name: str, argument: str, at: int) -> dict[tuple, float]:
        result: dict[tuple, float] = {}
        for labels, _, v, index in self._range(argument, at):
            keep = dict(labels) if name == "last_over_time" else {k: x for k, x in labels.items() if k != "__name__"}
            key = tuple(sorted(keep.items()))
            if name == "last_over_time" and len(v):
                result[key] = float(v[-1])
            elif name == "count_over_time" and len(v):
                result[key] = float(len(v))
            elif name == "resets":
                values = list(v)
                series_v = self.data[self.series_list.index(labels)][1]
                if self.vm_resets and index > 0:
                    values = [float(series_v[index - 1])] + values
                if len(values) == 0 or (not self.vm_resets and len(v) == 0):
                    continue
                result[key] = float(sum(1 for a, b in zip(values, values[1:], strict=False) if b < a))
        return result

    def _eval(self, text: str, at: int) -> Any:
        text = text.strip()
        if text == "count_over_time(vector(1)[2m:1m])":
            return {(): 3.0 if self.closed else 2.0}
        for op in (" or ", " unless "):
            parts = _split_top(text, op)
            if len(parts) > 1:
                left = self._eval(parts[0], at)
                for part in parts[1:]:
                    right = self._eval(part, at)
                    left_sigs = {_sig(k) for k in left}
                    right_sigs = {_sig(k) for k in right}
                    if op == " or ":
                        left = {**left, **{k: v for k, v in right.items() if _sig(k) not in left_sigs}}
                    else:
                        left = {k: v for k, v in left.items() if _sig(k) not in right_sigs}
                return left
        match = re.fullmatch(r"(.*\S)\s*>\s*0", text, re.S)
        if match and _balanced(match[1]):
            return {k: v for k, v in self._eval(match[1], at).items() if v > 0}
        match = re.fullmatch(r"(sum|count)(?:\s+by\s*\(([^)]*)\))?\s*\((.*)\)", text, re.S)
        if match and _balanced(match[3]):
            inner = self._eval(match[3], at)
            by = [b.strip() for b in (match[2] or "").split(",") if b.strip()]
            out: dict[tuple, float] = {}
            for key, value in inner.items():
                group = tuple(sorted((k, x) for k, x in key if k in by))
                out[group] = out.get(group, 0.0) + (value if match[1] == "sum" else 1.0)
            return out
        match = re.fullmatch(rf'label_replace\((.*),\s*({_STRING}),\s*({_STRING}),\s*"",\s*""\)', text, re.S)
        if match and _balanced(match[1]):
            label, value = _unquote(match[2]), _unquote(match[3])
            return {tuple(sorted({**dict(k), label: value}.items())): v for k, v in self._eval(match[1], at).items()}
        match = re.fullmatch(r"(last_over_time|count_over_time|resets)\((.*)\)", text, re.S)
        if match and _balanced(match[2]):
            return self._function(match[1], match[2], at)
        # a raw range vector
        return [(tuple(sorted(labels.items())), t, v) for labels, t, v, _ in self._range(text, at)]


def _sig(key: tuple) -> tuple:
    return tuple((k, v) for k, v in key if k != "__name__")


@functools.cache
def _balanced(text: str) -> bool:
    depth, quoted, escape = 0, False, False
    for char in text:
        if quoted:
            if escape:
                escape = False
            elif char == "\\":
                escape = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and not quoted


@functools.cache
def _split_top(text: str, op: str) -> tuple[str, ...]:
    """Split on `op` outside parentheses, brackets, braces and strings (the parts of a query are split again at
    every step of a range: cached, as are the other parsing helpers)."""
    parts, depth, quoted, escape, last, i = [], 0, False, False, 0, 0
    while i < len(text):
        char = text[i]
        if quoted:
            if escape:
                escape = False
            elif char == "\\":
                escape = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and text.startswith(op, i):
            parts.append(text[last:i])
            last = i + len(op)
            i = last
            continue
        i += 1
    parts.append(text[last:])
    return tuple(parts)
