"""Scraped histories: a real Prometheus and a real VictoriaMetrics scraping the same live targets (`targets`) at
the same time, a scripted scenario (restarts, lazily born series, stopped targets), and the recorder of the
fixture the SLO engine's tests replay (tests/data/scraped):

    python -m goreliable_lib.devstack.stack.scraping record tests/data/scraped     (make scraped-fixture)

What the fixture holds (see its README.md): the Prometheus TSDB snapshot (`prometheus/<block ULID>/`, taken
through the admin API, head included), the VictoriaMetrics native export (`victoriametrics.native`), and the
truth: every served value matched to the sample each server stored (`truth.parquet`) with the timeline
(`truth.json`). Unlike an imported history this one holds staleness markers, written by the scrapers.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import requests

from goreliable_lib.devstack.stack.process import loopback_session
from goreliable_lib.devstack.stack.prometheus import PrometheusServer, block_dirs, find_binaries
from goreliable_lib.devstack.stack.targets import Driver, Pod, make_pods, series_key
from goreliable_lib.devstack.stack.victoriametrics import VictoriaMetricsServer, find_victoriametrics
from goreliable_lib.errors import StackError

SCRAPE_INTERVAL_SECONDS = 5
#: the series the truth covers (the targets' own); the servers' `up`/`scrape_*` series are left aside
TRUTH_MATCH = '{__name__=~"http_.*"}'
#: labels a server adds to what a target exposes
TARGET_LABELS = ("job", "instance", "pod")


def scrape_config(pods: Iterable[Pod], interval_seconds: float) -> str:
    """The `scrape_configs` both servers read: one job per service, one static target per pod (label `pod`)."""
    by_service: dict[str, list[Pod]] = {}
    for pod in pods:
        by_service.setdefault(pod.service, []).append(pod)
    interval = f"{round(interval_seconds * 1000)}ms"  # Prometheus durations take whole units only
    timeout = f"{round(max(0.5, min(interval_seconds * 0.8, 4)) * 1000)}ms"
    lines = ["global:", f"  scrape_interval: {interval}", f"  scrape_timeout: {timeout}", "scrape_configs:"]
    for service, members in by_service.items():
        lines += [f"  - job_name: {service}", "    static_configs:"]
        for pod in members:
            lines += [f"      - targets: ['{pod.address}']", f"        labels: {{pod: {pod.name}}}"]
    return "\n".join(lines) + "\n"


class ScrapingPrometheus(PrometheusServer):
    """A real Prometheus scraping `pods` (empty TSDB in `workdir/data`), admin API on (TSDB snapshots)."""

    def __init__(self, pods: Iterable[Pod], *, workdir: Path, interval_seconds: float = SCRAPE_INTERVAL_SECONDS,
                 port: int | None = None, stop_at_exit: bool = True) -> None:
        super().__init__(Path(workdir) / "data", workdir=workdir, port=port, stop_at_exit=stop_at_exit,
                         extra_args=["--web.enable-admin-api"])
        self.config = scrape_config(pods, interval_seconds)

    def prepare(self) -> None:
        find_binaries()
        data = self.workdir / "data"
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        (self.workdir / "prometheus.yml").write_text(self.config)

    def snapshot(self) -> Path:
        """A TSDB snapshot (head included) through the admin API: the dir holding its blocks."""
        with loopback_session() as session:
            answer = session.post(f"{self.url}/api/v1/admin/tsdb/snapshot", params={"skip_head": "false"},
                                  timeout=60)
        if answer.status_code != 200:
            raise StackError(f"Prometheus snapshot: HTTP {answer.status_code} {answer.text[:300]}")
        return self.workdir / "data" / "snapshots" / answer.json()["data"]["name"]


class ScrapingVictoriaMetrics(VictoriaMetricsServer):
    """A real single-node VictoriaMetrics scraping `pods` itself (`-promscrape.config`)."""

    def __init__(self, pods: Iterable[Pod], *, workdir: Path, interval_seconds: float = SCRAPE_INTERVAL_SECONDS,
                 port: int | None = None, stop_at_exit: bool = True) -> None:
        config = Path(workdir) / "scrape.yml"
        super().__init__(workdir=workdir, port=port, stop_at_exit=stop_at_exit,
                         extra_args=[f"-promscrape.config={config}"])
        self.config_path = config
        self.config = scrape_config(pods, interval_seconds)

    def prepare(self) -> None:
        super().prepare()
        if self.storage is None:
            shutil.rmtree(self.data_dir, ignore_errors=True)  # an empty storage: only what it scrapes
        self.config_path.write_text(self.config)


# --------------------------------------------------------------------------------------------- raw samples
def _parse_export_value(value: object) -> float:
    return math.nan if value is None else float(value)  # type: ignore[arg-type]


def vm_export(url: str, match: str = TRUTH_MATCH) -> list[tuple[dict[str, str], list[int], list[float]]]:
    """Every raw sample VictoriaMetrics holds for `match` (`/api/v1/export`, markers included as NaN)."""
    with loopback_session() as session:
        answer = session.get(f"{url}/api/v1/export", params={"match[]": match}, timeout=120)
    if answer.status_code != 200:
        raise StackError(f"VictoriaMetrics export: HTTP {answer.status_code} {answer.text[:300]}")
    out = []
    for line in answer.text.splitlines():
        if line.strip():
            row = json.loads(line)  # NaN tokens parse; null too
            out.append((row["metric"], [int(t) for t in row["timestamps"]],
                        [_parse_export_value(v) for v in row["values"]]))
    return sorted(out, key=lambda r: series_key("", r[0]))


def raw_query(url: str, selector: str, at: float, window_seconds: int) -> list[tuple[dict[str, str], list[int],
                                                                                       list[float]]]:
    """The raw samples `selector[window]` at `at` (unix seconds) through `/api/v1/query` (what the engine asks)."""
    with loopback_session() as session:
        answer = session.get(f"{url}/api/v1/query", params={"query": f"{selector}[{window_seconds}s]",
                                                             "time": f"{at:.3f}"}, timeout=120)
    if answer.status_code != 200:
        raise StackError(f"raw query at {url}: HTTP {answer.status_code} {answer.text[:300]}")
    out = []
    for item in answer.json()["data"]["result"]:
        out.append((item["metric"], [round(float(t) * 1000) for t, _ in item["values"]],
                    [float(v) for _, v in item["values"]]))
    return sorted(out, key=lambda r: series_key("", r[0]))


# --------------------------------------------------------------------------------------------- the scenario
@dataclass
class Event:
    """A scripted step at `at` seconds after the scenario's start."""

    at: float
    action: str  # restart (down `seconds`), stop, start, errors (extra error shares), calm (no extra errors)
    pods: list[str]
    seconds: float = 0.0
    errors: dict[str, float] = field(default_factory=dict)
    note: str = ""


