"""Grouped SLOs: Pyrra `grouping` and Sloth `sum by (...)` read as one SLO per group (inputs), and the groups found
from the server's series (events.groups), with Pyrra's own published examples (tests/data/published/pyrra) and
Sloth's getting-started example written grouped (Sloth publishes no grouped example)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from goreliable_lib.errors import BadInputError
from goreliable_lib.events.groups import expand_groups, find_groups, group_values
from goreliable_lib.events.questions import INDEX_WINDOW
from goreliable_lib.inputs.catalog import read_catalog
from goreliable_lib.inputs.promql import parse_grouped_difference, split_grouping

PUBLISHED = Path(__file__).parent / "data" / "published"
PYRRA = PUBLISHED / "pyrra"
SLOTH_TEXT = (PUBLISHED / "sloth" / "getting-started.yml").read_text()
SLOTH_ERRORS = 'sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))'
SLOTH_TOTAL = 'sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))'


# --------------------------------------------------------------------------------------------- Pyrra's examples
@pytest.mark.parametrize(("file", "name", "grouping", "total", "bad"), [
    ("prometheus-http.yaml", "prometheus-api-query", ("handler",),
     'prometheus_http_requests_total{handler=~"/api.*"}',
     'prometheus_http_requests_total{handler=~"/api.*",code=~"5.."}'),
    ("pyrra-connect-errors.yaml", "pyrra-connect-errors", ("service", "method"),
     'connect_server_requests_total{job="pyrra"}',
     'connect_server_requests_total{job="pyrra",code=~"aborted|unavailable|internal|unknown|unimplemented|dataloss"}'),
    ("slo-prometheus-operator-reconcile-errors.yaml", "prometheus-operator-reconcile-errors", ("controller",),
     'prometheus_operator_reconcile_operations_total{job="prometheus-operator"}',
     'prometheus_operator_reconcile_errors_total{job="prometheus-operator"}'),
    ("slo-prometheus-query-errors.yaml", "prometheus-query-errors", ("handler",),
     'prometheus_http_requests_total{job="prometheus-k8s",handler=~"/api/v1/query.*"}',
     'prometheus_http_requests_total{job="prometheus-k8s",handler=~"/api/v1/query.*",code=~"5.."}'),
])
def test_pyrra_published_examples_with_grouping_are_read_grouped(file: str, name: str, grouping: tuple[str, ...],
                                                                  total: str, bad: str) -> None:
    catalog = read_catalog(PYRRA / file)
    (objective,) = catalog.objectives
    assert (objective.name, objective.grouping, objective.grouped_by) == (name, grouping, name)
    assert objective.group == () and objective.group_labels == {}  # not yet split: the server says which groups
    assert objective.total_selector.to_promql() == total and objective.bad_selector.to_promql() == bad
    assert objective.source_format == "Pyrra pyrra.dev/v1alpha1"


@pytest.mark.parametrize(("file", "message"), [
    ("prometheus-probe-success.yaml", r"spec\.indicator\.bool_gauge: a gauge's samples are not events"),
    ("pyrra-connect-latency.yaml", r"spec\.indicator\.latencyNative: native histograms are not read"),
])
def test_pyrra_published_examples_of_unread_indicators_stay_refused(file: str, message: str) -> None:
    with pytest.raises(BadInputError, match=message) as info:
        read_catalog(PYRRA / file)
    assert info.value.exit_code == 2


def test_pyrra_latency_grouping_is_read(tmp_path: Path) -> None:
    path = tmp_path / "latency.yaml"
    path.write_text("""apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata: {name: api-latency, labels: {service: api}}
spec:
  target: "99"
  window: 28d
  indicator:
    latency:
      success: {metric: 'http_request_duration_seconds_bucket{job="api",le="0.3"}'}
      total: {metric: 'http_request_duration_seconds_count{job="api"}'}
      grouping: [route]
