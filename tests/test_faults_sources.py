"""Fault matrix, source level (no kernel): real servers on 127.0.0.1 misbehaving, and what the kit says.

A real Prometheus with the simulated history (one started with `--query.max-samples` low enough to refuse a
day of raw samples), the Kubecost server of the stack wrapped so it sends nulls, unknown and missing fields,
the moto S3 server holding a 200,000-line drill log, and the report run context used in-process (the notebook's
`run.connect()`), so warnings reach summary.json without paying for a kernel. docs/reliability.md maps each
row of the fault matrix to its test.
"""
# ruff: noqa: F811  (pytest fixtures imported from drill_fixtures)

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pytest
from drill_fixtures import moto_endpoint, s3  # noqa: F401 - fixtures
from report_fixtures import mounted_tmpfs
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Response

from goreliable_lib import cli
from goreliable_lib.devstack.sim import Simulation
from goreliable_lib.devstack.stack.faults import FaultProxy
from goreliable_lib.devstack.stack.kubecost_server import KubecostApp
from goreliable_lib.devstack.stack.prometheus import PrometheusServer, build_tsdb, default_cache_root
from goreliable_lib.errors import KubecostError, PrometheusError
from goreliable_lib.inputs import promql
from goreliable_lib.reports import cost as cost_report
from goreliable_lib.runner.context import Run
from goreliable_lib.sources.kubecost import KubecostSource
from goreliable_lib.sources.prometheus import PrometheusInfo, PrometheusSource, PrometheusWarning

