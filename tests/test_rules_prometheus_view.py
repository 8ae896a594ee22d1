"""The Prometheus view of the default rules beside the exact backtest, on the local stack's real Prometheus filled
by the simulator (its api-gateway outage on 2026-11-11 12:00-18:00, order-service's scrape gap on 2026-11-08
03:10-03:39, notification-worker's restarts).

Each SLO of params/slos.yaml is fetched exactly once over the span and its three days of lookback; the alert
expressions `goreliable rules` exports are evaluated by Prometheus at a one-minute step over the same minutes."""

from __future__ import annotations

import pandas as pd
import pytest
from sim_metrics_fixtures import metrics_stack_fixture  # noqa: F401  (fixture)
from slo_fixtures import CATALOG

from goreliable_lib.analysis.backtest import DEFAULT_RULE_SET, declared_rule_set
from goreliable_lib.events import engine
from goreliable_lib.events.prometheus_view import disagreements, exact_firing, prometheus_firing
from goreliable_lib.inputs.catalog import read_catalog
from goreliable_lib.sources.prometheus import PrometheusSource

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]

AS_OF = pd.Timestamp("2026-11-23T06:00:00Z")
# the crash loop (16 resets), the LLM regression, the scrape gap, the outage and the notification backlog
START, END = pd.Timestamp("2026-11-04T00:00:00Z"), pd.Timestamp("2026-11-13T00:00:00Z")
OBJECTIVES = {o.name: o for o in read_catalog(CATALOG).objectives}


@pytest.fixture(scope="module")
def source(metrics_stack):
    assert metrics_stack.simulation.as_of == AS_OF
    with PrometheusSource(metrics_stack.url, clock=lambda: AS_OF) as prometheus:
        yield prometheus


@pytest.fixture(scope="module")
def views(source) -> dict[str, tuple]:
    found = {}
    for name, objective in OBJECTIVES.items():
        data = engine.fetch_slo_events(source, objective, START - DEFAULT_RULE_SET.lookback, END)
        exact = exact_firing(data.events, objective.objective, DEFAULT_RULE_SET, START, END)
        seen = prometheus_firing(source, objective, DEFAULT_RULE_SET, START, END)
        found[name] = (data, exact, seen)
    return found


@pytest.mark.parametrize("name", OBJECTIVES)
def test_the_prometheus_view_agrees_with_the_exact_backtest_but_at_the_minutes_it_names(views, name: str) -> None:
    data, exact, seen = views[name]
    minutes = 9 * 24 * 60
    assert all(len(mask) == minutes for mask in (*exact.values(), *seen.values()))
    differ = disagreements(exact, seen, DEFAULT_RULE_SET, resets=data.resets["timestamp"], gaps=data.gaps)
    unexplained = differ[differ["reason"].isna()]
    assert unexplained.empty, unexplained.head(20).to_string()
    for severity in exact:  # the named minutes are few: the views agree on at least 99% of the minutes
        assert (differ["severity"] == severity).sum() <= minutes // 100


def test_both_views_page_for_the_outage(views, metrics_stack) -> None:
    outage = metrics_stack.simulation.metrics.scripted_events().set_index("name").loc["api-gateway-5xx-outage"]
    _, exact, seen = views["api-gateway-availability"]
    for view in (exact, seen):  # ~250x burn for 40 minutes: the 1h/5m page fires within 5 minutes, to its end
        page = view["page"]
        firing = page.index[page.to_numpy()]
        assert outage["start"] < firing[0] <= outage["start"] + pd.Timedelta(minutes=5)
        assert page[(page.index > firing[0]) & (page.index <= outage["end"])].all()
    assert exact["page"].equals(seen["page"])


@pytest.mark.parametrize("name", ["llm-latency", "notification-delivery"])
def test_the_other_incidents_page_alike_in_both_views(views, name: str) -> None:
    _, exact, seen = views[name]  # the LLM regression (11-04) and the notification backlog (11-12) both page
    assert exact["page"].any() and exact["page"].equals(seen["page"])


PYRRA = {o.name: o for o in read_catalog("params/slos.pyrra.yaml").objectives}


@pytest.mark.parametrize("name", ["api-gateway-availability", "llm-latency"])
def test_pyrras_declared_rules_with_for_agree_too(source, name: str) -> None:
    """Pyrra's own alerting for a 30d window (windows of 64m..6171m, `for` 2m..193m) on the two SLOs that page in
    the span: `for` is applied to Prometheus' condition minutes as the backtest applies it."""
    objective = PYRRA[name]
    rule_set = declared_rule_set(objective.slo.alerting)
    assert {r.for_minutes for r in rule_set.rules} == {2, 16, 64, 193}
    data = engine.fetch_slo_events(source, objective, START - rule_set.lookback, END)
    exact = exact_firing(data.events, objective.objective, rule_set, START, END)
    seen = prometheus_firing(source, objective, rule_set, START, END)
    assert exact["critical"].any()
    differ = disagreements(exact, seen, rule_set, resets=data.resets["timestamp"], gaps=data.gaps)
    assert differ[differ["reason"].isna()].empty, differ.head(20).to_string()
    assert len(differ) <= 9 * 24 * 60 // 100
