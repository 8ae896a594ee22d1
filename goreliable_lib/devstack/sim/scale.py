"""A production-shape service for scale and exactness tests: one service (default `checkout`) scraped the way a
real Prometheus scrapes it, with the exact SLO ground truth. Deterministic from `ScaleConfig` (seed included);
the stack fixtures and benchmarks/bench_slo_scale.py share it.

The world:
- `http_requests_total{job,instance,service,pod,route,code}` counters, pods x routes x codes series (client_golang
  counters: a series exists from its first request on, so a rare code's series appears mid-history);
- each pod is a scrape target scraped every `scrape_interval_seconds` (5 s .. 5 min) at its own fixed offset within
  the interval plus a few milliseconds of jitter, so samples sit at millisecond timestamps, never on whole minutes;
- traffic with a diurnal shape; counts are Poisson draws per scrape interval; codes 200/404/500 from the start,
  the late code (`503`) from its first error at `first_error_at` of the history on (counted from 0);
- counters had run `counter_age_days` before the history's first sample (large values at the first sample);
- pod restarts (`restarts`): the same series start again from 0 after a few seconds of downtime, inside a minute;
  what the old process counted after its last scrape is lost, as in reality; a series re-appears on its first
  request after the restart;
- pod replacements (`replacements`, a rollout): the old pod's series vanish, a new pod's series appear (from 0);
- a crash loop (`crash_loop`): one pod restarts every 150 s for 2 hours (10 s down each time) with half its
  requests failing (`code="500"`), ending `crash_loop_ends_before_end` before the end;
- scrape gaps (`gaps`): Prometheus scrapes nothing for GAP_MINUTES; the counters keep counting, so the first
  sample after the gap carries the gap's events;
- `held_days`: the server holds only the last N days (a server trimmed by retention): nothing older is written.

Ground truth (DESIGN.md "Quality bars"): the events of (start, end] are the increments of every sample the server
holds whose timestamp falls in (start, end]. Increment = value minus the previous sample's value of the same
series; after a reset (a drop) the new value. A series' first held sample is a baseline (no events) when its
counter was already counting before the server's oldest data (the pods' counters of the first sample, or any
series of a trimmed server that had samples before the trim); a series that appears later (a first error, a new
pod, a series re-created after a restart) counts from 0: its first value is events. Availability: good =
`code !~ "5.."`, total = every code. Per minute: the minute t holds the samples with timestamps in (t - 1m, t].
"""

from __future__ import annotations

import dataclasses
import functools
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from goreliable_lib.devstack.sim.timeline import DEFAULT_AS_OF, DEFAULT_SEED, block_windows
from goreliable_lib.errors import BadInputError
from goreliable_lib.timeutil import parse_time

VERSION = "1"
"""Bump when the generated world changes (it keys the stack's caches)."""

METRIC = "http_requests_total"
ROUTE_WORDS = ("cart", "checkout", "payment", "shipping", "confirm", "address", "coupon", "tax", "inventory",
               "session", "wishlist", "orders", "refund", "gift-card", "loyalty", "quote", "fraud-check", "invoice",
               "receipt", "currency", "delivery-slot", "pickup", "subscription", "bundle", "recommendations")
CODE_SHARES = {"200": 0.973, "404": 0.02, "500": 0.005, "503": 0.002}
LATE_CODE = "503"
CRASH_LOOP_EVERY = pd.Timedelta(seconds=150)
CRASH_LOOP_DURATION = pd.Timedelta(hours=2)
CRASH_LOOP_DOWNTIME = pd.Timedelta(seconds=10)
CRASH_LOOP_ERROR_SHARE = 0.5
RESTART_DOWNTIME = pd.Timedelta(seconds=3)
GAP_MINUTES = 12
MIN_INTERVAL, MAX_INTERVAL = 5.0, 300.0
_MS = 1000
_MINUTE_MS = 60_000


