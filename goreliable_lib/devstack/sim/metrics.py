"""The Go services as Prometheus scrapes them: 1-minute samples for HISTORY_DAYS days ending at `as_of`,
written as OpenMetrics for promtool, with the exact SLO ground truth.

The world (deterministic from `seed` and `as_of`; every series carries the scraper's `job` and `instance`):
- `http_requests_total{job,instance,service,route,code}` and the histogram
  `http_request_duration_seconds{job,instance,service,le}` (`_bucket`, `_sum`, `_count`; buckets 0.1, 0.3,
  0.5, 1, +Inf formatted like client_golang) for api-gateway, order-service, ml-inference-gateway and
  llm-gateway (2 pods each); `_count` equals the pod's requests over all routes and codes;
- `orders_total{status}` (order-service), `notifications_total{result}` (notification-worker),
  `inference_requests_total{model,outcome}` (ml-inference-gateway), `model_drift_detected{model}` (gauge,
  model-monitor) and `up{job,instance}`;
- vLLM behind the llm-gateway (job `vllm`, one pod): `vllm:prompt_tokens_total` and `vllm:generation_tokens_total`
  `{model_name="mistral-7b-instruct",engine="0"}` (colons, as vLLM names them), each minute the llm-gateway's
  requests x tokens per request (VLLM_TOKENS_PER_REQUEST) x a lognormal factor; truth `token_minutes()`;
- traffic with a diurnal (peak ~15:00 UTC) and weekly (quieter weekends) shape, day-to-day noise and a slow
  growth (`timeline.traffic_load`, which the cost simulation's usage follows too); counts are Poisson draws;
  baseline error rates burn roughly a third of each error budget.

Scripted events (`scripted_events()`; offsets from `as_of`, values below for the default 2026-11-23T06:00Z).
An event's effect applies to what happens in [start, end), hence to the samples in (start, end]:
- 2026-10-02 10:15:30 api-gateway pod restart (counter reset).
- 2026-10-08 16:00-17:30 fraud-detector inference timeouts (7%), before the last 30 days.
- 2026-10-20 08:31:15 order-service pod restart.
- 2026-11-02 22:00 - 11-03 07:00 model drift of `demand-forecast` (model_drift_detected=1 on samples in [start, end)).
- 2026-11-04 00:00 - 11-06 00:00 notification-worker pod 0 crash loop: it restarts every 3 hours (16 counter
  resets; the same crash loop drives the log-egress cost in sim.costs).
- 2026-11-04 13:00-16:30 LLM latency regression (llm-gateway median latency x2.6: ~20% of requests > 0.5 s),
  rolled back with a pod restart at 16:27:30.
- 2026-11-08 03:10-03:40 scrape gap: no sample of any series at timestamps in [start, end). A scraper sees the
  events of those minutes in the first sample after the gap (03:40), so the ground truth attributes them there.
- 2026-11-11 14:20-15:00 api-gateway 5xx outage (25% of responses 500/503, ~250x burn: the 14.4x page fires);
  a pod restart at 15:07:20 after the rollback.
- 2026-11-12 01:30-03:30 notification backlog (12% delayed, 3% failed deliveries).
- 2026-11-19 13:02:45 order-service pod restart (a deploy).
- Quiet week: (as_of - 7d, as_of] = 2026-11-16 06:00 .. 11-23 06:00 holds no alert-worthy burn (no burn-rate
  alert of 1h/5m@14.4, 6h/30m@6, 1d/2h@3 or 3d/6h@1 fires; only a pod restart).

Counters: the first sample of each series is its baseline (the process was already running). A pod restart
between two scrapes starts that pod's counters from 0: the first sample after the restart holds only the new
process's events (what the old process counted after its last scrape is lost, as in reality), and is lower
than the sample before it, so `rate()`/`increase()` and a reset-aware diff see exactly the ground truth.

History ends at `as_of` itself. promtool's advice not to backfill the newest 3 hours protects the head block
of a server that is also scraping; the stack's servers scrape nothing, so their head stays empty.

Ground truth: per-sample events (the increase a scraper sees at each sample, resets handled) summed per SLO.
`slo_events(name, start, end)` counts the events of the samples with timestamp in (start, end].
"""

from __future__ import annotations

import dataclasses
import functools
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from goreliable_lib.devstack.sim.timeline import (
    DEFAULT_AS_OF,
    DEFAULT_SEED,
    HISTORY_DAYS,
    SCRAPE_INTERVAL_SECONDS,
    traffic_load,
)
from goreliable_lib.errors import BadInputError
from goreliable_lib.timeutil import parse_duration, parse_time