""")
    (objective,) = read_catalog(path).objectives
    assert objective.grouping == ("route",) and objective.good_selector is not None


def test_one_group_is_an_slo_with_the_groups_matchers_its_own_name_and_archive_key() -> None:
    (objective,) = read_catalog(PYRRA / "pyrra-connect-errors.yaml").objectives
    cart = objective.in_group(("shop.v1.Cart", "Get"))
    assert cart.name == 'pyrra-connect-errors{service="shop.v1.Cart", method="Get"}'
    assert cart.group_labels == {"service": "shop.v1.Cart", "method": "Get"}
    assert cart.grouped_by == "pyrra-connect-errors" and cart.slo_name == "pyrra-connect-errors"
    assert cart.total_selector.to_promql() == \
        'connect_server_requests_total{job="pyrra",service="shop.v1.Cart",method="Get"}'
    assert cart.bad_selector.to_promql().endswith(',service="shop.v1.Cart",method="Get"}')
    # the archive key hashes what decides the events: every group its own, none the grouped SLO's
    from goreliable_lib.events.archive import archive_key
    other = objective.in_group(("shop.v1.Cart", "Put"))
    assert len({archive_key(objective), archive_key(cart), archive_key(other)}) == 3
    assert cart.events_key != other.events_key


def test_a_group_value_is_escaped_as_a_promql_string() -> None:
    (objective,) = read_catalog(PYRRA / "prometheus-http.yaml").objectives
    odd = objective.in_group(('/x"} or vector(1) #\\',))
    assert odd.name == 'prometheus-api-query{handler="/x\\"} or vector(1) #\\\\"}'
    assert odd.total_selector.matchers[-1].value == '/x"} or vector(1) #\\'  # one literal value, not PromQL


# --------------------------------------------------------------------------------------------- Sloth
def _sloth(tmp_path: Path, error_query: str, total_query: str) -> Path:
    text = SLOTH_TEXT.replace(SLOTH_ERRORS, error_query).replace(SLOTH_TOTAL, total_query)
    assert text != SLOTH_TEXT or (error_query, total_query) == (SLOTH_ERRORS, SLOTH_TOTAL)
    path = tmp_path / "sloth.yml"
    path.write_text(text)
    return path


def test_sloth_published_example_is_not_grouped(tmp_path: Path) -> None:
    (objective,) = read_catalog(_sloth(tmp_path, SLOTH_ERRORS, SLOTH_TOTAL)).objectives
    assert objective.grouping == () and objective.group_labels is None and objective.grouped_by is None


@pytest.mark.parametrize(("error_query", "total_query", "grouping"), [
    ('sum by (route) (rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))',
     'sum by (route) (rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))', ("route",)),
    ('sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}])) by (job, route)',
     'sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}])) by (job, route)', ("job", "route")),
    ('sum by(route, job)(increase(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}'
     '[{{.window}}]))', 'sum(increase(http_request_duration_seconds_count{job="myservice"}[{{.window}}])) by '
     '(job,route)', ("job", "route")),  # the labels in total_query's order
])
def test_sloth_sum_by_is_a_grouped_slo(tmp_path: Path, error_query: str, total_query: str,
                                       grouping: tuple[str, ...]) -> None:
    (objective,) = read_catalog(_sloth(tmp_path, error_query, total_query)).objectives
    assert objective.name == "myservice-requests-availability" and objective.grouping == grouping
    assert objective.total_selector.to_promql() == 'http_request_duration_seconds_count{job="myservice"}'
    assert objective.bad_selector.to_promql() == \
        'http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}'


def test_sloth_latency_idiom_grouped(tmp_path: Path) -> None:
    total = 'sum by (route) (rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))'
    fast = 'sum by (route) (rate(http_request_duration_seconds_bucket{job="myservice",le="0.3"}[{{.window}}]))'
    (objective,) = read_catalog(_sloth(tmp_path, f"({total}) - ({fast})", total)).objectives
    assert objective.grouping == ("route",)
    assert objective.good_selector.to_promql() == 'http_request_duration_seconds_bucket{job="myservice",le="0.3"}'


@pytest.mark.parametrize(("error_query", "total_query", "message"), [
    ('sum by (route) (rate(x_total{code="5xx"}[{{.window}}]))', "sum(rate(x_total[{{.window}}]))",
     r"document 1 \(myservice\), SLO myservice-requests-availability: slos\[0\]\.sli\.events: .*error_query and "
     r"total_query must be grouped by the same "
     r"labels .*total_query is grouped not at all, error_query by \(route\)"),
    ('sum by (route) (rate(x_total{code="5xx"}[{{.window}}]))', "sum by (job) (rate(x_total[{{.window}}]))",
     r"total_query is grouped by \(job\), error_query by \(route\)"),
    ("sum(rate(x_total[{{.window}}])) - sum by (route) (rate(y_total[{{.window}}]))",
     "sum by (route) (rate(x_total[{{.window}}]))", r"error_query: must count the bad events of one counter, .* or "
     r"as total minus good"),  # sides grouped differently: not the latency idiom
    ('sum without (route) (rate(x_total{code="5xx"}[{{.window}}]))', "sum(rate(x_total[{{.window}}]))",
     r"error_query: must count the bad events of one counter"),
    ('sum by (route) (rate(x_total{code="5xx"}[{{.window}}])) / 2', "sum by (route) (rate(x_total[{{.window}}]))",
     r"error_query: must count the bad events of one counter"),  # the real problem first, not the grouping
    ('sum(rate(x_total{code="5xx"}[{{.window}}])) by (2route)', "sum(rate(x_total[{{.window}}])) by (2route)",
     r"total_query: must count the total events"),
])
def test_sloth_grouping_refusals_name_the_problem(tmp_path: Path, error_query: str, total_query: str,
                                                  message: str) -> None:
    with pytest.raises(BadInputError, match=message) as info:
        read_catalog(_sloth(tmp_path, error_query, total_query))
    assert info.value.exit_code == 2


def test_openslo_by_clause_stays_refused(tmp_path: Path) -> None:
    path = tmp_path / "openslo.yaml"
    path.write_text("""apiVersion: openslo/v1
