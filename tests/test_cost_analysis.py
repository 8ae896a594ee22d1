"""Cost analysis against the simulator's ground truth, fetched from the Kubecost and OpenCost servers.

One 30-day report fetch per flavour (module scope, ~10 s each) feeds most tests; the shareIdle tests fetch a
shorter window. Money is compared to the cent.
"""
# ruff: noqa: F811  (pytest fixtures imported from cost_fixtures)

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cost_fixtures import cost_sim, kubecost_url, opencost_url  # noqa: F401 - fixtures

from goreliable_lib.analysis import cost
from goreliable_lib.analysis import crosscheck as cost_checks
from goreliable_lib.devstack.sim.costs import WORKLOADS, CostSimulation
from goreliable_lib.devstack.stack.faults import FaultProxy
from goreliable_lib.errors import BadInputError, KubecostError
from goreliable_lib.inputs.budgets import Budgets, load_budgets, parse_budgets
from goreliable_lib.plots import cost as cost_plots
from goreliable_lib.reports import cost as cost_report
from goreliable_lib.sources.kubecost import KubecostSource

CENT = 0.005
NS = "go-reliable-production"
DAY = pd.Timedelta(days=1)
ROOT = Path(__file__).resolve().parents[1]


def _source(url: str, sim: CostSimulation, **kwargs: object) -> KubecostSource:
    return KubecostSource(url, clock=lambda: sim.as_of, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=["kubecost", "opencost"])
def fetched(request: pytest.FixtureRequest, cost_sim: CostSimulation) -> Iterator[cost_report.CostData]:
    """The report's two requests over the last 30 days, from each flavour."""
    url = request.getfixturevalue(f"{request.param}_url")
    source = _source(url, cost_sim)
    data = cost_report.fetch_allocations(source, (cost_sim.as_of - 30 * DAY, cost_sim.as_of))
    assert source.flavour == request.param
    yield data


@pytest.fixture(scope="module")
def report(fetched: cost_report.CostData) -> cost_report.CostReport:
    return cost_report.build_tables(fetched, load_budgets(ROOT / "params" / "budgets.yaml"))


def _assert_cents(actual: dict[str, float], expected: dict[str, float]) -> None:
    assert set(actual) == set(expected)
    for name, value in expected.items():
        assert actual[name] == pytest.approx(value, abs=CENT), name


def test_window_totals_per_team_and_namespace(report: cost_report.CostReport, cost_sim: CostSimulation) -> None:
    start, end = report.data.start, report.data.end
    teams = dict(zip(report.teams["cost_team"], report.teams["total_cost"], strict=True))
    _assert_cents(teams, cost_sim.truth_totals(start, end, "label:cost-team"))
    namespaces = dict(zip(report.namespaces["namespace"], report.namespaces["total_cost"], strict=True))
    _assert_cents(namespaces, cost_sim.truth_totals(start, end, "namespace"))
    summary = json.loads(json.dumps(report.summary(), default=str))
    assert summary["total_cost"] == pytest.approx(sum(cost_sim.truth_totals(start, end).values()), abs=CENT)
    assert summary["idle_cost"] == pytest.approx(teams[cost.IDLE], abs=1e-9) and summary["idle_cost"] > 100
    assert summary["unallocated_cost"] == pytest.approx(teams[cost.UNALLOCATED], abs=1e-9)
    assert summary["ml_cost"] == pytest.approx(teams["ml-platform"], abs=CENT)
    assert summary["application_cost"] == pytest.approx(
        teams["app-platform"] + teams["observability"] + teams["platform"], abs=CENT)
    # resources add up to the totals; the kubectl-cost table's columns add up to Total
    truth = cost_sim.truth_costs(start, end, "label:cost-team")
    resources = report.resources
    for resource, column in cost.RESOURCES.items():
        assert resources.loc[resource, "total"] == pytest.approx(truth[column].sum(), abs=CENT), resource
    table = report.namespace_table.set_index("namespace")
    parts = table[["CPU", "Memory", "GPU", "PV", "Network", "Shared", "LB", "External"]].sum(axis=1)
    np.testing.assert_allclose(parts, table["Total"], atol=CENT)  # OpenCost rounds each figure to 5 decimals


def test_daily_costs_per_team_and_namespace(report: cost_report.CostReport, cost_sim: CostSimulation) -> None:
    data = report.data
    first = data.daily["start"].min()
    for aggregate, key in (("label:cost-team", "cost_team"), ("namespace", "namespace")):
        ours = cost.daily(data.daily, key).set_index(["day", key])["total_cost"]
        truth = cost_sim.truth_daily(first, data.end, aggregate).set_index(["day", "name"])["total_cost"]
        assert len(ours) == len(truth) and ours.index.get_level_values(0).nunique() >= 58
        diff = (ours - truth.rename_axis(["day", key])).abs()
        assert diff.max() < CENT, diff.idxmax()