@dataclass
class Scenario:
    services: dict[str, int]
    events: list[Event]
    duration: float
    interval_seconds: float = SCRAPE_INTERVAL_SECONDS
    seed: int = 20
    rates: dict[str, float] = field(default_factory=dict)  # pod -> requests/s (else seeded)
    error_rates: dict[str, float] = field(default_factory=dict)  # pod -> share of 500s


def fixture_scenario() -> Scenario:
    """The recorded fixture's scenario: 2 services x 2 pods, 5 s scrapes, 12 minutes of steady run-in, then a
    pod restart inside a minute, a 503 series born after it, one pod stopped 150 s, a whole service stopped
    125 s (a scrape gap of whole minutes), each coming back as a fresh process; a steady tail."""
    return Scenario(
        services={"checkout": 2, "search": 2},
        error_rates={"search-0": 0.005, "search-1": 0.005},
        events=[
            Event(720, "restart", ["checkout-0"], seconds=2.5, note="pod restart inside a minute"),
            Event(765, "errors", ["checkout-0"], errors={"503": 0.08}, note="503s start: a series born late"),
            Event(780, "stop", ["search-1"], note="target down (process gone)"),
            Event(825, "calm", ["checkout-0"], note="503s end"),
            Event(930, "start", ["search-1"], note="back as a fresh process (counters from 0)"),
            Event(990, "stop", ["checkout-0", "checkout-1"], note="the whole service down"),
            Event(1115, "start", ["checkout-0", "checkout-1"], note="back as fresh processes"),
        ],
        duration=1320,
    )


