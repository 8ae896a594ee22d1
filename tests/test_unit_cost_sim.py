"""The simulator's side of unit costs: the ML gateways under ml-platform, usage following each service's requests,
vLLM's token counters (colon names) and the 30 s OpenMetrics writer, which keeps every minute's events."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from goreliable_lib.devstack.sim import Simulation
from goreliable_lib.devstack.sim.metrics import VLLM_INSTANCE, VLLM_TOKENS_PER_REQUEST
from goreliable_lib.devstack.sim.unit_costs import SERVICES, truth

pytestmark = [pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return Simulation()


def test_the_ml_gateways_are_ml_platform_as_the_seed_labels_them(sim: Simulation) -> None:
    containers = sim.costs.containers
    for app in ("ml-inference-gateway", "llm-gateway"):
        own = containers[containers["controller"] == app]
        assert len(own) == 2 and set(own["team"]) == {"ml-platform"}
        assert set(own["namespace"]) == {"go-reliable-production"}


def test_usage_follows_the_services_requests(sim: Simulation) -> None:
    """The hourly CPU of the LLM gateway's pods moves with the llm-gateway's requests of the same hours."""
    costs, metrics = sim.costs, sim.metrics
    events = metrics.slo_minutes("llm-latency").set_index("timestamp")["total"]
    hours = costs.hours[(costs.hours >= events.index[0]) & (costs.hours < events.index[-1] - pd.Timedelta(hours=1))]
    requests = np.array([events[(events.index > h) & (events.index <= h + pd.Timedelta(hours=1))].sum()
                         for h in hours[:24 * 14]])
    rows = np.nonzero((costs.containers["controller"] == "llm-gateway").to_numpy())[0]
    columns = costs.hours.get_indexer(hours[:24 * 14])
    cpu = costs.matrices["cpu_core_usage_hours"][rows][:, columns].sum(axis=0)
    assert np.corrcoef(requests, cpu)[0, 1] > 0.9


def test_vllm_token_counters_follow_the_llm_requests_with_colon_names(sim: Simulation, tmp_path: Path) -> None:
    metrics = sim.metrics
    series = metrics.series()
    vllm = series[series["name"].isin(list(VLLM_TOKENS_PER_REQUEST))]
    assert len(vllm) == 2 and set(vllm["instance"]) == {VLLM_INSTANCE}
    assert set(vllm["model_name"]) == {"mistral-7b-instruct"} and set(vllm["engine"]) == {"0"}
    tokens = metrics.token_minutes()
    requests = metrics.slo_minutes("llm-latency")["total"].to_numpy()
    for name, per_request in VLLM_TOKENS_PER_REQUEST.items():
        assert tokens[name].sum() / requests.sum() == pytest.approx(per_request, rel=0.01)
    path = tmp_path / "m.om"
    end = metrics.as_of
    metrics.write_openmetrics(path, start=end - pd.Timedelta(minutes=5), end=end)
    text = path.read_text()
    assert "# TYPE vllm:prompt_tokens counter\n" in text
    assert re.search(r'^vllm:generation_tokens_total\{job="vllm",instance="10\.0\.4\.30:8000",'
                     r'model_name="mistral-7b-instruct",engine="0"\} \d+ \d+$', text, re.MULTILINE)


def _samples(text: str, series: str) -> list[tuple[int, float]]:
    found = []
    for line in text.splitlines():
        if line.startswith(series + " "):
            _, value, stamp = line.rsplit(" ", 2)
            found.append((int(stamp), float(value)))
    return found


def test_the_30_second_writer_keeps_every_minutes_events(sim: Simulation, tmp_path: Path) -> None:
    """Around the api-gateway's second restart and over the scrape gap: each minute's increase (resets handled)
    over the 30 s samples equals the 60 s file's, and a half-minute sample sits only where a minute ago had one (none
    at the gap's end)."""
    metrics = sim.metrics
    events = metrics.scripted_events().set_index("name")
    for around in (events.loc["api-gateway-restart-2", "start"], events.loc["scrape-gap", "end"]):
        start, end = around.floor("min") - pd.Timedelta(minutes=5), around.floor("min") + pd.Timedelta(minutes=5)
        metrics.write_openmetrics(tmp_path / "60.om", start=start, end=end)
        metrics.write_openmetrics(tmp_path / "30.om", start=start, end=end, scrape_seconds=30)
        sixty, thirty = (tmp_path / "60.om").read_text(), (tmp_path / "30.om").read_text()
        assert thirty.endswith("# EOF\n") and "\n\n" not in thirty
        for name in ('http_requests_total{job="api-gateway",instance="10.0.1.12:8080",service="api-gateway",'
                     'route="/v1/products",code="200"}',
                     'vllm:prompt_tokens_total{job="vllm",instance="10.0.4.30:8000",'
                     'model_name="mistral-7b-instruct",engine="0"}'):
            minute = _samples(sixty, name)
            half = _samples(thirty, name)
            assert [s for s in half if s[0] % 60 == 0] == minute
            stamps = [s for s, _ in minute]
            # (before the file's first sample too, when the history before the file has one a minute earlier)
            held = set(metrics.timestamps.as_unit("s").asi8)
            assert [s for s, _ in half if s % 60] == [s - 30 for s in stamps if s - 60 in held]

            def increase(samples: list[tuple[int, float]]) -> dict[int, float]:
                out: dict[int, float] = {}
                for (_, before), (stamp, value) in zip(samples, samples[1:], strict=False):
                    minute_end = -(-stamp // 60) * 60
                    out[minute_end] = out.get(minute_end, 0.0) + (value - before if value >= before else value)
                return out

            # the minutes after the file's first sample (before it, only the 30 s file holds a sample)
            assert {k: v for k, v in increase(half).items() if k > stamps[0]} == increase(minute)


def test_unit_cost_truth_is_consistent(sim: Simulation) -> None:
    end = sim.as_of
    start = end - pd.Timedelta(days=7)
    found = truth(sim, start, end)
    by_name = {s["service"]: s for s in found["unit_costs"]}
    assert list(by_name) == list(SERVICES)
    api = by_name["api-gateway"]
    good, total = sim.metrics.slo_events("api-gateway-availability", start, end)
    assert (api["good_requests"], api["requests"]) == (good, total)
    assert api["cost"] == pytest.approx(sim.costs.truth_totals(start, end, "namespace,label:app", share_idle=True)[
        "go-reliable-production/api-gateway"], abs=1e-9)
    assert api["cost_per_million_good_requests"] == pytest.approx(api["cost"] / good * 1e6)
    assert len(api["daily"]) == 8  # 06:00 to midnight, 6 whole days, midnight to 06:00
    llm = found["ml_unit_costs"]
    assert 0 < llm["gpu_share"] < 1 and llm["prompt_tokens"] > llm["generated_tokens"] > 0
    assert {t["team"] for t in found["teams"]} == {"app-platform", "ml-platform"}