@dataclasses.dataclass(frozen=True)
class ScaleConfig:
    """What the world looks like; every field has the default of the benchmark's 80-series dataset."""

    service: str = "checkout"
    pods: int = 4
    routes: int = 5
    codes: tuple[str, ...] = tuple(CODE_SHARES)
    scrape_interval_seconds: float = 30.0
    days: float = 33.0
    end: pd.Timestamp = DEFAULT_AS_OF
    seed: int = DEFAULT_SEED
    requests_per_second: float = 40.0
    counter_age_days: float = 21.0
    jitter_ms: float = 3.0
    restarts: int = 2
    replacements: int = 0
    crash_loop: bool = False
    crash_loop_ends_before_end: pd.Timedelta = pd.Timedelta(hours=6)
    gaps: int = 1
    first_error_at: float = 0.45
    held_days: float | None = None

    def __post_init__(self) -> None:
        if not MIN_INTERVAL <= self.scrape_interval_seconds <= MAX_INTERVAL:
            raise BadInputError(f"scrape_interval_seconds: {self.scrape_interval_seconds} is outside "
                                f"{MIN_INTERVAL:.0f}..{MAX_INTERVAL:.0f} s")
        if self.pods < 1 or self.routes < 1 or not self.codes:
            raise BadInputError("pods, routes and codes: at least one each")
        if self.held_days is not None and not 0 < self.held_days <= self.days:
            raise BadInputError(f"held_days: {self.held_days} must be in (0, days={self.days}]")
        object.__setattr__(self, "end", parse_time(self.end, field="end"))

    @property
    def series(self) -> int:
        """Series alive at once (pods x routes x codes)."""
        return self.pods * self.routes * len(self.codes)

    @property
    def key(self) -> str:
        """A short stable name of this world (keys the stack's caches)."""
        fields = dataclasses.asdict(self)
        text = ",".join(f"{k}={v}" for k, v in sorted(fields.items()))
        digest = f"{zlib.crc32(text.encode()):08x}"
        return (f"scale{VERSION}-{self.service}-{self.series}s-{self.scrape_interval_seconds:g}i-{self.days:g}d"
                f"{'-crash' if self.crash_loop else ''}"
                f"{f'-held{self.held_days:g}d' if self.held_days else ''}-{digest}")


@dataclasses.dataclass(frozen=True)
class Target:
    """One scrape target (a pod): its name, address, scrape offset and life with its restarts."""

    index: int
    pod: str
    instance: str
    offset_ms: int
    born_ms: int | None  # None: running since before the history (counters counting for weeks)
    died_ms: int | None  # None: still running at the end
    restarts_ms: tuple[int, ...]  # crash/restart instants; each followed by a downtime
    downtimes_ms: tuple[int, ...]
    crash_loop: bool = False


@dataclasses.dataclass
class TargetSamples:
    """The samples of one target: per series (route, code) the timestamps (ms), values and process numbers."""

    target: Target
    labels: list[dict[str, str]]
    timestamps: list[np.ndarray]
    values: list[np.ndarray]
    processes: list[np.ndarray]
    had_counter_before: np.ndarray  # per series: counting before the history's start (initial process, value > 0)


def _stable_ms(ms: np.ndarray) -> np.ndarray:
    """Timestamps (ms) whose text in seconds (`S.mmm`) parses back to the same ms when truncated (promtool's
    `int64(seconds * 1000)`), moved by 1 ms where needed, so every back-end stores exactly these times."""
    ms = ms.astype(np.int64)
    for _ in range(10):
        bad = np.trunc((ms / 1000.0) * 1000.0).astype(np.int64) != ms
        if not bad.any():
            return ms
        ms = np.where(bad, ms + 1, ms)
    raise AssertionError("timestamps did not settle")