VERSION = "2"
"""Bump when the generated metrics change (it keys the stack's cache through `sim.Simulation.version`)."""

MINUTE = pd.Timedelta(seconds=SCRAPE_INTERVAL_SECONDS)
BUCKETS = (0.1, 0.3, 0.5, 1.0)
BUCKET_LABELS = ("0.1", "0.3", "0.5", "1", "+Inf")  # client_golang's formatting of the bounds
CODES = ("200", "404", "500", "503")
QUIET_WEEK = pd.Timedelta(days=7)


@dataclasses.dataclass(frozen=True)
class Service:
    """An HTTP service: pods (scrape targets), routes with their traffic shares, and its latency model."""

    name: str
    instances: tuple[str, ...]
    routes: dict[str, float]
    requests_per_minute: float  # average over the week
    latency_median_seconds: float  # lognormal median at average load
    latency_sigma: float


SERVICES = (
    Service("api-gateway", ("10.0.1.12:8080", "10.0.2.31:8080"),
            {"/v1/orders": 0.35, "/v1/products": 0.5, "/v1/predict": 0.15}, 2400.0, 0.061, 0.6),
    Service("order-service", ("10.0.1.44:8080", "10.0.2.18:8080"),
            {"/orders": 0.7, "/orders/{id}": 0.3}, 700.0, 0.035, 0.5),
    Service("ml-inference-gateway", ("10.0.5.21:8080", "10.0.5.22:8080"),
            {"/v1/models/{model}:predict": 1.0}, 620.0, 0.08, 0.55),
    Service("llm-gateway", ("10.0.4.15:8080", "10.0.4.16:8080"),
            {"/v1/chat/completions": 0.8, "/v1/completions": 0.2}, 90.0, 0.125, 0.5),
)
ORDER_INSTANCES = SERVICES[1].instances
NOTIFICATION_INSTANCES = ("10.0.1.51:9090", "10.0.2.52:9090")
INFERENCE_INSTANCES = SERVICES[2].instances
MODEL_MONITOR_INSTANCE = "10.0.6.20:9100"
MODELS = {"fraud-detector": 500.0, "demand-forecast": 120.0}  # inference requests per minute
VLLM_JOB = "vllm"
VLLM_INSTANCE = "10.0.4.30:8000"
VLLM_LABELS = {"model_name": "mistral-7b-instruct", "engine": "0"}
#: vLLM's token counters (colons in the names, as vLLM exposes them) -> mean tokens per llm-gateway request
VLLM_TOKENS_PER_REQUEST = {"vllm:prompt_tokens_total": 412.0, "vllm:generation_tokens_total": 187.0}

BASE_CODE_SHARE = {"404": 0.003, "500": 0.0002, "503": 0.0001}
ORDER_STATUS_SHARE = {"success": None, "failed": 0.0015, "timeout": 0.0005}
NOTIFICATION_RESULT_SHARE = {"delivered": None, "delayed": 0.0025, "failed": 0.001}
INFERENCE_OUTCOME_SHARE = {"success": None, "error": 0.001, "timeout": 0.0008}
ORDERS_PER_MINUTE = 350.0
NOTIFICATIONS_PER_MINUTE = 420.0
RESTART_SURVIVING_SHARE = 0.35  # share of a restart minute's events counted by the new process