def live_scenario() -> Scenario:
    """The live test's short scenario: 1 s scrapes, one pod restart with a lazily born 500 series."""
    return Scenario(services={"live": 2}, interval_seconds=1, duration=20,
                    rates={"live-0": 20, "live-1": 20}, error_rates={"live-0": 0.03, "live-1": 0.0},
                    events=[Event(8, "restart", ["live-0"], seconds=1.5, note="pod restart")])


def _apply(event: Event, pods: dict[str, Pod]) -> None:
    for name in event.pods:
        pod = pods[name]
        if event.action == "restart":
            pod.restart(event.seconds)
        elif event.action == "stop":
            pod.stop()
        elif event.action == "start":
            pod.start()
        elif event.action == "errors":
            pod.extra_errors = dict(event.errors)
        elif event.action == "calm":
            pod.extra_errors = {}
        else:
            raise ValueError(f"unknown scenario action {event.action!r}")


@dataclass
class Run:
    """A scenario played against both servers: the pods (with their served scrapes) and the wall-clock timeline."""

    pods: list[Pod]
    started: float
    ended: float
    timeline: list[dict[str, object]]


def play(scenario: Scenario, pods: list[Pod], *, log: bool = True) -> Run:
    """Play the scenario's events on started pods (the servers scrape meanwhile); returns the timeline."""
    by_name = {pod.name: pod for pod in pods}
    started = time.time()
    timeline: list[dict[str, object]] = []
    for event in sorted(scenario.events, key=lambda e: e.at):
        time.sleep(max(0.0, started + event.at - time.time()))
        at = time.time()
        _apply(event, by_name)
        timeline.append({"at_ms": round(at * 1000), "done_ms": round(time.time() * 1000), "offset_s": event.at,
                         "action": event.action, "pods": event.pods, "seconds": event.seconds,
                         "errors": event.errors, "note": event.note})
        if log:
            print(f"[{at - started:7.1f} s] {event.action} {','.join(event.pods)} {event.note}", flush=True)
    time.sleep(max(0.0, started + scenario.duration - time.time()))
    return Run(pods, started, time.time(), timeline)


class Stack:
    """Pods, their request driver and both scraping servers, started together (a context manager)."""

    def __init__(self, scenario: Scenario, workdir: Path) -> None:
        self.scenario = scenario
        self.workdir = Path(workdir)
        self.pods = make_pods(scenario.services, seed=scenario.seed)
        for pod in self.pods:
            pod.rate = scenario.rates.get(pod.name, pod.rate)
            pod.error_rate = scenario.error_rates.get(pod.name, pod.error_rate)
        self.driver = Driver(self.pods, seed=scenario.seed)
        self.prometheus = ScrapingPrometheus(self.pods, workdir=self.workdir / "prometheus",
                                             interval_seconds=scenario.interval_seconds)
        self.victoriametrics = ScrapingVictoriaMetrics(self.pods, workdir=self.workdir / "victoriametrics",
                                                       interval_seconds=scenario.interval_seconds)

    def __enter__(self) -> Stack:
        for pod in self.pods:
            pod.start()
        self.driver.start()
        try:
            self.prometheus.start()
            self.victoriametrics.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def stop_targets(self) -> None:
        """Stop the traffic and every target, then wait two scrape intervals: no scrape is in flight after."""
        self.driver.stop()
        for pod in self.pods:
            pod.stop()
        time.sleep(2 * self.scenario.interval_seconds + 1)
        self.victoriametrics.flush()

    def __exit__(self, *exc: object) -> None:
        self.driver.stop()
        for pod in self.pods:
            pod.stop()
        self.prometheus.stop()
        self.victoriametrics.stop()