@pytest.mark.parametrize("flavour", ["kubecost", "opencost"])
def test_share_idle_totals_and_days(flavour: str, cost_sim: CostSimulation, request: pytest.FixtureRequest) -> None:
    source = _source(request.getfixturevalue(f"{flavour}_url"), cost_sim)
    start, end = cost_sim.as_of.floor("D") - 6 * DAY, cost_sim.as_of
    frame = source.allocation((start, end), "label:cost-team", step="1d", share_idle=True)
    totals = cost.totals(frame, "cost_team")
    truth = cost_sim.truth_totals(start, end, "label:cost-team", share_idle=True)
    got = dict(zip(totals["cost_team"], totals["total_cost"], strict=True))
    assert got.pop(cost.IDLE) == 0.0  # idle is shared: its row stays, at zero
    _assert_cents(got, truth)
    daily = cost.daily(frame, "cost_team").set_index(["day", "cost_team"])["total_cost"]
    truth_daily = cost_sim.truth_daily(start, end, "label:cost-team", share_idle=True).set_index(["day", "name"])
    assert (daily - truth_daily["total_cost"].rename_axis(["day", "cost_team"])).abs().max() < CENT


def test_unlabelled_workloads_land_in_unallocated_and_hygiene(report: cost_report.CostReport,
                                                               cost_sim: CostSimulation) -> None:
    hygiene = report.hygiene
    expected = {(w.namespace, f"{w.kind}:{w.name}" if w.kind else "(no controller)") for w in WORKLOADS
                if w.team is None}
    assert set(zip(hygiene["namespace"], hygiene["controller"], strict=True)) == expected
    unallocated = cost_sim.truth_totals(report.data.start, report.data.end, "label:cost-team")[cost.UNALLOCATED]
    assert hygiene["total_cost"].sum() == pytest.approx(unallocated, abs=CENT)
    assert report.cost_of(cost.UNALLOCATED) == pytest.approx(unallocated, abs=CENT)
    share = hygiene.groupby("namespace")["namespace_unlabelled_share"].first()
    assert share["kube-system"] == 1.0 and share["default"] == 1.0 and 0.0 < share["kubeflow"] < 0.2
    assert hygiene["share_of_unallocated"].sum() == pytest.approx(1.0)


def test_projection_of_the_month_is_hand_computed(report: cost_report.CostReport, cost_sim: CostSimulation) -> None:
    end = cost_sim.as_of  # 2026-11-23T06:00Z
    truth = cost_sim.truth_daily(pd.Timestamp("2026-11-01", tz="UTC"), end, "namespace")
    own = truth[truth["name"] == NS]
    month_to_date = own["total_cost"].sum()
    rate_days = own[(own["day"] >= pd.Timestamp("2026-11-16", tz="UTC")) & (own["day"] < pd.Timestamp("2026-11-23",
                                                                                                         tz="UTC"))]
    assert len(rate_days) == 7
    hourly = rate_days["total_cost"].sum() / 168
    hours_left = (pd.Timestamp("2026-12-01", tz="UTC") - end) / pd.Timedelta(hours=1)
    projected = month_to_date + hourly * hours_left
    row = report.namespace_projection.set_index("namespace").loc[NS]
    assert hours_left == 186 and row["hours_left"] == 186
    assert row["month_to_date"] == pytest.approx(month_to_date, abs=CENT)
    assert row["projected_monthly"] == pytest.approx(projected, abs=CENT)
    assert row["monthly_rate"] == pytest.approx(hourly * 730, abs=CENT)
    budget = report.budgets.set_index("scope").loc[f"namespace:{NS}"]
    assert budget["limit"] == 500 and bool(budget["over"]) is bool(projected > 500) and budget["status"] == "over"
    crossing = (end + (500 - month_to_date) / hourly * pd.Timedelta(hours=1)).floor("D")
    assert budget["crossing_day"] == crossing
    summary = {b["scope"]: b for b in report.summary()["budgets"]}
    assert summary[f"namespace:{NS}"]["projected"] == pytest.approx(projected, abs=CENT)
    # a whole past month projects to exactly what it cost
    daily_ns = cost.daily(report.data.daily, "namespace")
    october = cost.projection(daily_ns, "namespace", pd.Timestamp("2026-11-01", tz="UTC")).set_index("namespace")
    assert october.loc[NS, "month"] == "2026-10" and october.loc[NS, "hours_left"] == 0
    assert october.loc[NS, "projected_monthly"] == pytest.approx(cost_sim.monthly_budget_namespace_cost("2026-10"),
                                                                 abs=CENT)