class ScaleWorld:
    """The world of one `ScaleConfig`: samples generated target by target on demand (never all at once), the
    per-minute ground truth computed once, writers for promtool (OpenMetrics) and VictoriaMetrics (ms text)."""

    def __init__(self, config: ScaleConfig | None = None, **overrides: object) -> None:
        self.config = dataclasses.replace(config or ScaleConfig(), **overrides)  # type: ignore[arg-type]
        c = self.config
        self.interval_ms = int(round(c.scrape_interval_seconds * _MS))
        self.end_ms = int(c.end.value // 1_000_000)
        self.start_ms = self.end_ms - int(round(c.days * 86_400_000))
        self.held_from_ms = (self.end_ms - int(round(c.held_days * 86_400_000)) if c.held_days else self.start_ms)
        self.slots = np.arange(self.start_ms // self.interval_ms, self.end_ms // self.interval_ms + 1,
                               dtype=np.int64) * self.interval_ms  # nominal scrape times (ms)
        self.routes = self._route_names()
        self.targets = self._targets()
        self.gaps_ms = self._gaps()

    # ------------------------------------------------------------------ the world's script
    @property
    def start(self) -> pd.Timestamp:
        """The history's first instant (the server's oldest data unless trimmed)."""
        return pd.Timestamp(self.start_ms, unit="ms", tz="UTC")

    @property
    def end(self) -> pd.Timestamp:
        return pd.Timestamp(self.end_ms, unit="ms", tz="UTC")

    @property
    def held_from(self) -> pd.Timestamp:
        """The oldest instant the server holds (the history's start, or the trim of `held_days`)."""
        return pd.Timestamp(self.held_from_ms, unit="ms", tz="UTC")

    def _rng(self, *parts: object) -> np.random.Generator:
        words = [zlib.crc32(str(part).encode()) for part in parts]
        return np.random.default_rng([self.config.seed, zlib.crc32(self.config.service.encode()), *words])

    def _route_names(self) -> list[str]:
        names = []
        for index in range(self.config.routes):
            word = ROUTE_WORDS[index % len(ROUTE_WORDS)]
            names.append(f"/api/{word}" if index < len(ROUTE_WORDS)
                         else f"/api/{word}/v{index // len(ROUTE_WORDS) + 1}")
        return names

    def _pod_name(self, rng: np.random.Generator) -> str:
        alphabet = np.array(list("bcdfghjklmnpqrstvwxz2456789"))
        return f"{self.config.service}-{''.join(rng.choice(alphabet, 9))}-{''.join(rng.choice(alphabet, 5))}"

    def _at(self, share: float) -> int:
        """An instant at `share` of the history, moved off whole seconds (a restart happens at any time)."""
        return self.start_ms + int(share * (self.end_ms - self.start_ms)) // _MINUTE_MS * _MINUTE_MS + 17_431

    def _targets(self) -> list[Target]:
        c = self.config
        rng = self._rng("targets")
        targets: list[Target] = []
        restarts: dict[int, list[int]] = {p: [] for p in range(c.pods)}
        downtimes: dict[int, list[int]] = {p: [] for p in range(c.pods)}
        for number in range(c.restarts):  # spread over the history, on different pods
            pod = (number * 3 + 1) % c.pods
            restarts[pod].append(self._at((number + 1) / (c.restarts + 1) - 0.03))
            downtimes[pod].append(int(RESTART_DOWNTIME / pd.Timedelta(milliseconds=1)))
        crash_pod = 0 if c.crash_loop else None
        if crash_pod is not None:
            loop_end = self.end_ms - int(c.crash_loop_ends_before_end / pd.Timedelta(milliseconds=1))
            loop_start = loop_end - int(CRASH_LOOP_DURATION / pd.Timedelta(milliseconds=1))
            every = int(CRASH_LOOP_EVERY / pd.Timedelta(milliseconds=1))
            moments = list(range(loop_start + 7_300, loop_end, every))
            restarts[crash_pod] += moments
            downtimes[crash_pod] += [int(CRASH_LOOP_DOWNTIME / pd.Timedelta(milliseconds=1))] * len(moments)
        replaced = {(number * 2 + 2) % c.pods: self._at((number + 1) / (c.replacements + 1))
                    for number in range(c.replacements)}
        for pod in range(c.pods):
            order = np.argsort(restarts[pod])
            offset = int(rng.integers(0, self.interval_ms))
            name, instance = self._pod_name(rng), f"10.{pod // 250}.{pod % 250}.{int(rng.integers(2, 250))}:8080"
            died = replaced.get(pod)
            common = {"restarts_ms": tuple(int(restarts[pod][i]) for i in order if died is None or
                                           restarts[pod][i] < died),
                      "downtimes_ms": tuple(int(downtimes[pod][i]) for i in order if died is None or
                                            restarts[pod][i] < died)}
            targets.append(Target(len(targets), name, instance, offset, None, died, crash_loop=pod == crash_pod,
                                  **common))
            if died is not None:  # the rollout's new pod, on a new address, from a few seconds later
                targets.append(Target(len(targets), self._pod_name(rng),
                                      f"10.{pod // 250}.{pod % 250}.{int(rng.integers(2, 250))}:8080",
                                      int(rng.integers(0, self.interval_ms)),
                                      died + int(RESTART_DOWNTIME / pd.Timedelta(milliseconds=1)), None, (), ()))
        return targets

    def _gaps(self) -> list[tuple[int, int]]:
        gaps = []
        for number in range(self.config.gaps):
            start = self._at(0.6 + 0.1 * number) - 17_431 + 40_000
            gaps.append((start, start + GAP_MINUTES * _MINUTE_MS))
        return gaps

    def scripted_events(self) -> pd.DataFrame:
        """kind, pod, start, end: the restarts, replacements, crash loop and scrape gaps of this world."""
        rows = []
        for target in self.targets:
            if target.crash_loop:
                low, high = self.crash_loop_window()
                rows.append({"kind": "crash_loop", "pod": target.pod, "start": int(low.value // 1_000_000),
                             "end": int(high.value // 1_000_000)})
            for moment in target.restarts_ms:
                rows.append({"kind": "restart", "pod": target.pod, "start": moment, "end": moment})
            if target.died_ms is not None:
                rows.append({"kind": "replaced", "pod": target.pod, "start": target.died_ms, "end": target.died_ms})
        rows += [{"kind": "scrape_gap", "pod": "*", "start": low, "end": high} for low, high in self.gaps_ms]
        frame = pd.DataFrame(rows, columns=["kind", "pod", "start", "end"])
        for column in ("start", "end"):
            frame[column] = pd.to_datetime(frame[column], unit="ms", utc=True)
        return frame

    def crash_loop_restarts(self) -> list[pd.Timestamp]:
        """The crash loop's restart instants (empty without a crash loop)."""
        c = self.config
        if not c.crash_loop:
            return []
        loop_end = self.end - c.crash_loop_ends_before_end
        moments = pd.date_range(loop_end - CRASH_LOOP_DURATION + pd.Timedelta(milliseconds=7_300), loop_end,
                                freq=CRASH_LOOP_EVERY, inclusive="left")
        return list(moments)

    def crash_loop_window(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The crash loop's two hours [start, end) (whole minutes)."""
        if not self.config.crash_loop:
            raise BadInputError("crash_loop_window: this world has no crash loop")
        loop_end = self.end - self.config.crash_loop_ends_before_end
        return loop_end - CRASH_LOOP_DURATION, loop_end

    # ------------------------------------------------------------------ samples, target by target
    def _load(self) -> np.ndarray:
        """Traffic multiplier per nominal slot: diurnal (peak 15:00 UTC), averaging 1."""
        hours = (self.slots % 86_400_000) / 3_600_000
        return 1.0 + 0.45 * np.cos((hours - 15.0) / 24.0 * 2 * np.pi)

    def target_samples(self, target: Target) -> TargetSamples:
        """Every sample of one target (before any trim), series by series."""
        c = self.config
        rng = self._rng("samples", target.index)
        n_slots = len(self.slots)
        jitter = np.clip(np.rint(rng.normal(0.0, c.jitter_ms, n_slots)), -self.interval_ms // 4, self.interval_ms // 4)
        scrapes = _stable_ms(self.slots + target.offset_ms + jitter.astype(np.int64))
        lengths = np.diff(scrapes, prepend=scrapes[0] - self.interval_ms) / _MS  # seconds since the previous scrape
        load = self._load()
        per_series_rps = c.requests_per_second / (c.pods * c.routes)
        route_weights = self._rng("routes").dirichlet(np.full(c.routes, 4.0)) * c.routes
        first_error_ms = self.start_ms + int(c.first_error_at * (self.end_ms - self.start_ms))
        loop_low = loop_high = None
        if target.crash_loop:
            low, high = self.crash_loop_window()
            loop_low, loop_high = int(low.value // 1_000_000), int(high.value // 1_000_000)
        shares = {}
        for code in c.codes:
            share = np.full(n_slots, CODE_SHARES.get(code, 0.001))
            if code == LATE_CODE:
                share = np.where(scrapes > first_error_ms, share, 0.0)
            shares[code] = share
        if loop_low is not None:
            failing = (scrapes > loop_low) & (scrapes <= loop_high)
            for code in c.codes:
                shares[code] = np.where(failing, shares[code] * (1 - CRASH_LOOP_ERROR_SHARE), shares[code])
            if "500" in shares:
                shares["500"] = np.where(failing, shares["500"] + CRASH_LOOP_ERROR_SHARE, shares["500"])
        # processes: (start, end) in ms; the first runs since before the history unless the pod was born later
        starts = [target.born_ms if target.born_ms is not None else None]
        ends: list[int | None] = []
        for moment, down in zip(target.restarts_ms, target.downtimes_ms, strict=True):
            ends.append(moment)
            starts.append(moment + down)
        ends.append(target.died_ms)
        in_gap = np.zeros(n_slots, bool)
        for low, high in self.gaps_ms:
            in_gap |= (scrapes >= low) & (scrapes < high)
        in_history = (scrapes >= self.start_ms) & (scrapes <= self.end_ms)
        labels, stamps, values, processes, had_before = [], [], [], [], []
        for route_index, route in enumerate(self.routes):
            for code in c.codes:
                mean = per_series_rps * route_weights[route_index] * load * shares[code] * lengths
                events = rng.poisson(mean)
                ts_parts, v_parts, p_parts = [], [], []
                counting_before = False
                for number, (low, high) in enumerate(zip(starts, ends, strict=True)):
                    life = np.ones(n_slots, bool)
                    if low is not None:
                        life &= scrapes >= low
                    if high is not None:
                        life &= scrapes < high
                    index = np.flatnonzero(life)
                    if not len(index):
                        continue
                    counted = events[index].copy()
                    if low is not None:  # the first interval counts only what came after the process started
                        first = index[0]
                        share = ((scrapes[first] - max(low, scrapes[first - 1] if first else low))
                                 / (lengths[first] * _MS))
                        counted[0] = rng.binomial(counted[0], float(np.clip(share, 0.0, 1.0)))
                        base = 0
                    else:
                        base = int(rng.poisson(per_series_rps * route_weights[route_index] * shares[code][0]
                                               * c.counter_age_days * 86_400))
                        counting_before = base > 0
                        counted[0] = 0
                    cumulative = base + np.cumsum(counted)
                    keep = (cumulative > 0) & ~in_gap[index] & in_history[index]
                    ts_parts.append(scrapes[index][keep])
                    v_parts.append(cumulative[keep])
                    p_parts.append(np.full(int(keep.sum()), number, np.int32))
                labels.append({"job": c.service, "instance": target.instance, "service": c.service,
                               "pod": target.pod, "route": route, "code": code})
                stamps.append(np.concatenate(ts_parts) if ts_parts else np.zeros(0, np.int64))
                values.append(np.concatenate(v_parts) if v_parts else np.zeros(0, np.int64))
                processes.append(np.concatenate(p_parts) if p_parts else np.zeros(0, np.int32))
                had_before.append(counting_before)
        return TargetSamples(target, labels, stamps, values, processes, np.array(had_before))

    def iter_samples(self) -> Iterator[TargetSamples]:
        """Every target's samples in turn (one target in memory at a time)."""
        for target in self.targets:
            yield self.target_samples(target)

    # ------------------------------------------------------------------ ground truth
    def series_increments(self, samples: TargetSamples, row: int,
                          held_from_ms: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(timestamps, increments) of one series' samples held from `held_from_ms` (default: the server's oldest
        data), by the ground-truth rule in the module docstring."""
        held = self.held_from_ms if held_from_ms is None else held_from_ms
        stamps, values, procs = samples.timestamps[row], samples.values[row], samples.processes[row]
        keep = stamps >= held
        if not keep.any():
            return stamps[:0], values[:0]
        first = int(np.argmax(keep))
        stamps, values_held = stamps[first:], values[first:].astype(np.int64)
        increments = np.diff(values_held, prepend=0)
        increments[1:] = np.where(increments[1:] < 0, values_held[1:], increments[1:])
        if first > 0:
            baseline = procs[first - 1] == procs[first]  # the counter was counting before the server's oldest data
        else:
            baseline = bool(samples.had_counter_before[row]) and procs[0] == 0
        increments[0] = 0 if baseline else values_held[0]
        return stamps, increments

    def _is_good(self, labels: dict[str, str]) -> bool:
        return not (labels["code"].startswith("5") and len(labels["code"]) == 3)

    @functools.lru_cache(maxsize=4)  # noqa: B019  (a world is built once per test session or benchmark)
    def minute_events(self, held_from_ms: int | None = None) -> pd.DataFrame:
        """The per-minute truth: timestamp (the minute t holds the samples of (t - 1m, t]), good, total, samples."""
        first_minute = -(-self.start_ms // _MINUTE_MS)
        minutes = -(-self.end_ms // _MINUTE_MS) - first_minute + 1
        good = np.zeros(minutes, np.int64)
        total = np.zeros(minutes, np.int64)
        count = np.zeros(minutes, np.int64)
        for samples in self.iter_samples():
            for row, labels in enumerate(samples.labels):
                stamps, increments = self.series_increments(samples, row, held_from_ms)
                slot = -(-stamps // _MINUTE_MS) - first_minute
                total += np.bincount(slot, increments, minutes).astype(np.int64)
                count += np.bincount(slot, minlength=minutes)
                if self._is_good(labels):
                    good += np.bincount(slot, increments, minutes).astype(np.int64)
        stamps = pd.to_datetime((first_minute + np.arange(minutes)) * _MINUTE_MS, unit="ms", utc=True)
        return pd.DataFrame({"timestamp": stamps, "good": good, "total": total, "samples": count})

    def events(self, start: object, end: object, held_from: object = None) -> tuple[int, int]:
        """(good, total) events of the held samples with timestamp in (start, end]: exact for any instants
        (whole minutes use the per-minute table; other bounds go through the samples)."""
        low = parse_time(start, now=self.end, field="start")
        high = parse_time(end, now=self.end, field="end")
        held_ms = None if held_from is None else int(parse_time(held_from, field="held_from").value // 1_000_000)
        if low == low.floor("min") and high == high.floor("min"):
            table = self.minute_events(held_ms)
            mask = ((table["timestamp"] > low) & (table["timestamp"] <= high)).to_numpy()
            return int(table["good"].to_numpy()[mask].sum()), int(table["total"].to_numpy()[mask].sum())
        low_ms, high_ms = int(low.value // 1_000_000), int(high.value // 1_000_000)
        good = total = 0
        for samples in self.iter_samples():
            for row, labels in enumerate(samples.labels):
                stamps, increments = self.series_increments(samples, row, held_ms)
                part = int(increments[(stamps > low_ms) & (stamps <= high_ms)].sum())
                total += part
                good += part if self._is_good(labels) else 0
        return good, total

    def coverage(self, start: object, end: object) -> float:
        """Share of the minutes of (start, end] holding at least one sample."""
        table = self.minute_events()
        low, high = parse_time(start, now=self.end), parse_time(end, now=self.end)
        window = table[(table["timestamp"] > low) & (table["timestamp"] <= high)]
        return float((window["samples"] > 0).mean())

    def sample_count(self) -> int:
        """How many samples the server holds."""
        return int(sum(int((stamps >= self.held_from_ms).sum()) for samples in self.iter_samples()
                       for stamps in samples.timestamps))

    def series_count(self) -> int:
        """How many distinct series the server holds (vanished and new pods' series included)."""
        return sum(int((stamps >= self.held_from_ms).any()) for samples in self.iter_samples()
                   for stamps in samples.timestamps)

    # ------------------------------------------------------------------ the SLO
    def availability_selectors(self) -> tuple[str, str]:
        """(good, total) counter selectors of the availability SLO over every series of the service."""
        service = self.config.service
        return f'{METRIC}{{service="{service}",code!~"5.."}}', f'{METRIC}{{service="{service}"}}'

    def openslo_catalog(self, name: str | None = None, objective: float = 0.999, window: str = "30d") -> str:
        """An OpenSLO v1 catalog (YAML text) holding the service's availability SLO, as params/slos.yaml writes one."""
        good, total = self.availability_selectors()
        name = name or f"{self.config.service}-availability"
        return (f"apiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: {name}\nspec:\n"
                f"  service: {self.config.service}\n  indicator:\n    spec:\n      ratioMetric:\n"
                f"        counter: true\n        good:\n          metricSource:\n            type: Prometheus\n"
                f"            spec:\n              query: '{good}'\n        total:\n          metricSource:\n"
                f"            type: Prometheus\n            spec:\n              query: '{total}'\n"
                f"  timeWindow:\n    - duration: {window}\n      isRolling: true\n"
                f"  budgetingMethod: Occurrences\n  objectives:\n    - target: {objective}\n")

    # ------------------------------------------------------------------ writers
    def write(self, path: Path, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None,
              *, timestamp_unit: str = "s") -> int:
        """Write the held samples with timestamp in [start, end) as one text file, series by series in time order:
        OpenMetrics for promtool (`timestamp_unit="s"`, `S.mmm` seconds, `# TYPE` first, `# EOF` last) or the
        Prometheus text format with millisecond timestamps for VictoriaMetrics' /api/v1/import/prometheus
        (`"ms"`). Returns the samples written."""
        if timestamp_unit not in ("s", "ms"):
            raise ValueError("timestamp_unit: 's' or 'ms'")
        low = self.held_from_ms if start is None else max(self.held_from_ms, int(start.value // 1_000_000))
        high = self.end_ms + 1 if end is None else int(end.value // 1_000_000)
        written = 0
        with open(path, "wb") as out:
            if timestamp_unit == "s":
                out.write(f"# TYPE {METRIC.removesuffix('_total')} counter\n".encode())
            for samples in self.iter_samples():
                for row, labels in enumerate(samples.labels):
                    stamps = samples.timestamps[row]
                    keep = (stamps >= low) & (stamps < high)
                    if not keep.any():
                        continue
                    written += int(keep.sum())
                    out.write(_lines(_prefix(labels), samples.values[row][keep], stamps[keep], timestamp_unit))
            if timestamp_unit == "s":
                out.write(b"# EOF\n")
        return written

    def writers(self, *, timestamp_unit: str = "s") -> list[Callable[[Path], None]]:
        """One writer per backfill block window holding data (see `sim.timeline.block_windows`)."""
        windows = block_windows(self.held_from, self.end)

        def writer(low: pd.Timestamp, high: pd.Timestamp) -> Callable[[Path], None]:
            def write(path: Path) -> None:
                self.write(path, low, high, timestamp_unit=timestamp_unit)

            return write

        return [writer(low, high) for low, high in windows]


def _prefix(labels: dict[str, str]) -> str:
    inner = ",".join(f'{name}="{value}"' for name, value in labels.items())
    return f"{METRIC}{{{inner}}} "


def _lines(prefix: str, values: np.ndarray, stamps: np.ndarray, unit: str) -> bytes:
    """`prefix value timestamp\\n` for every sample, built with Arrow string kernels (no Python string per line)."""
    if unit == "s":
        seconds = pc.cast(pa.array(stamps // _MS), pa.string())
        millis = pc.utf8_lpad(pc.cast(pa.array(stamps % _MS), pa.string()), 3, "0")
        stamp_text = pc.binary_join_element_wise(seconds, millis, ".")
    else:
        stamp_text = pc.cast(pa.array(stamps), pa.string())
    lines = pc.binary_join_element_wise(prefix, pc.cast(pa.array(values), pa.string()), " ", stamp_text, "\n", "")
    offsets = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, lines.offset * 4)
    return bytes(memoryview(lines.buffers()[2])[offsets[0]:offsets[-1]])
