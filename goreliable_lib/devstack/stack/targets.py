"""Live scrape targets on 127.0.0.1: simulated HTTP services served as real `/metrics` endpoints by the
`prometheus_client` library, one target (port) per pod, and the exact record of every scrape each one served.

What a pod exposes (like `sim.metrics`' services): `http_requests_total{service,route,code}` and the histogram
`http_request_duration_seconds{service,le}` (buckets 0.1, 0.3, 0.5, 1 as prometheus_client formats them:
"0.1", "0.3", "0.5", "1.0", "+Inf"). Label sets are born lazily: a `code="503"` series exists only after the
pod's first such request, and after a restart only after the next one (so it vanishes from scrapes in between,
which makes scrapers write staleness markers).

A `Pod` can be restarted (HTTP server stopped, a new registry = counters from 0, started again on the same port)
and stopped for a while. A `Driver` thread makes requests at a seeded random rate per pod. Every scrape a pod
serves is recorded (`Scrape`: scraper from the User-Agent, wall time, the exact value of every series served).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from goreliable_lib.devstack.stack.process import free_port

BUCKETS = (0.1, 0.3, 0.5, 1.0)
ROUTES = ("/api/items", "/api/cart")
#: a scraper by its User-Agent: Prometheus sends "Prometheus/2.42.0", VictoriaMetrics "vm_promscrape"
SCRAPERS = (("prometheus", "Prometheus/"), ("victoriametrics", "vm_promscrape"))


def scraper_of(user_agent: str) -> str:
    """'prometheus', 'victoriametrics' or 'other' from a scrape's User-Agent."""
    for name, marker in SCRAPERS:
        if marker.lower() in user_agent.lower():
            return name
    return "other"


def series_key(name: str, labels: dict[str, str]) -> str:
    """A series as text, labels sorted: `name{a="x",b="y"}`."""
    return name + "{" + ",".join(f'{k}="{labels[k]}"' for k in sorted(labels)) + "}"


@dataclass
class Scrape:
    """One scrape a pod served: who asked, when (wall clock, seconds), and every series' value."""

    scraper: str
    time: float
    pod: str
    values: dict[str, float]


@dataclass
class Pod:
    """One pod of a service: an HTTP /metrics target on 127.0.0.1:`port` with its own registry."""

    service: str
    name: str
    port: int = 0
    rate: float = 10.0  # requests per second
    error_rate: float = 0.02  # share of 500s
    not_found_rate: float = 0.05  # share of 404s
    extra_errors: dict[str, float] = field(default_factory=dict)  # code -> share, scripted (e.g. {"503": 0.1})
    scrapes: list[Scrape] = field(default_factory=list)
    restarts: list[tuple[float, float]] = field(default_factory=list)  # (down at, up at) wall times

    def __post_init__(self) -> None:
        if not self.port:
            self.port = free_port()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._requests: Counter | None = None
        self._latency: Histogram | None = None
        self._registry: CollectorRegistry | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    # ---- the process ------------------------------------------------------------------------------------
    def start(self) -> None:
        """A fresh process: a new registry (every counter from 0, no label set yet) serving on `port`."""
        if self._server is not None:
            return
        disable_created_metrics()  # no `_created` series, as client_golang
        registry = CollectorRegistry()
        requests = Counter("http_requests_total", "HTTP requests.", ["service", "route", "code"], registry=registry)
        latency = Histogram("http_request_duration_seconds", "HTTP request latency.", ["service"],
                            buckets=BUCKETS, registry=registry)
        latency.labels(service=self.service)  # the histogram exists from the start, like client_golang's
        with self._lock:
            self._registry, self._requests, self._latency = registry, requests, latency
        pod = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's spelling)
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = pod._serve(self.headers.get("User-Agent", ""))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        for attempt in range(50):  # the port may linger a moment after a stop
            try:
                server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
                break
            except OSError:
                if attempt == 49:
                    raise
                time.sleep(0.05)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"target-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """The process is gone: nothing listens on the port, its counters are lost."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            self._registry = self._requests = self._latency = None

    def restart(self, down_seconds: float) -> None:
        """Stop, wait `down_seconds`, start a fresh process on the same port."""
        down = time.time()
        self.stop()
        time.sleep(down_seconds)
        self.start()
        self.restarts.append((down, time.time()))

    # ---- traffic and scrapes ----------------------------------------------------------------------------
    def handle(self, rng: random.Random) -> None:
        """One request: a route, a code (404, 500, scripted extra errors, else 200) and a latency."""
        draw = rng.random()
        code = "200"
        for extra, share in self.extra_errors.items():
            if draw < share:
                code = extra
                break
            draw -= share
        else:
            if draw < self.error_rate:
                code = "500"
            elif draw < self.error_rate + self.not_found_rate:
                code = "404"
        route = ROUTES[0] if rng.random() < 0.7 else ROUTES[1]
        latency = rng.lognormvariate(math.log(0.12), 0.9) * (3 if code.startswith("5") else 1)
        with self._lock:
            if self._requests is None or self._latency is None:
                return
            self._requests.labels(service=self.service, route=route, code=code).inc()
            self._latency.labels(service=self.service).observe(latency)

    def _serve(self, user_agent: str) -> bytes:
        with self._lock:
            registry = self._registry
            body = generate_latest(registry) if registry is not None else b""
            now = time.time()
        values = {}
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                values[series_key(sample.name, sample.labels)] = float(sample.value)
        self.scrapes.append(Scrape(scraper_of(user_agent), now, self.name, values))
        return body


class Driver:
    """A thread making each running pod's requests: Poisson arrivals at the pod's rate, seeded."""

    def __init__(self, pods: Iterable[Pod], *, seed: int = 0, tick: float = 0.05) -> None:
        self.pods = list(pods)
        self.rng = random.Random(seed)
        self.tick = tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="target-driver", daemon=True)

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(self.tick):
            now = time.monotonic()
            elapsed, last = now - last, now
            for pod in self.pods:
                if not pod.running:
                    continue
                for _ in range(_poisson(self.rng, pod.rate * elapsed)):
                    pod.handle(self.rng)

    def start(self) -> Driver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; the means here are small)."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def make_pods(services: dict[str, int], *, seed: int = 0) -> list[Pod]:
    """Pods `<service>-<i>` for {service: pod count}, each with a seeded rate of a few to tens per second."""
    rng = random.Random(seed)
    return [Pod(service, f"{service}-{i}", rate=round(rng.uniform(4, 25), 1)) for service, count in services.items()
            for i in range(count)]