def test_crash_loop_is_the_only_anomaly(report: cost_report.CostReport, cost_sim: CostSimulation) -> None:
    spike = pd.date_range(*cost_sim.crash_loop_window, freq="D", inclusive="left")
    found = {(r.kind, r.name, r.day) for r in report.anomalies.itertuples(index=False)}
    assert found == {(kind, name, day) for kind, name in (("namespace", NS), ("team", "app-platform"))
                     for day in spike}
    # every evaluated day of the history (weekends, training days, quiet weeks) except the spike is quiet
    for kind, frame in report.evaluations.items():
        judged = frame[frame["expected"].notna()]
        assert judged["day"].nunique() >= 25, kind
        assert set(judged.loc[judged["anomaly"], "day"]) == set(spike), kind
    row = report.anomalies.iloc[0]
    assert row["cost"] > 2 * row["expected"]
    series = report.anomaly_series("namespace", NS)
    assert cost_plots.anomaly_chart(series, NS).data[-1].x is not None


def test_baseline_ignores_weekly_pattern_and_finds_a_spike() -> None:
    days = pd.date_range("2026-06-01", periods=70, freq="D", tz="UTC")
    weekly = np.where(days.day_of_week >= 5, 40.0, 100.0) + np.where(days.day_of_week == 0, 30.0, 0.0)
    frame = pd.DataFrame({"day": days, "hours": 24.0, "team": "a", "total_cost": weekly})
    assert not cost.baseline(frame, "team")["anomaly"].any()
    spiked = frame.assign(total_cost=np.where(days == days[60], weekly + 30.0, weekly))
    flagged = cost.baseline(spiked, "team").query("anomaly")
    assert list(flagged["day"]) == [days[60]] and flagged.iloc[0]["expected"] == 100.0
    small = frame.assign(total_cost=np.where(days == days[60], weekly + 4.0, weekly))  # below the $5 floor
    assert not cost.baseline(small, "team")["anomaly"].any()


def test_movers_efficiency_and_ml_split(report: cost_report.CostReport) -> None:
    assert set(report.movers["kind"]) == {"namespace", "team"} and len(report.movers) == 10
    top = report.movers[report.movers["kind"] == "team"]
    assert (top["change"].abs().diff().dropna() <= 1e-12).all()
    eff = report.efficiency.set_index("cost_team")
    assert cost.IDLE not in eff.index and (eff["unused_request_cost"] > 0).all()
    assert ((eff["cpu_efficiency"] > 0) & (eff["cpu_efficiency"] < 1)).all()
    # unused CPU cost = (requested - used) core-hours at the CPU price, for a fully-requested team
    split = report.ml_split.set_index("category")
    assert list(split.index) == ["ML infrastructure", "application runtime", "unallocated (no team label)", "idle"]
    assert split["share"].sum() == pytest.approx(1.0)
    assert split.loc["ML infrastructure", "gpu_cost"] > 0 and split.loc["application runtime", "gpu_cost"] == 0


def test_team_filter_keeps_idle_and_unallocated(fetched: cost_report.CostData) -> None:
    filtered = cost_report.build_tables(fetched, Budgets(), teams=["observability", "nobody"])
    assert set(filtered.teams["cost_team"]) == {"observability", cost.IDLE, cost.UNALLOCATED}
    assert {"observability", "kube-system"} <= set(filtered.namespaces["namespace"])
    assert NS not in set(filtered.namespaces["namespace"]) and "ml-serving" not in set(filtered.namespaces["namespace"])
    # ml-platform's gateways run in the application's namespace (labelled ml-platform, as the seed says)
    ml = cost_report.build_tables(fetched, Budgets(), teams=["ml-platform"])
    assert {"ml-serving", "kubeflow", NS} <= set(ml.namespaces["namespace"])
    assert any("nobody" in w for w in filtered.warnings)


def test_figures_build(report: cost_report.CostReport) -> None:
    bars = cost_plots.budget_bullets(report.budgets)
    assert [list(t.y) for t in bars.data] == [list(report.budgets["scope"])] * 2  # projected, month so far
    assert list(bars.data[0].x) == list(report.budgets["projected"] / report.budgets["limit"])
    assert len(cost_plots.stacked_daily(report.daily_teams, "cost_team").data) == 6
    assert len(cost_plots.resource_breakdown(report.teams, "cost_team").data) == len(cost.RESOURCES)


# ---- budgets ----------------------------------------------------------------------------------------------

def test_budgets_file_of_the_repo() -> None:
    budgets = load_budgets(ROOT / "params" / "budgets.yaml")
    assert budgets.namespaces == {NS: 500}
    assert set(budgets.teams) == {"app-platform", "ml-platform", "observability", "platform"}