pytestmark = [pytest.mark.stack, pytest.mark.timeout(300),
              pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian prometheus missing")]
AS_OF = pd.Timestamp("2026-11-23T06:00:00Z")
GATEWAY = promql.selector("http_requests_total", service="api-gateway")


@pytest.fixture(scope="module")
def simulation() -> Simulation:
    return Simulation()


@pytest.fixture(scope="module")
def blocks(simulation: Simulation) -> Path:
    """The simulated history as TSDB blocks (built once per machine, cached)."""
    return build_tsdb(default_cache_root(), simulation.cache_key, simulation.openmetrics_writers())


@pytest.fixture(scope="module")
def prometheus(blocks: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with PrometheusServer(blocks, workdir=tmp_path_factory.mktemp("prometheus"), stop_at_exit=True) as server:
        yield server.url


@pytest.fixture(scope="module")
def small_prometheus(blocks: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prometheus that refuses to load more than 1,000 samples per query (production has 50,000,000)."""
    server = PrometheusServer(blocks, workdir=tmp_path_factory.mktemp("prometheus-small"), stop_at_exit=True,
                              extra_args=["--query.max-samples=1000"])
    with server:
        yield server.url


def _live_env(monkeypatch: pytest.MonkeyPatch, **urls: str) -> None:
    for name in [n for n in os.environ if n.startswith("GORELIABLE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GORELIABLE_PROFILE", "live")
    monkeypatch.setenv("GORELIABLE_CONFIG", os.devnull)
    monkeypatch.setenv("GORELIABLE_NOW", AS_OF.isoformat())
    for name, value in urls.items():
        monkeypatch.setenv(name, value)


# --------------------------------------------------------------------------------------------- Prometheus
def test_sample_limit_is_prometheus_own_422_named_and_not_retried(small_prometheus: str) -> None:
    """Over --query.max-samples Prometheus answers 422 execution "query processing would load too many samples":
    the error names the query and keeps the server's message; retrying cannot help, so it is not retried."""
    with FaultProxy(small_prometheus) as counter:
        source = PrometheusSource(counter.url, clock=lambda: AS_OF)
        with pytest.raises(PrometheusError) as caught:
            source.query_range(GATEWAY, "now-1d", "now", "1m")
        assert len(counter.requests) == 1
    error = caught.value
    assert (error.error_type, error.status, error.query) == ("execution", 422, GATEWAY)
    assert "query processing would load too many samples into memory" in str(error) and GATEWAY in str(error)
    assert error.exit_code == 1
    assert len(PrometheusSource(small_prometheus, clock=lambda: AS_OF).query(f"sum({GATEWAY})")) == 1  # small: fine


@pytest.mark.parametrize("value", ['x"} or vector(1) #', 'api-gateway"}) or up{job="', "api-gateway\\",
                                   '.*', "api-gateway|order-service", "\n", "api-gateway\" , code=~\".*"])
def test_label_values_cannot_inject_promql(prometheus: str, value: str) -> None:
    """A value from a parameter (a team, a service) is one literal label value: Prometheus parses the query, finds
    no such series, and nothing else (no `vector(1)`, no regex widening) is answered."""
    source = PrometheusSource(prometheus, clock=lambda: AS_OF)
    frame = source.query(f"sum({promql.selector('http_requests_total', service=value)})")
    assert frame.empty
    assert source.query(promql.selector("http_requests_total", service=promql.any_of([value]))).empty
    both = source.query(promql.selector("http_requests_total", service=promql.any_of([value, "api-gateway"])))
    assert set(both["service"]) == {"api-gateway"}


def test_partial_response_warning_reaches_the_run_summary(prometheus: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A Thanos-style partial response is data the report must not present as complete: the run context (what a
    notebook's `run.connect()` returns) turns it into a run warning, so it is on the first screen (the runner
    lists summary warnings first, tests/test_report_runs.py::test_good_run_layout) and in summary.json."""
    message = "No StoreAPIs matched for this query (partial response)"
    with FaultProxy(prometheus) as proxy:
        proxy.inject_warnings([message], times=None)
        _live_env(monkeypatch, GORELIABLE_PROMETHEUS_URL=proxy.url)
        run = Run("slo", {"end": "now", "window": "30d"}, tmp_path / "run", scratch=False)
        src = run.connect()
        with pytest.warns(PrometheusWarning, match="partial response"):
            frame = src.prometheus.query_range(GATEWAY, "now-1h", "now", "1m")
            src.prometheus.query(f"sum({GATEWAY})")  # a second query with the same warning
    assert len(frame) > 0
    summary = run.write_summary({"requests": 1.0})
    said = [w for w in summary["warnings"] if message in w]
    assert len(said) == 2 and all("may be incomplete" in w for w in said), summary["warnings"]
    assert GATEWAY in said[0]
    on_disk = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert on_disk["warnings"] == summary["warnings"]


def test_retries_and_infos_of_an_ok_run_are_kept_in_its_summary(prometheus: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capfd: pytest.CaptureFixture[str]) -> None:
    """A retry that ended well is no caveat, but it is not silent either: the run keeps it in summary.json `log`
    (and on the kernel's stderr, kept as kernel.log when a run fails). Prometheus 3's `infos` are listed with the
    warnings, marked as information."""
    info = ('PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: '
            '"http_requests" (1:6)')
    with FaultProxy(prometheus) as proxy:
        proxy.respond(503, "upstream connect error or disconnect/reset before headers", times=1)  # Envoy
        _live_env(monkeypatch, GORELIABLE_PROMETHEUS_URL=proxy.url)
        run = Run("slo", {"end": "now", "window": "30d"}, tmp_path / "run", scratch=False)
        src = run.connect()
        src.prometheus.retry_policy = dataclasses.replace(src.prometheus.retry_policy, backoff_seconds=0.01)
        frame = src.prometheus.query(f"sum({GATEWAY})")
        proxy.respond(200, {"status": "success", "infos": [info], "data": {"resultType": "vector", "result": []}})
        with pytest.warns(PrometheusInfo):
            src.prometheus.query("rate(http_requests[5m])")
        endpoint = f"{proxy.url}/api/v1/query"
    assert len(frame) == 1
    summary = run.write_summary({"requests": 1.0})
    [entry] = summary["log"]
    assert entry["level"] == "INFO" and entry["logger"] == "goreliable_lib.sources.http"
    assert entry["message"].startswith("attempt 1 of 4 failed") and endpoint in entry["message"]
    assert GATEWAY in entry["message"] and "HTTP 503" in entry["message"]
    assert summary["warnings"] == [f"Information: Prometheus noted about query 'rate(http_requests[5m])': {info}"]
    assert entry["message"] in capfd.readouterr().err  # the process's own stderr: a kernel's kernel.log


# --------------------------------------------------------------------------------------------- Kubecost
class MutatingKubecost:
    """The stack's Kubecost app, with every allocation answer passed through `mutate` (a real HTTP server)."""

    def __init__(self, mutate: Callable[[dict[str, Any]], None]) -> None:
        from cost_fixtures import shared_cost_sim

        self.app = KubecostApp(shared_cost_sim(), flavour="kubecost")
        self.mutate = mutate

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        response = Response.from_app(self.app, environ)
        if response.status_code == 200 and environ.get("PATH_INFO", "").endswith("/allocation"):
            body = orjson.loads(response.get_data())
            for allocation_set in body["data"]:
                for allocation in allocation_set.values():
                    self.mutate(allocation)
            response.set_data(orjson.dumps(body))
        return response(environ, start_response)


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/model"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _nulls_and_unknowns(allocation: dict[str, Any]) -> None:
    allocation["fancyNewField"] = {"since": "v3", "values": [1, 2]}  # unknown: ignored
    if allocation["name"].startswith("kubeflow/"):
        allocation["totalCost"] = None
        allocation["cpuCost"] = None
        allocation.pop("gpuCost")  # missing


def test_kubecost_null_unknown_and_missing_fields_are_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unknown fields are ignored; a null or missing cost becomes NaN *and* a warning naming the field, the count and
    the first allocation, which the run context puts in summary.json: a total missing a team's cost is never
    shown as complete."""
    window = ("2026-11-20T00:00:00Z", "2026-11-22T00:00:00Z")
    with serve(MutatingKubecost(lambda a: None)) as plain_url:
        plain = KubecostSource(plain_url, clock=lambda: AS_OF).allocation(window, aggregate="namespace,label:cost-team",
                                                                           step="1d")
    with serve(MutatingKubecost(_nulls_and_unknowns)) as url:
        frame = KubecostSource(url, clock=lambda: AS_OF).allocation(window, aggregate="namespace,label:cost-team",
                                                                     step="1d")
        _live_env(monkeypatch, GORELIABLE_KUBECOST_URL=url)
        run = Run("cost", {"end": "now", "window": "30d"}, tmp_path / "run", scratch=False)
        src = run.connect()
        data = cost_report.fetch_allocations(src.kubecost, run.window, "label:cost-team")
    kubeflow = frame["namespace"] == "kubeflow"
    assert kubeflow.sum() > 0 and frame.loc[kubeflow, ["total_cost", "cpu_cost", "gpu_cost"]].isna().all().all()
    pd.testing.assert_frame_equal(frame[~kubeflow].reset_index(drop=True), plain[plain["namespace"] != "kubeflow"]
                                  .reset_index(drop=True), check_like=True)
    # the missing totalCost makes the totals too low: a warning; the parts missing with it are said by it
    [said] = frame.attrs["warnings"]
    assert said.startswith("Kubecost sent no totalCost (null or missing)") and "too low" in said
    assert f"for {kubeflow.sum()} of {len(frame)} allocations" in said and "kubeflow/" in said
    assert "infos" not in frame.attrs
    summary = run.write_summary({"total_cost": float(data.window["total_cost"].sum())})
    totals = [w for w in summary["warnings"] if w.startswith("Kubecost: Kubecost sent no totalCost")]
    assert len(totals) == 2  # the daily costs and the window's totals: two requests, each said
    assert all("too low" in w for w in summary["warnings"])


#: The example allocation of Kubecost's Allocation API docs, "Allocation schema (version 1.76)" (kubecost/docs
#: allocation.md): no loadBalancerCost (nor its adjustment, nor the network split) at all, but a totalCost.
KUBECOST_1_76_ALLOCATION = {
    "name": "cluster-one/gke-niko-pool-2-9182dfa7-okb2/kubecost/kubecost-cost-analyzer-94dc86fc-lwvrm/cost-model",
    "properties": {"annotation": {}, "cluster": "cluster-one", "container": "cost-model",
                   "controller": "kubecost-cost-analyzer", "controllerKind": "deployment",
                   "label": {"app": "cost-analyzer", "app_kubernetes_io_instance": "kubecost",
                             "app_kubernetes_io_name": "cost-analyzer", "name": "kubecost",
                             "pod_template_hash": "94dc86fc"},
                   "namespace": "kubecost", "node": "gke-niko-pool-2-9182dfa7-okb2",
                   "pod": "kubecost-cost-analyzer-94dc86fc-lwvrm",
                   "service": ["kubecost-frontend", "kubecost-cost-analyzer"]},
    "window": {"start": "2021-03-11T00:00:00-07:00", "end": "2021-03-12T00:00:00-07:00"},
    "start": "2021-03-11T07:00:00Z", "end": "2021-03-11T17:00:00Z", "minutes": 600,
    "cpuCores": 0.200399, "cpuCoreRequestAverage": 0.2, "cpuCoreUsageAverage": 0.004317, "cpuCoreHours": 2.00399,
    "cpuCost": 0.044344, "cpuEfficiency": 0.021583, "gpuHours": 0, "gpuCost": 0, "networkCost": 1.3e-05,
    "pvBytes": 11453246122.666668, "pvByteHours": 114532461226.66667, "pvCost": 0.005845,
    "ramBytes": 59791087.387687, "ramByteRequestAverage": 57671680, "ramByteUsageAverage": 52687168.319468,
    "ramByteHours": 597910873.876871, "ramCost": 0.001652, "ramEfficiency": 0.913571, "sharedCost": 0,
    "externalCost": 0, "totalCost": 0.051853, "totalEfficiency": 0.053611,
}


def test_kubecost_1_76_schema_is_not_said_to_make_totals_too_low(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Kubecost 1.76 sends no loadBalancerCost; its totalCost is there, and the totals are totalCost: no warning
    "totals are therefore too low" (there used to be one), only a note that the breakdown has no load-balancer part."""
    answer = orjson.dumps({"code": 200, "data": [{KUBECOST_1_76_ALLOCATION["name"]: KUBECOST_1_76_ALLOCATION}]})

    def kubecost_1_76(environ: dict[str, Any], start_response: Any) -> Any:
        return Response(answer, mimetype="application/json")(environ, start_response)

    window = ("2021-03-11T07:00:00Z", "2021-03-12T07:00:00Z")
    with serve(kubecost_1_76) as url:
        _live_env(monkeypatch, GORELIABLE_KUBECOST_URL=url)
        run = Run("cost", {"end": "now", "window": "30d"}, tmp_path / "run", scratch=False)
        frame = run.connect().kubecost.allocation(window, aggregate=None)
    assert frame["total_cost"].tolist() == [0.051853] and frame["load_balancer_cost"].isna().all()
    assert "warnings" not in frame.attrs
    [note] = frame.attrs["infos"]
    assert note.startswith("Kubecost sent no loadBalancerCost (null or missing) for 1 of 1 allocations")
    assert "the totals are complete" in note
    summary = run.write_summary({"total_cost": float(frame["total_cost"].sum())})
    assert not [w for w in summary["warnings"] if "too low" in w]
    assert summary["warnings"] == [f"Information: Kubecost: {note}"]


def test_kubecost_without_any_data_fails_clearly() -> None:
    """Kubecost answering an empty `data` for the whole window (before its retention, the wrong cluster): the cost
    report fails naming the window instead of publishing a report of zeros ("we spent nothing")."""
    # (the simulated cost data starts 2026-04-25 06:00: March holds nothing)
    with serve(MutatingKubecost(lambda a: None)) as url:
        source = KubecostSource(url, clock=lambda: AS_OF)
        assert source.allocation("2026-03", aggregate="namespace").empty
        with pytest.raises(KubecostError) as caught:
            cost_report.fetch_allocations(source, ("2026-03-01T00:00:00Z", "2026-03-31T00:00:00Z"))
    assert "Kubecost returned no allocation at all for 2026-03-01 00:00 .. 2026-03-31 00:00 UTC" in str(caught.value)
    assert caught.value.exit_code == 1


# --------------------------------------------------------------------------------------------- drill logs on S3
HUGE_LINES = 200_000


def _huge_log(drill_id: str, lines: int, garbage_every: int = 0) -> bytes:
    start = pd.Timestamp("2026-08-14T10:00:00Z").value // 10**9
    out = [orjson.dumps({"schema": "goreliable.drill/v1", "drill_id": drill_id, "scenario": "cluster-replacement",
                         "component": "*", "event": "disaster_declared", "ts": "2026-08-14T10:00:00Z"})]
    for i in range(lines):
        if garbage_every and i % garbage_every == 0:
            out.append(b'{"schema": "goreliable.drill/v1", "drill_id": "x", "event": "recov')
            continue
        stamp = pd.Timestamp(start + i, unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append(b'{"schema":"goreliable.drill/v1","drill_id":"%s","component":"postgresql","event":"note",'
                   b'"ts":"%s","note":"step %d of the runbook"}' % (drill_id.encode(), stamp.encode(), i))
    out.append(orjson.dumps({"schema": "goreliable.drill/v1", "drill_id": drill_id, "component": "postgresql",
                             "event": "recovered", "ts": "2026-08-14T10:07:00Z"}))
    return b"\n".join(out) + b"\n"


READER = textwrap.dedent("""
    import json, re, sys, time, warnings
    from goreliable_lib.sources.drills import DrillSource
    began = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        components = DrillSource(sys.argv[1]).components()
    print(json.dumps({"seconds": time.monotonic() - began, "rows": len(components),
                      "rto": components["rto_seconds"].tolist(), "warnings": components.attrs["warnings"],
                      # VmHWM: this program's peak (ru_maxrss would include the forking parent's pages)
                      "peak_rss_mb": int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read())[1]) / 1024}))
""")


def test_huge_and_corrupt_drill_logs_on_s3_stream_in_bounded_time_and_memory(moto_endpoint: str, s3: Any) -> None:
    """A 200,000-line log (35 MB) and a 100,000-line log half garbage, read from S3 in a fresh process: streamed in
    1 MB chunks, done in bounded time and memory, the valid events all kept, the garbage said in a capped list of
    warnings (50 per file and a count), never 50,000 warnings on a first screen."""
    bucket = "huge-drills"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="drills/2026/Q3/2026-08-14-huge.jsonl", Body=_huge_log("2026-08-14-huge",
                                                                                             HUGE_LINES))
    s3.put_object(Bucket=bucket, Key="drills/2026/Q3/2026-08-15-garbage.jsonl",
                  Body=_huge_log("2026-08-15-garbage", HUGE_LINES // 2, garbage_every=2))
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run([sys.executable, "-c", READER, f"s3://{bucket}/drills"], capture_output=True, text=True,
                          env=env, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    measured = json.loads(done.stdout)
    print(f"huge drill logs: {measured['seconds']:.1f} s, peak RSS {measured['peak_rss_mb']:.0f} MB")
    assert measured["seconds"] < 90 and measured["peak_rss_mb"] < 600
    assert measured["rows"] == 2 and measured["rto"] == [420.0, 420.0]
    garbage = [w for w in measured["warnings"] if "2026-08-15-garbage.jsonl" in w]
    assert len(garbage) == 51 and all(" line " in w for w in garbage[:50])
    assert garbage[-1].endswith("2026-08-15-garbage.jsonl: 49950 more invalid lines skipped (only the first 50 of "
                                "50000 are listed); fix the log"), garbage[-1]

# --------------------------------------------------------------------------------------------- parameters and output
@pytest.mark.parametrize("argv", [
    ["report", "run", "dr", "-p", "end=now-99999999d"],
    ["report", "run", "dr", "-p", "end=1e300"],
    ["report", "run", "cost", "-p", "window=999999999d"],
    ["report", "run", "dr", "-p", "quarters=100000000000000000000"],
    ["report", "run", "cost", "-p", "teams=[ok, ../../etc]"],
    ["report", "run", "cost", "-p", "aggregate=label:../x"],
    ["report", "run", "dr", "-p", "targets=[1, 2]"],
])
def test_out_of_range_and_path_parameters_exit_2_before_any_kernel(argv: list[str], tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "reports"
    assert cli.main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("goreliable: error: report ") and "valid: " in err and "Traceback" not in err
    name = argv[4].split("=")[0]
    assert f"parameter {name}" in err, err
    assert not out.exists() or not any(out.iterdir())


@contextlib.contextmanager
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder nobody may write: a read-only tmpfs as root (root ignores file modes), else mode 0555."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    if os.geteuid() == 0:
        with mounted_tmpfs(folder, "size=64k,ro"):
            yield folder
    else:
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)


def test_output_folder_not_writable_exits_2_before_any_kernel(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    with read_only_folder(tmp_path) as folder:
        with pytest.raises(OSError) as denied:
            (folder / "probe").write_text("x")
        assert denied.value.errno in (errno.EROFS, errno.EACCES)
        for target in (folder, folder / "reports"):
            assert cli.main(["report", "run", "dr", "--out", str(target)]) == 2
            err = capsys.readouterr().err
            assert err.startswith(f"goreliable: error: --out {target}") and "Traceback" not in err
            assert "not writable" in err or "cannot create the folder" in err
        assert list(folder.iterdir()) == []


def test_a_replayed_partial_response_is_said_again(prometheus: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The warning a partial response carried is recorded with the data: a run replaying that snapshot
    (`GORELIABLE_PROFILE=snapshot:...`, the postmortem case) says it again instead of presenting it as complete."""
    from goreliable_lib.sources.snapshot import SnapshotRecorder

    with FaultProxy(prometheus) as proxy:
        proxy.inject_warnings(["partial response: store B unreachable"], times=None)
        recorder = SnapshotRecorder(tmp_path / "snap", as_of=AS_OF)
        with pytest.warns(PrometheusWarning):
            PrometheusSource(proxy.url, recorder=recorder, clock=lambda: AS_OF).query(f"sum({GATEWAY})")
    _live_env(monkeypatch)
    run = Run("slo", {"end": "now"}, tmp_path / "run", scratch=False)
    src = run.connect(profile=f"snapshot:{tmp_path / 'snap'}")
    with pytest.warns(PrometheusWarning):
        frame = src.prometheus.query(f"sum({GATEWAY})")
    assert len(frame) == 1 and frame.attrs["warnings"] == ["partial response: store B unreachable"]
    assert [w for w in run.warnings if "store B unreachable" in w and GATEWAY in w]