# --------------------------------------------------------------------------------------------- the truth
def match_truth(pods: Sequence[Pod], scraper: str,
                stored: list[tuple[dict[str, str], list[int], list[float]]]) -> pd.DataFrame:
    """Served values of `scraper` matched in order with the server's non-NaN samples (the k-th served value of a
    series = its k-th stored sample); asserts both hold the same values. Columns: the labels, t_ms, value."""
    served: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for pod in pods:
        for scrape in pod.scrapes:
            if scrape.scraper == scraper:
                for key, value in scrape.values.items():
                    served.setdefault((pod.address, pod.name, key), []).append((scrape.time, value))
    rows = []
    seen = set()
    problems = []
    for labels, times, values in stored:
        own = {k: v for k, v in labels.items() if k not in (*TARGET_LABELS, "__name__")}
        key = (labels.get("instance", ""), labels.get("pod", ""), series_key(labels["__name__"], own))
        seen.add(key)
        kept = [(t, v) for t, v in zip(times, values, strict=True) if not math.isnan(v)]
        sent = served.get(key, [])
        if len(kept) != len(sent):
            problems.append(f"{scraper} {key}: served {len(sent)} values, stored {len(kept)} samples")
            continue
        exact = not labels["__name__"].endswith("_sum")  # VM stores floats as decimals (about 12 digits)
        for (t, v), (served_at, sent_value) in zip(kept, sent, strict=True):
            same = v == sent_value if exact else math.isclose(v, sent_value, rel_tol=1e-9)
            if not same:
                problems.append(f"{scraper} {key}: stored {v} at {t}, served {sent_value}; stored "
                                f"{[(t2, v2) for t2, v2 in kept if abs(t2 - t) < 20000]}, served "
                                f"{[(round(a * 1000), b) for a, b in sent if abs(a * 1000 - t) < 20000]}")
                break
            if abs(t / 1000 - served_at) > 5:
                problems.append(f"{scraper} {key}: stored at {t} ms, served at {served_at:.3f} s")
                break
            rows.append({**labels, "t_ms": t, "value": v})
    problems += [f"{scraper} {key}: served, never stored" for key in served if key not in seen]
    if problems:
        raise StackError("the servers do not hold what the targets served:\n" + "\n".join(problems[:20]))
    frame = pd.DataFrame(rows)
    frame.insert(0, "scraper", scraper)
    return frame


def markers(stored: list[tuple[dict[str, str], list[int], list[float]]]) -> list[tuple[str, int]]:
    """(series, timestamp ms) of every NaN sample."""
    return [(series_key("", labels), t) for labels, times, values in stored
            for t, v in zip(times, values, strict=True) if math.isnan(v)]