@pytest.mark.parametrize(("text", "field"), [
    ("teams:\n  ml-platform: lots\n", "teams.ml-platform"),
    ("namespaces:\n  go-reliable-production: -5\n", "namespaces.go-reliable-production"),
    ("teams: [a, b]\n", "teams"),
    ("team:\n  a: 1\n", "team"),
    ("at_risk_ratio: 3\n", "at_risk_ratio"),
    ("teams:\n  ml-platform: 5\n   bad: [\n", "line"),
])
def test_malformed_budgets_name_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text(text)
    with pytest.raises(BadInputError) as caught:
        load_budgets(path)
    assert str(path) in str(caught.value) and field in str(caught.value)
    assert caught.value.exit_code == 2
    with pytest.raises(BadInputError, match="no such|not found"):
        load_budgets(tmp_path / "missing.yaml")
    with pytest.raises(BadInputError, match="expected a mapping"):
        parse_budgets([1], source="x")


def test_malformed_budgets_exit_2_before_any_kernel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from goreliable_lib.cli import main

    path = tmp_path / "budgets.yaml"
    path.write_text("namespaces:\n  go-reliable-production: 500\nteams:\n  ml-platform: '12k'\n")
    out = tmp_path / "reports"
    assert main(["report", "run", "cost", "-p", f"budgets={path}", "--out", str(out)]) == 2
    message = capsys.readouterr().err
    assert "teams.ml-platform" in message and str(path) in message and "budgets" in message
    assert not out.exists() or not any(out.rglob("summary.json"))  # nothing executed or published


# ---- cross-check (pure) and the source's timeout ----------------------------------------------------------

def test_cross_check_compares_and_flags(cost_sim: CostSimulation) -> None:
    day_start, day_end = cost_checks.check_day(cost_sim.as_of)
    truth = cost_sim.truth_costs(day_start, day_end, "namespace").rename_axis("namespace").reset_index()
    cpu = truth[truth["namespace"] != cost.IDLE][["namespace", "cpu_cost"]].rename(columns={"cpu_cost": "value"})
    cpu.loc[cpu["namespace"] == NS, "value"] += 0.5  # Prometheus sees more for one namespace
    cpu = cpu[cpu["namespace"] != "default"]  # and misses another
    node = pd.DataFrame({"value": [truth[["cpu_cost", "ram_cost", "gpu_cost"]].sum().sum()]})
    table = cost_checks.cross_check(truth, {"cpu": cpu, "node": node}).set_index(["check", "scope"])
    assert table.loc[("cpu", NS), "status"] == "differs"
    assert table.loc[("cpu", NS), "difference"] == pytest.approx(0.5)
    assert table.loc[("cpu", "default"), "status"] == "missing in Prometheus"
    assert table.loc[("cpu", "argocd"), "status"] == "match"
    assert table.loc[("node", "(cluster)"), "status"] == "match"


def test_cross_check_queries_escape_parameter_values() -> None:
    queries = cost_checks.prometheus_queries(['odd"} or vector(1) #', "ml-serving"])
    # the quote is escaped for the string, the regex metacharacters for RE2: one literal value, no injection
    assert 'container_cpu_allocation{namespace=~"odd\\"\\\\} or vector\\\\(1\\\\) #|ml-serving"}[' in queries["cpu"]
    assert "namespace" not in cost_checks.prometheus_queries()["cpu"].split("by (namespace)")[1]
    assert cost_checks.query_time(pd.Timestamp("2026-11-23", tz="UTC")) == pd.Timestamp("2026-11-22T23:59:59Z")


def test_cross_check_without_prometheus_warns(report: cost_report.CostReport) -> None:
    from goreliable_lib.sources.connect import MissingSource

    check = cost_report.fetch_cross_check(MissingSource("Prometheus", "GORELIABLE_PROMETHEUS_URL"), report.data)
    warnings = check.notes
    assert cost_report.cross_check_table(report.data, check) is None
    assert "GORELIABLE_PROMETHEUS_URL" in warnings[0] and "skipped" in warnings[0]


def test_kubecost_timeout_is_a_clear_source_error(kubecost_url: str, cost_sim: CostSimulation) -> None:
    with FaultProxy(kubecost_url.removesuffix("/model")) as proxy:
        proxy.delay(3.0, times=None)
        source = _source(proxy.url + "/model", cost_sim, timeout=0.5, retries=1)
        with pytest.raises(KubecostError, match="timed out") as caught:
            cost_report.fetch_allocations(source, (cost_sim.as_of - DAY, cost_sim.as_of))
    assert caught.value.exit_code == 1 and "/model/allocation" in str(caught.value)