# Scripted events: (name, kind, service, start offset before as_of, duration, description).
_EVENTS = (
    ("api-gateway-restart-1", "counter_reset", "api-gateway", "51d19h44m30s", "0s",
     "api-gateway pod 10.0.2.31:8080 restarted (counter reset)"),
    ("fraud-detector-timeouts", "errors", "ml-inference-gateway", "45d14h", "90m",
     "fraud-detector inference timeouts at 7% for 90 minutes"),
    ("order-service-restart-1", "counter_reset", "order-service", "33d21h28m45s", "0s",
     "order-service pod 10.0.1.44:8080 restarted (counter reset)"),
    ("demand-forecast-drift", "model_drift", "ml-inference-gateway", "20d8h", "9h",
     "model_drift_detected{model=\"demand-forecast\"} = 1"),
    ("notification-worker-crash-loop", "counter_reset", "notification-worker", "19d6h", "2d",
     "notification-worker pod 10.0.1.51:9090 crash-loops, restarting every 3 hours (16 counter resets)"),
    ("llm-latency-regression", "latency_regression", "llm-gateway", "18d17h", "3h30m",
     "llm-gateway median latency x2.6: about 20% of requests slower than 0.5 s"),
    ("llm-gateway-restart", "counter_reset", "llm-gateway", "18d13h32m30s", "0s",
     "llm-gateway pod 10.0.4.15:8080 restarted by the rollback (counter reset)"),
    ("scrape-gap", "scrape_gap", "*", "15d2h50m", "30m",
     "Prometheus scraped nothing for 30 minutes; the first sample after the gap carries the gap's events"),
    ("api-gateway-5xx-outage", "outage", "api-gateway", "11d15h40m", "40m",
     "api-gateway answers 25% of requests with 500/503 for 40 minutes"),
    ("api-gateway-restart-2", "counter_reset", "api-gateway", "11d14h52m40s", "0s",
     "api-gateway pod 10.0.1.12:8080 restarted after the rollback (counter reset)"),
    ("notification-backlog", "backlog", "notification-worker", "11d4h30m", "2h",
     "notification backlog: 12% of deliveries delayed and 3% failed"),
    ("order-service-restart-2", "counter_reset", "order-service", "3d16h57m15s", "0s",
     "order-service pod 10.0.2.18:8080 restarted by a deploy (counter reset)"),
    ("quiet-week", "quiet_week", "*", "7d", "7d",
     "no alert-worthy burn in (as_of - 7d, as_of]; only a pod restart"),
)
_RESTART_INSTANCE = {
    "api-gateway-restart-1": ("api-gateway", "10.0.2.31:8080"),
    "order-service-restart-1": ("order-service", "10.0.1.44:8080"),
    "llm-gateway-restart": ("llm-gateway", "10.0.4.15:8080"),
    "api-gateway-restart-2": ("api-gateway", "10.0.1.12:8080"),
    "order-service-restart-2": ("order-service", "10.0.2.18:8080"),
}
CRASH_LOOP_INSTANCE = ("notification-worker", NOTIFICATION_INSTANCES[0])
CRASH_LOOP_RESTART_EVERY = pd.Timedelta(hours=3)
CRASH_LOOP_FIRST_RESTART = pd.Timedelta(minutes=47, seconds=10)  # after the crash loop's start
OUTAGE_CODE_SHARE = {"500": 0.08, "503": 0.17}
LLM_REGRESSION_LATENCY_FACTOR = 2.6
BACKLOG_RESULT_SHARE = {"delayed": 0.12, "failed": 0.03}
TIMEOUT_EPISODE_SHARE = 0.07

# SLO name -> (service, good rows, total rows), rows as {column: value} filters on `series()`.
SLOS: dict[str, tuple[str, dict[str, object], dict[str, object]]] = {
    "api-gateway-availability": (
        "api-gateway", {"name": "http_requests_total", "service": "api-gateway", "code": ("200", "404")},
        {"name": "http_requests_total", "service": "api-gateway"}),
    "api-gateway-latency": (
        "api-gateway", {"name": "http_request_duration_seconds_bucket", "service": "api-gateway", "le": "0.3"},
        {"name": "http_request_duration_seconds_count", "service": "api-gateway"}),
    "order-success-rate": (
        "order-service", {"name": "orders_total", "status": "success"}, {"name": "orders_total"}),
    "notification-delivery": (
        "notification-worker", {"name": "notifications_total", "result": "delivered"},
        {"name": "notifications_total"}),
    "ml-inference-availability": (
        "ml-inference-gateway", {"name": "inference_requests_total", "outcome": "success"},
        {"name": "inference_requests_total"}),
    "llm-latency": (
        "llm-gateway", {"name": "http_request_duration_seconds_bucket", "service": "llm-gateway", "le": "0.5"},
        {"name": "http_request_duration_seconds_count", "service": "llm-gateway"}),
}
LABEL_COLUMNS = ("job", "instance", "service", "route", "code", "le", "status", "result", "model", "outcome",
                 "model_name", "engine")


def scripted_events(as_of: pd.Timestamp | str = DEFAULT_AS_OF) -> pd.DataFrame:
    """The scripted events for `as_of` (no data generated): name, kind, start, end, service, description."""
    as_of = parse_time(as_of, field="as_of").floor("min")
    rows = []
    for name, kind, service, before, duration, description in _EVENTS:
        start = as_of - parse_duration(before)
        end = start + (parse_duration(duration) if duration != "0s" else pd.Timedelta(0))
        rows.append({"name": name, "kind": kind, "start": start, "end": end, "service": service,
                     "description": description})
    return pd.DataFrame(rows)


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    """Standard normal CDF (Abramowitz-Stegun 7.1.26, error < 1.5e-7): enough for a latency model."""
    x = np.abs(z) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-x * x)
    return 0.5 * (1.0 + np.sign(z) * erf)