def prometheus_markers(blocks: Path, scratch: Path) -> list[tuple[str, int]]:
    """(series, timestamp ms) of every NaN sample in TSDB blocks, read with `promtool tsdb dump` from a copy
    (Prometheus' answers never show its markers; promtool writes a head dir into the dir it reads)."""
    _, promtool = find_binaries()
    copy = Path(scratch) / "dump"
    shutil.rmtree(copy, ignore_errors=True)
    (copy / "wal").mkdir(parents=True)
    for block in block_dirs(blocks):
        shutil.copytree(block, copy / block.name)
    result = subprocess.run([str(promtool), "tsdb", "dump", str(copy)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StackError(f"promtool tsdb dump: {result.stderr[-500:]}")
    found = []
    for line in result.stdout.splitlines():
        labels_text, _, rest = line.rpartition("} ")
        value, _, stamp = rest.partition(" ")
        if value == "NaN" and '__name__="http_' in labels_text:
            labels = dict(pair.split("=", 1) for pair in labels_text.lstrip("{").split(", "))
            labels = {k: v.strip('"') for k, v in labels.items()}
            found.append((series_key("", labels), int(stamp)))
    return sorted(found)


def versions() -> dict[str, str]:
    """`prometheus --version` and `victoria-metrics -version` (Debian's build prints nothing: then the package's)."""
    prometheus, _ = find_binaries()
    out = {}
    for name, command in (("prometheus", [str(prometheus), "--version"]),
                          ("victoria-metrics", [str(find_victoriametrics()), "-version"])):
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        said = (result.stdout + result.stderr).strip()
        if not said:
            package = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", name], capture_output=True,
                                     text=True, check=False)
            said = f"{name} (-version printed nothing; Debian package {package.stdout.strip() or 'unknown'})"
        out[name] = said.splitlines()[0]
    return out


def _same_samples(live: list, reloaded: list) -> bool:
    """Same series, timestamps and NaN places; the same values (`_sum` floats: to 1e-9, VM's decimals)."""
    if [labels for labels, _, _ in live] != [labels for labels, _, _ in reloaded]:
        return False
    for (labels, times, values), (_, times2, values2) in zip(live, reloaded, strict=True):
        if times != times2:
            return False
        for v, w in zip(values, values2, strict=True):
            if math.isnan(v) != math.isnan(w) or not (math.isnan(v) or math.isclose(v, w, rel_tol=1e-9)):
                return False
            if not labels["__name__"].endswith("_sum") and not math.isnan(v) and v != w:
                return False
    return True


def record(out: Path, scenario: Scenario | None = None, *, workdir: Path | None = None) -> dict[str, object]:
    """Play the scenario against both scraping servers and write the fixture into `out` (see the module notes)."""
    scenario = scenario or fixture_scenario()
    out = Path(out)
    scratch = Path(workdir or tempfile.mkdtemp(prefix="goreliable-scraped-"))
    with Stack(scenario, scratch) as stack:
        print(f"targets: {', '.join(p.name + '=' + p.address for p in stack.pods)}; Prometheus {stack.prometheus.url},"
              f" VictoriaMetrics {stack.victoriametrics.url}; scenario {scenario.duration:.0f} s", flush=True)
        run = play(scenario, stack.pods)
        stack.stop_targets()
        at = time.time()
        window = int(at - run.started) + 120
        prom_stored = raw_query(stack.prometheus.url, TRUTH_MATCH, at, window)
        vm_stored = vm_export(stack.victoriametrics.url)
        vm_raw = raw_query(stack.victoriametrics.url, 'http_requests_total', at, window)
        snapshot = stack.prometheus.snapshot()
        with loopback_session() as session:
            native = session.get(f"{stack.victoriametrics.url}/api/v1/export/native",
                                 params={"match[]": '{__name__!=""}'}, timeout=300)
        if native.status_code != 200:
            raise StackError(f"VictoriaMetrics native export: HTTP {native.status_code} {native.text[:300]}")
    truth = pd.concat([match_truth(run.pods, "prometheus", prom_stored),
                       match_truth(run.pods, "victoriametrics", vm_stored)], ignore_index=True)

    shutil.rmtree(out / "prometheus", ignore_errors=True)
    (out / "prometheus").mkdir(parents=True, exist_ok=True)
    for block in block_dirs(snapshot):
        shutil.copytree(block, out / "prometheus" / block.name)
    (out / "victoriametrics.native").write_bytes(native.content)

    # the round trips: the shipped files answer the same raw samples as the live servers did
    with PrometheusServer(out / "prometheus", workdir=scratch / "check-prometheus", stop_at_exit=True) as server:
        assert raw_query(server.url, TRUTH_MATCH, at, window) == prom_stored, "Prometheus snapshot differs"
    with load_native(out / "victoriametrics.native", scratch / "check-vm") as server:
        reloaded = vm_export(server.url)
        reloaded_raw = raw_query(server.url, 'http_requests_total', at, window)
    if not (_same_samples(vm_stored, reloaded) and _same_samples(vm_raw, reloaded_raw)):
        for name, rows in (("live", vm_stored), ("reloaded", reloaded), ("live-raw", vm_raw),
                           ("reloaded-raw", reloaded_raw)):
            (scratch / f"vm-{name}.json").write_text(json.dumps(rows))
        raise StackError("the VictoriaMetrics native export does not reload to the same raw samples (markers?)")

    label_columns = sorted(c for c in truth.columns if c not in ("scraper", "t_ms", "value"))
    truth = truth[["scraper", *label_columns, "t_ms", "value"]].sort_values(["scraper", *label_columns, "t_ms"])
    truth.to_parquet(out / "truth.parquet", index=False, compression="zstd")
    facts: dict[str, object] = {
        "scrape_interval_seconds": scenario.interval_seconds,
        "started_ms": round(run.started * 1000), "ended_ms": round(run.ended * 1000),
        "targets_stopped_ms": round(at * 1000),
        "pods": [{"name": p.name, "service": p.service, "address": p.address, "rate_per_second": p.rate,
                  "error_rate": p.error_rate} for p in run.pods],
        "timeline": run.timeline,
        "scrapers": {},
        "versions": versions(),
        "recorded_at": pd.Timestamp(run.started, unit="s", tz="UTC").isoformat(),
    }
    for scraper, stored, raw in (("prometheus", prom_stored, None), ("victoriametrics", vm_stored, vm_raw)):
        part = truth[truth["scraper"] == scraper]
        served = sum(1 for p in run.pods for s in p.scrapes if s.scraper == scraper)
        facts["scrapers"][scraper] = {  # type: ignore[index]
            "first_scrape_ms": int(part["t_ms"].min()), "last_scrape_ms": int(part["t_ms"].max()),
            "scrapes_served": served, "samples": len(part), "series": int(part.groupby(label_columns,
                                                                                        dropna=False).ngroups),
            "nan_samples_in_export": len(markers(stored)),
            **({"nan_samples_in_raw_query": len(markers(raw)),
                "markers": [[k, t] for k, t in markers(stored)]} if raw is not None else
               {"markers_in_blocks": [[k, t] for k, t in prometheus_markers(out / "prometheus", scratch)]}),
        }
    (out / "truth.json").write_text(json.dumps(facts, indent=1) + "\n")
    return facts


def load_native(path: Path, workdir: Path) -> VictoriaMetricsServer:
    """A started fresh VictoriaMetrics holding a native export (`/api/v1/import/native`, then flushed)."""
    server = VictoriaMetricsServer(workdir=workdir, stop_at_exit=True)
    shutil.rmtree(server.data_dir, ignore_errors=True)
    server.start()
    try:
        with loopback_session() as session, open(path, "rb") as body:
            answer = session.post(f"{server.url}/api/v1/import/native", data=body, timeout=300)
        if answer.status_code not in (200, 204):
            raise StackError(f"VictoriaMetrics native import: HTTP {answer.status_code} {answer.text[:300]}")
        # the rows reach the storage a moment after the answer: wait until the stored count stops moving
        deadline, previous = time.monotonic() + 60, -1
        while time.monotonic() < deadline:
            server.flush()
            stored, _ = server.row_counts()
            if stored > 0 and stored == previous:
                break
            previous = stored
            time.sleep(0.5)
        server.flush()
    except BaseException:
        server.stop()
        raise
    return server


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m goreliable_lib.devstack.stack.scraping")
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("record", help="record the scraped fixture (about 23 minutes)")
    rec.add_argument("out", type=Path)
    rec.add_argument("--quick", action="store_true", help="a 1-minute smoke run at 1 s scrapes (not a fixture)")
    rec.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    scenario = fixture_scenario()
    if args.quick:
        scenario = Scenario(services={"checkout": 2, "search": 2}, interval_seconds=1, duration=50,
                            error_rates={"search-0": 0.005, "search-1": 0.005},
                            events=[Event(12, "restart", ["checkout-0"], seconds=0.5),
                                    Event(15, "errors", ["checkout-0"], errors={"503": 0.08}),
                                    Event(18, "stop", ["search-1"]), Event(20, "calm", ["checkout-0"]),
                                    Event(24, "start", ["search-1"]),
                                    Event(30, "stop", ["checkout-0", "checkout-1"]),
                                    Event(35, "start", ["checkout-0", "checkout-1"])])
    try:
        facts = record(args.out, scenario, workdir=args.workdir)
    except (StackError, requests.RequestException) as exc:
        print(f"record failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({k: facts[k] for k in ("scrape_interval_seconds", "versions")}, indent=1))
    for scraper, part in facts["scrapers"].items():  # type: ignore[union-attr]
        print(scraper, {k: v for k, v in part.items() if k != "markers"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