kind: SLO
metadata: {name: shop}
spec:
  service: shop
  budgetingMethod: Occurrences
  objectives: [{target: 0.99}]
  indicator:
    metadata: {name: shop}
    spec:
      ratioMetric:
        good: {metricSource: {type: Prometheus, spec: {query: 'sum by (route) (rate(ok_total[5m]))'}}}
        total: {metricSource: {type: Prometheus, spec: {query: 'sum by (route) (rate(all_total[5m]))'}}}
""")
    with pytest.raises(BadInputError, match=r"must be a counter selector"):
        read_catalog(path)


@pytest.mark.parametrize(("text", "expected"), [
    ("sum by (job) (rate(x[5m]))", ("sum(rate(x[5m]))", ("job",))),
    ("sum(rate(x[5m])) by (job, route)", ("sum(rate(x[5m]))", ("job", "route"))),
    ("( sum by(job)(x) )", ("sum(x)", ("job",))),
    ("sum(x) by ()", ("sum(x)", ())),  # by () is sum()
    ("sum(rate(x[5m])) by (job) / sum(y) by (job)", ("sum(rate(x[5m])) by (job) / sum(y) by (job)", ())),
    ("sum without (job) (x)", ("sum without (job) (x)", ())),
    ('sum(x{a=") by (b)"})', ('sum(x{a=") by (b)"})', ())),  # inside a string is not a clause
])
def test_split_grouping(text: str, expected: tuple[str, tuple[str, ...]]) -> None:
    assert split_grouping(text) == expected


def test_grouped_difference_needs_both_sides_grouped_alike() -> None:
    assert parse_grouped_difference("sum by (a) (x) - sum by (a) (y)") is not None
    assert parse_grouped_difference("sum by (a) (x) - sum by (b) (y)") is None
    assert parse_grouped_difference("sum(x) - sum(y)") is None


# --------------------------------------------------------------------------------------------- the groups
class _Listing:
    """A PrometheusAPI answering `series` from a fixed listing of series, each with the span it has samples in."""

    def __init__(self, series: list[tuple[dict[str, str], pd.Timestamp, pd.Timestamp]]) -> None:
        self.listed = series
        self.asked: list[tuple[str, pd.Timestamp, pd.Timestamp]] = []

    def series(self, match: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        self.asked.append((match, start, end))
        return pd.DataFrame([labels for labels, first, last in self.listed if first <= end and last >= start])


T0 = pd.Timestamp("2026-11-01", tz="UTC")


def test_group_values_give_an_empty_value_to_a_series_without_the_label() -> None:
    listed = pd.DataFrame([{"__name__": "x", "route": "/a"}, {"__name__": "x", "route": None},
                           {"__name__": "x"}, {"__name__": "x", "route": "/a", "pod": "p2"}])
    assert group_values(listed, ("route",)) == {("/a",), ("",)}
    assert group_values(listed, ("route", "code")) == {("/a", ""), ("", "")}
    assert group_values(pd.DataFrame(), ("route",)) == set()


def test_groups_are_asked_of_the_index_one_index_window_at_a_time() -> None:
    (objective,) = read_catalog(PYRRA / "prometheus-http.yaml").objectives
    start, end = T0, T0 + pd.Timedelta(days=92)  # a quarter: three questions of at most INDEX_WINDOW
    source = _Listing([({"handler": "/api/v1/query"}, T0, end),
                       ({"handler": "/api/v1/labels"}, T0 - pd.Timedelta(days=10), T0 + pd.Timedelta(days=2)),
                       ({"handler": "/api/v1/old"}, T0 - pd.Timedelta(days=50), T0 - pd.Timedelta(days=20))])
    assert find_groups(source, objective, start, end) == [("/api/v1/labels",), ("/api/v1/query",)]
    assert len(source.asked) == 3 and all(e - s <= INDEX_WINDOW for _, s, e in source.asked)
    assert source.asked[0][0] == 'prometheus_http_requests_total{handler=~"/api.*"}'
    assert source.asked[0][2] == end and source.asked[-1][1] == start + pd.Timedelta(minutes=1)


def test_expand_groups_keeps_catalog_order_and_refuses_too_many_groups() -> None:
    catalog = read_catalog(PYRRA / "prometheus-http.yaml")
    grouped = catalog.objectives[0]
    plain = read_catalog(PUBLISHED / "sloth" / "getting-started.yml").objectives[0]
    window = (T0, T0 + pd.Timedelta(days=7))
    source = _Listing([({"handler": f"/api/{i}"}, *window) for i in range(3)])
    expanded = expand_groups(source, [plain, grouped], {plain.name: window, grouped.name: window})
    assert [o.name for o in expanded] == ["myservice-requests-availability", 'prometheus-api-query{handler="/api/0"}',
                                          'prometheus-api-query{handler="/api/1"}',
                                          'prometheus-api-query{handler="/api/2"}']
    assert len(source.asked) == 1  # the SLO that is not grouped asks nothing
    with pytest.raises(BadInputError, match=r"SLO prometheus-api-query: grouped by handler, it has 3 groups with "
                                            r"series between 2026-11-01T00:00:00Z and 2026-11-08T00:00:00Z, above "
                                            r"max_groups=2") as info:
        expand_groups(source, [plain, grouped], {plain.name: window, grouped.name: window}, max_groups=2)
    assert info.value.exit_code == 2


def test_a_grouped_slo_without_series_stays_one_row() -> None:
    (grouped,) = read_catalog(PYRRA / "prometheus-http.yaml").objectives
    window = (T0, T0 + pd.Timedelta(days=7))
    (only,) = expand_groups(_Listing([]), [grouped], {grouped.name: window})
    assert only.name == "prometheus-api-query" and only.group_labels == {} and only.grouped_by == only.name