class MetricsSimulation:
    """All series, their samples and the ground truth, built once from `seed` and `as_of`."""

    def __init__(self, seed: int = DEFAULT_SEED, as_of: pd.Timestamp | str = DEFAULT_AS_OF) -> None:
        self.seed = int(seed)
        self.as_of = parse_time(as_of, field="as_of").floor("min")
        minutes = HISTORY_DAYS * 24 * 60
        self.minutes = pd.date_range(end=self.as_of, periods=minutes, freq=MINUTE).as_unit("ns")
        self._events = self._schedule()
        gap = self._events[self._events["kind"] == "scrape_gap"].iloc[0]
        self._gap = (self.minutes >= gap["start"]) & (self.minutes < gap["end"])
        self.timestamps = self.minutes[~self._gap]
        self._build()

    # ------------------------------------------------------------------ schedule
    def _schedule(self) -> pd.DataFrame:
        return scripted_events(self.as_of)

    def scripted_events(self) -> pd.DataFrame:
        """The scripted events: name, kind, start, end (UTC; effects on [start, end)), service, description."""
        return self._events.copy()

    def _event(self, name: str) -> pd.Series:
        return self._events.set_index("name").loc[name]

    def _during(self, name: str) -> np.ndarray:
        """Minutes whose events happen in the event's [start, end): samples t with start < t <= end."""
        event = self._event(name)
        return np.asarray((self.minutes > event["start"]) & (self.minutes <= event["end"]))

    def _restarts(self) -> list[tuple[str, str, pd.Timestamp]]:
        """(job, instance, time) of every pod restart, in time order."""
        restarts = [(*_RESTART_INSTANCE[name], self._event(name)["start"]) for name in _RESTART_INSTANCE]
        loop = self._event("notification-worker-crash-loop")
        moment = loop["start"] + CRASH_LOOP_FIRST_RESTART
        while moment < loop["end"]:
            restarts.append((*CRASH_LOOP_INSTANCE, moment))
            moment += CRASH_LOOP_RESTART_EVERY
        return sorted(restarts, key=lambda restart: restart[2])

    # ------------------------------------------------------------------ generation
    def _rng(self, component: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(component.encode())])

    def _load(self, component: str) -> np.ndarray:
        """Traffic shape per minute (mean ~1): `timeline.traffic_load`, shared with the cost simulation."""
        return traffic_load(self.seed, self.as_of, component, self.minutes)

    def _build(self) -> None:
        restarts = self._restarts()
        self._restart_columns = [(job, instance, moment, int(self.minutes.searchsorted(moment.ceil("min"))))
                                 for job, instance, moment in restarts]
        rows: list[dict[str, object]] = []
        blocks: list[np.ndarray] = []
        # -- http requests (per minute, before the scrape view)
        http_blocks: dict[str, np.ndarray] = {}
        for service in SERVICES:
            load = self._load(service.name)
            rate = service.requests_per_minute * load
            shares = {code: np.full(len(self.minutes), share) for code, share in BASE_CODE_SHARE.items()}
            if service.name == "api-gateway":
                outage = self._during("api-gateway-5xx-outage")
                for code, share in OUTAGE_CODE_SHARE.items():
                    shares[code] = np.where(outage, share, shares[code])
            shares["200"] = 1.0 - sum(shares.values())
            means = []
            for instance in service.instances:
                for route, route_share in service.routes.items():
                    for code in CODES:
                        rows.append({"family": "http_requests", "name": "http_requests_total", "kind": "counter",
                                     "job": service.name, "instance": instance, "service": service.name,
                                     "route": route, "code": code})
                        means.append(rate * route_share * shares[code] / len(service.instances))
            http_blocks[service.name] = self._rng(f"http/{service.name}").poisson(np.array(means))
        blocks.extend(http_blocks.values())
        # -- orders, notifications, inference
        blocks.append(self._shared_counter(rows, "orders", "order-service", ORDER_INSTANCES, "status",
                                           ORDER_STATUS_SHARE, ORDERS_PER_MINUTE, {}))
        backlog = self._during("notification-backlog")
        blocks.append(self._shared_counter(rows, "notifications", "notification-worker", NOTIFICATION_INSTANCES,
                                           "result", NOTIFICATION_RESULT_SHARE, NOTIFICATIONS_PER_MINUTE,
                                           {result: (backlog, share) for result, share in
                                            BACKLOG_RESULT_SHARE.items()}))
        timeouts = self._during("fraud-detector-timeouts")
        for model, per_minute in MODELS.items():
            overrides = {"timeout": (timeouts, TIMEOUT_EPISODE_SHARE)} if model == "fraud-detector" else {}
            blocks.append(self._shared_counter(rows, "inference_requests", "ml-inference-gateway",
                                               INFERENCE_INSTANCES, "outcome", INFERENCE_OUTCOME_SHARE, per_minute,
                                               overrides, extra={"model": model}))
        blocks.append(self._vllm_tokens(rows, http_blocks["llm-gateway"].sum(axis=0)))
        events = np.concatenate(blocks).astype(np.int64)
        series = pd.DataFrame(rows)
        # -- the scrape view: restarts thin their minute, the gap folds into the next sample
        self._thin_restart_minutes(series, events, self._rng("restarts"))
        events = self._fold_gap(events)
        base = self._baselines(events, self._rng("baselines"))
        values, capped = self._accumulate(series, events, base)
        # -- latency histograms from the final per-sample request counts
        hist_rows, hist_events, hist_base = self._histograms(series, events, base)
        hist_values, hist_capped = self._accumulate(hist_rows, hist_events, hist_base)
        if hist_capped:
            raise RuntimeError("a histogram restart was not visible as a reset; change the schedule")
        # -- gauges
        gauge_rows, gauge_values = self._gauges()
        self._series = pd.concat([series, hist_rows, gauge_rows], ignore_index=True)
        self._series["scale"] = np.where(self._series["name"] == "http_request_duration_seconds_sum", 1000, 1)
        self._values = np.concatenate([values, hist_values, gauge_values])
        counter_events = np.concatenate([events, hist_events])
        self._capped_events = capped
        self._slo_minutes = {name: self._slo_frame(name, counter_events) for name in SLOS}
        self._token_minutes = pd.DataFrame({"timestamp": self.timestamps, **{
            name: counter_events[self._rows(self._series, {"name": name})].sum(axis=0)
            for name in VLLM_TOKENS_PER_REQUEST}})

    def _vllm_tokens(self, rows: list[dict[str, object]], requests: np.ndarray) -> np.ndarray:
        """vLLM's token counters on its pod's target: per minute, the llm-gateway's requests x tokens per request
        (a lognormal factor a minute: prompts and answers vary)."""
        rng = self._rng("vllm/tokens")
        out = []
        for name, per_request in VLLM_TOKENS_PER_REQUEST.items():
            rows.append({"family": name.removesuffix("_total"), "name": name, "kind": "counter", "job": VLLM_JOB,
                         "instance": VLLM_INSTANCE, **VLLM_LABELS})
            out.append(np.rint(requests * per_request * rng.lognormal(0.0, 0.08, len(requests))).astype(np.int64))
        return np.stack(out)

    def _shared_counter(self, rows: list[dict[str, object]], family: str, job: str, instances: Iterable[str],
                        label: str, shares: dict[str, float | None], per_minute: float,
                        overrides: dict[str, tuple[np.ndarray, float]],
                        extra: dict[str, str] | None = None) -> np.ndarray:
        """A counter split by one outcome label over a job's pods; `overrides` set a share during an event."""
        instances = tuple(instances)
        rate = per_minute * self._load(f"{family}/{job}")
        share_arrays = {key: np.full(len(self.minutes), share) for key, share in shares.items() if share is not None}
        for key, (mask, share) in overrides.items():
            share_arrays[key] = np.where(mask, share, share_arrays[key])
        good = next(key for key, share in shares.items() if share is None)
        share_arrays[good] = 1.0 - sum(share_arrays.values())
        means = []
        for instance in instances:
            for key in shares:
                rows.append({"family": family, "name": f"{family}_total", "kind": "counter", "job": job,
                             "instance": instance, **(extra or {}), label: key})
                means.append(rate * share_arrays[key] / len(instances))
        suffix = "/".join((extra or {}).values())
        return self._rng(f"{family}/{job}/{suffix}").poisson(np.array(means))

    def _thin_restart_minutes(self, series: pd.DataFrame, events: np.ndarray, rng: np.random.Generator) -> None:
        """In a restart's minute only the new process's events reach the next scrape."""
        for job, instance, _, column in self._restart_columns:
            rows = np.nonzero(((series["job"] == job) & (series["instance"] == instance)).to_numpy())[0]
            events[rows, column] = rng.binomial(events[rows, column], RESTART_SURVIVING_SHARE)

    def _fold_gap(self, events: np.ndarray) -> np.ndarray:
        """Drop the gap's minutes; their events show up in the first sample after the gap."""
        gap_columns = np.nonzero(self._gap)[0]
        after = gap_columns[-1] + 1
        events = events.copy()
        events[:, after] += events[:, gap_columns].sum(axis=1)
        return events[:, ~self._gap]

    def _sample_column(self, minute_column: int) -> int:
        return int(minute_column - np.count_nonzero(self._gap[:minute_column]))

    def _baselines(self, events: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Counter values at the first sample: the pods had been up for 1 to 3 days."""
        uptime_minutes = rng.uniform(1440, 3 * 1440, len(events))
        events[:, 0] = 0  # the first sample is the baseline; its events are not counted
        return np.rint(events[:, :1440].mean(axis=1) * uptime_minutes).astype(np.int64)

    def _accumulate(self, series: pd.DataFrame, events: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, int]:
        """Counter values per sample with every restart's reset; a restart minute whose events would not
        show as a drop (a sparse series) is set to 0 events, so the truth stays what a scraper sees."""
        values = base[:, None] + np.cumsum(events, axis=1)
        capped = 0
        for job, instance, _, minute_column in self._restart_columns:
            column = self._sample_column(minute_column)
            rows = np.nonzero(((series["job"] == job) & (series["instance"] == instance)).to_numpy())[0]
            previous = values[rows, column - 1]
            invisible = (previous > 0) & (events[rows, column] >= previous)
            capped += int(np.count_nonzero(invisible & (events[rows, column] > 0)))
            events[rows[invisible], column] = 0
            values[rows, column:] = np.cumsum(events[rows, column:], axis=1)
        return values, capped

    def _histograms(self, series: pd.DataFrame, events: np.ndarray,
                    base: np.ndarray) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """Latency buckets per pod from its request counts (lognormal latency, slower under load)."""
        rows: list[dict[str, object]] = []
        hist_events: list[np.ndarray] = []
        hist_base: list[np.ndarray] = []
        samples = ~self._gap
        regression = self._during("llm-latency-regression")[samples]
        for service in SERVICES:
            rng = self._rng(f"latency/{service.name}")
            load = self._load(service.name)[samples]
            median = service.latency_median_seconds * (1.0 + 0.2 * (load - 1.0))
            if service.name == "llm-gateway":
                median = np.where(regression, median * LLM_REGRESSION_LATENCY_FACTOR, median)
            cdf = np.stack([_normal_cdf((np.log(bound) - np.log(median)) / service.latency_sigma)
                            for bound in BUCKETS])
            mean_ms = 1000.0 * median * np.exp(service.latency_sigma ** 2 / 2)
            for instance in service.instances:
                mask = ((series["family"] == "http_requests") & (series["instance"] == instance)).to_numpy()
                count = events[mask].sum(axis=0)
                count_base = int(base[mask].sum())
                remaining = count.copy()
                below = np.zeros_like(cdf[0])
                per_bucket = []
                for j in range(len(BUCKETS)):
                    conditional = np.clip((cdf[j] - below) / np.maximum(1.0 - below, 1e-12), 0.0, 1.0)
                    drawn = rng.binomial(remaining, conditional)
                    per_bucket.append(drawn)
                    remaining = remaining - drawn
                    below = cdf[j]
                cumulative = np.cumsum(np.stack(per_bucket), axis=0)
                base_share = cdf.mean(axis=1)
                for label, bucket_events, share in zip(BUCKET_LABELS, [*cumulative, count],
                                                       [*base_share, 1.0], strict=True):
                    rows.append({"family": "http_request_duration_seconds",
                                 "name": "http_request_duration_seconds_bucket", "kind": "counter",
                                 "job": service.name, "instance": instance, "service": service.name, "le": label})
                    hist_events.append(bucket_events)
                    hist_base.append(np.array([int(count_base * share)]))
                for name, part, part_base in (
                        ("http_request_duration_seconds_sum", np.rint(count * mean_ms).astype(np.int64),
                         int(count_base * mean_ms.mean())),
                        ("http_request_duration_seconds_count", count, count_base)):
                    rows.append({"family": "http_request_duration_seconds", "name": name, "kind": "counter",
                                 "job": service.name, "instance": instance, "service": service.name})
                    hist_events.append(part)
                    hist_base.append(np.array([part_base]))
        return pd.DataFrame(rows), np.stack(hist_events).astype(np.int64), np.concatenate(hist_base)

    def _gauges(self) -> tuple[pd.DataFrame, np.ndarray]:
        drift = self._event("demand-forecast-drift")
        times = self.timestamps
        rows: list[dict[str, object]] = []
        values = []
        for model in MODELS:
            rows.append({"family": "model_drift_detected", "name": "model_drift_detected", "kind": "gauge",
                         "job": "model-monitor", "instance": MODEL_MONITOR_INSTANCE, "model": model})
            drifting = (times >= drift["start"]) & (times < drift["end"]) if model == "demand-forecast" else None
            values.append(np.asarray(drifting, dtype=np.int64) if drifting is not None
                          else np.zeros(len(times), np.int64))
        targets = [(s.name, i) for s in SERVICES for i in s.instances]
        targets += [("notification-worker", i) for i in NOTIFICATION_INSTANCES]
        targets += [("model-monitor", MODEL_MONITOR_INSTANCE), (VLLM_JOB, VLLM_INSTANCE)]
        for job, instance in sorted(targets):
            rows.append({"family": "up", "name": "up", "kind": "gauge", "job": job, "instance": instance})
            values.append(np.ones(len(times), np.int64))
        return pd.DataFrame(rows), np.stack(values)

    def _rows(self, series: pd.DataFrame, selector: dict[str, object]) -> np.ndarray:
        mask = np.ones(len(series), bool)
        for column, wanted in selector.items():
            values = series[column].to_numpy(dtype=object)
            mask &= np.isin(values, list(wanted)) if isinstance(wanted, tuple) else values == wanted
        return np.nonzero(mask)[0]

    def _slo_frame(self, name: str, counter_events: np.ndarray) -> pd.DataFrame:
        _, good, total = SLOS[name]
        series = self._series
        return pd.DataFrame({"timestamp": self.timestamps,
                             "good": counter_events[self._rows(series, good)].sum(axis=0),
                             "total": counter_events[self._rows(series, total)].sum(axis=0)})

    # ------------------------------------------------------------------ ground truth
    def series(self) -> pd.DataFrame:
        """One row per series: family, name, kind, scale (values are integers / scale) and the labels."""
        return self._series.copy()

    def values(self, row: int) -> pd.Series:
        """The samples of one series (a row of `series()`), indexed by timestamp."""
        return pd.Series(self._values[row] / self._series["scale"].iat[row], index=self.timestamps)

    def _slo(self, name: str) -> pd.DataFrame:
        if name not in SLOS:
            raise BadInputError(f"slo: unknown SLO {name!r}; known: {', '.join(SLOS)}")
        return self._slo_minutes[name]

    def slo_minutes(self, name: str) -> pd.DataFrame:
        """Per sample: timestamp, good, total (the events a scraper attributes to that sample)."""
        return self._slo(name).copy()

    def slo_events(self, name: str, start: object, end: object) -> tuple[int, int]:
        """(good, total) events of the samples with timestamp in (start, end]; `now-7d` is relative to as_of."""
        frame = self._slo(name)
        start_ts = parse_time(start, now=self.as_of, field="start")
        end_ts = parse_time(end, now=self.as_of, field="end")
        mask = ((frame["timestamp"] > start_ts) & (frame["timestamp"] <= end_ts)).to_numpy()
        return int(frame["good"].to_numpy()[mask].sum()), int(frame["total"].to_numpy()[mask].sum())

    def token_minutes(self) -> pd.DataFrame:
        """Per sample: timestamp and the increase of each vLLM token counter (`vllm:prompt_tokens_total`,
        `vllm:generation_tokens_total`) a scraper attributes to it."""
        return self._token_minutes.copy()

    def drift_periods(self) -> pd.DataFrame:
        """model, start, end: model_drift_detected == 1 on the samples in [start, end)."""
        events = self._events[self._events["kind"] == "model_drift"]
        return pd.DataFrame({"model": ["demand-forecast"] * len(events), "start": events["start"].to_numpy(),
                             "end": events["end"].to_numpy()})

    def scrape_gaps(self) -> pd.DataFrame:
        """start, end, missing_samples: no sample of any series at timestamps in [start, end)."""
        gaps = self._events[self._events["kind"] == "scrape_gap"]
        return pd.DataFrame({"start": gaps["start"].to_numpy(), "end": gaps["end"].to_numpy(),
                             "missing_samples": [int(np.count_nonzero(self._gap))] * len(gaps)})

    def counter_resets(self) -> pd.DataFrame:
        """One row per pod restart: restarted_at, timestamp (first sample of the new process), job,
        instance, series (how many of the pod's counter series drop at that sample)."""
        rows = []
        for job, instance, moment, minute_column in self._restart_columns:
            column = self._sample_column(minute_column)
            mask = ((self._series["kind"] == "counter") & (self._series["job"] == job)
                    & (self._series["instance"] == instance)).to_numpy()
            drops = int(np.count_nonzero(self._values[mask, column] < self._values[mask, column - 1]))
            rows.append({"restarted_at": moment, "timestamp": self.timestamps[column], "job": job,
                         "instance": instance, "series": drops})
        return pd.DataFrame(rows)

    def quiet_week(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The recent week with no alert-worthy burn: (as_of - 7d, as_of]."""
        return self.as_of - QUIET_WEEK, self.as_of

    # ------------------------------------------------------------------ OpenMetrics
    @functools.cached_property
    def _timestamp_text(self) -> pa.Array:
        seconds = pa.array(self.timestamps.as_unit("s").asi8)
        return pc.binary_join_element_wise(" ", pc.cast(seconds, pa.string()), "\n", "")

    def write_openmetrics(self, path: Path, start: pd.Timestamp | None = None,
                          end: pd.Timestamp | None = None, *, scrape_seconds: int = SCRAPE_INTERVAL_SECONDS) -> None:
        """Write the samples with timestamp in [start, end) (default: all) as one OpenMetrics file.

        Timestamps in seconds, each series' samples contiguous and in time order, families contiguous
        with their `# TYPE`, `# EOF` last, no blank lines. Built with Arrow string kernels, series by series.
        `scrape_seconds=30` adds a sample half a minute before each one whose previous sample is a minute earlier: a
        counter holds half of the minute's increase there (its value before when the minute holds a reset), a gauge
        its previous value. The events of every minute (t - 1m, t] are unchanged, so is the ground truth.
        """
        if scrape_seconds not in (30, 60):
            raise ValueError("scrape_seconds: 30 or 60")
        stamps = self.timestamps
        low = 0 if start is None else int(stamps.searchsorted(parse_time(start), side="left"))
        high = len(stamps) if end is None else int(stamps.searchsorted(parse_time(end), side="left"))
        timestamp_text = self._timestamp_text[low:high]
        half: np.ndarray | None = None
        if scrape_seconds == 30 and high > low:
            seconds = stamps.as_unit("s").asi8
            before = np.concatenate([[seconds[low] - 120] if low == 0 else seconds[low - 1:low], seconds[low:high - 1]])
            half = seconds[low:high] - before == 60  # which samples get one 30 s before them
            both = np.column_stack([seconds[low:high] - 30, seconds[low:high]]).ravel()
            keep = np.column_stack([half, np.ones(high - low, bool)]).ravel()
            timestamp_text = pc.binary_join_element_wise(" ", pc.cast(pa.array(both[keep]), pa.string()), "\n", "")
        series = self._series
        with open(path, "wb") as out:
            for family, members in series.groupby("family", sort=False):
                kind = "histogram" if family == "http_request_duration_seconds" else members["kind"].iat[0]
                out.write(f"# TYPE {family} {kind}\n".encode())
                if high <= low:
                    continue
                for row in members.index:
                    values = self._values[row, low:high]
                    if half is not None:
                        previous = np.concatenate([values[:1] if low == 0 else self._values[row, low - 1:low],
                                                   values[:-1]])
                        middle = previous
                        if series["kind"].iat[row] == "counter":
                            middle = np.where(values >= previous, previous + (values - previous) // 2, previous)
                        values = np.column_stack([middle, values]).ravel()[keep]
                    scale = int(series["scale"].iat[row])
                    numbers = pa.array(values if scale == 1 else values / scale)
                    lines = pc.binary_join_element_wise(self._prefix(row), pc.cast(numbers, pa.string()),
                                                        timestamp_text, "")
                    offsets = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, lines.offset * 4)
                    out.write(memoryview(lines.buffers()[2])[offsets[0]:offsets[-1]])
            out.write(b"# EOF\n")

    def _prefix(self, row: int) -> str:
        record = self._series.iloc[row]
        labels = ",".join(f'{column}="{record[column]}"' for column in LABEL_COLUMNS
                          if isinstance(record.get(column), str))
        return f"{record['name']}{{{labels}}} "
