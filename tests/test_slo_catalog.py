"""The SLO catalog: the shipped params/slos.yaml, and a clear message for each kind of bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from slo_fixtures import CATALOG

from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs.catalog import load_catalog, load_policy, read_catalog, select_slos
from goreliable_lib.inputs.promql import parse_selector

SEED = {
    "api-gateway-availability": ("api-gateway", 0.999), "api-gateway-latency": ("api-gateway", 0.99),
    "order-success-rate": ("order-service", 0.995), "notification-delivery": ("notification-worker", 0.99),
    "ml-inference-availability": ("ml-inference-gateway", 0.995), "llm-latency": ("llm-gateway", 0.99),
}

MINIMAL = """\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: {name}
spec:
  service: shop
  indicator:
    spec:
      ratioMetric:
        counter: true
        {part}:
          metricSource:
            type: Prometheus
            spec:
              query: {query}
        total:
          metricSource:
            type: Prometheus
            spec:
              query: requests_total
  timeWindow:
    - duration: {duration}
      isRolling: {rolling}
  budgetingMethod: Occurrences
  objectives:
    - {objective}
"""


def _doc(name: str = "shop-availability", part: str = "good", query: str = 'requests_total{code!~"5.."}',
         duration: str = "30d", rolling: str = "true", objective: str = "target: 0.99") -> str:
    return MINIMAL.format(name=name, part=part, query=query, duration=duration, rolling=rolling,
                          objective=objective)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "slos.yaml"
    path.write_text(text)
    return path


def test_shipped_catalog_holds_the_seed_slos() -> None:
    slos = load_catalog(CATALOG)
    assert {s.name: (s.service, s.objective) for s in slos} == SEED
    for slo in slos:
        assert slo.window == "30d" and slo.rolling and slo.spec.budgetingMethod == "Occurrences"
        assert slo.total_selector.metric and slo.good_selector is not None
    latency = {s.name: s for s in slos}["api-gateway-latency"]
    assert ("le", "=", "0.3") in {(m.label, m.op, m.value) for m in latency.good_selector.matchers}
    policy = load_policy(CATALOG)
    assert (policy.features_above, policy.reliability_below, policy.alert_below) == (0.5, 0.2, 0.1)


def test_valid_variants(tmp_path: Path) -> None:
    text = "\n---\n".join([
        _doc("a", objective="targetPercent: 99.5"),
        _doc("b", part="bad", query='requests_total{code=~"5.."}', duration="1M", rolling="false"),
        _doc("c", duration="4w")])
    a, b, c = load_catalog(_write(tmp_path, text))
    assert a.objective == pytest.approx(0.995)
    assert b.bad_selector is not None and b.good_selector is None and b.window == "1M" and not b.rolling
    assert c.window == "4w"
    assert load_policy(_write(tmp_path, text)).alert_below == 0.10  # the seed's defaults
    assert [s.name for s in select_slos([a, b, c], "a,c")] == ["a", "c"]
    assert [s.name for s in select_slos([a, b, c], ["shop"])] == ["a", "b", "c"]


SLI_DOC = """\
apiVersion: openslo/v1
kind: SLI
metadata:
  name: {name}
spec:
  ratioMetric:
    counter: true
    good:
      metricSource: {{type: Prometheus, spec: {{query: 'requests_total{{code!~"5.."}}'}}}}
    total:
      metricSource: {{type: Prometheus, spec: {{query: requests_total}}}}
"""


def _referring(name: str = "shop-availability", ref: str = "shop-non-5xx") -> str:
    """An SLO whose indicator is `indicatorRef: ref` instead of inline."""
    inline = _doc(name)
    start, end = inline.index("  indicator:\n"), inline.index("  timeWindow:")
    return inline[:start] + f"  indicatorRef: {ref}\n" + inline[end:]


def test_indicator_ref_to_an_sli_document(tmp_path: Path) -> None:
    """OpenSLO's shared indicators: two SLOs (objectives 99% and 99.9%) refer to one `kind: SLI` document, which
    may come after them; they read exactly like an inline indicator."""
    text = "\n---\n".join([_referring("a"), _referring("b").replace("target: 0.99", "target: 0.999"),
                            SLI_DOC.format(name="shop-non-5xx"), _doc("c")])
    a, b, c = load_catalog(_write(tmp_path, text))
    assert (a.name, b.name, c.name) == ("a", "b", "c") and (a.objective, b.objective) == (0.99, 0.999)
    for slo in (a, b):
        assert slo.good_selector == c.good_selector and slo.total_selector == c.total_selector
        assert slo.spec.indicator.metadata == {"name": "shop-non-5xx"}


BAD = [
    ("yaml", "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: x\n",
     r"slos\.yaml: line \d+, column \d+: invalid YAML"),
    ("kind", _doc().replace("kind: SLO", "kind: SLOO"),
     r"document 1 \(shop-availability\): kind: unknown kind 'SLOO' \(OpenSLO v1 kinds: SLO, SLI, DataSource, Service"),
    ("only-service", _doc().replace("kind: SLO", "kind: Service"),
     r"holds no SLO documents \(document 1 \(shop-availability\): kind Service skipped"),
    ("api", _doc().replace("openslo/v1", "openslo/v2"),
     r"document 1 \(shop-availability\): apiVersion: expected 'openslo/v1', got 'openslo/v2'"),
    ("target", _doc(objective="target: 1.5"),
     r"document 1 \(shop-availability\): spec\.objectives\[0\]\.target: must be between 0 and 1 exclusive, got 1\.5"),
    ("zero", _doc(objective="target: 0"), r"spec\.objectives\[0\]\.target: must be between 0 and 1 exclusive"),
    ("percent", _doc(objective="targetPercent: 100"),
     r"spec\.objectives\[0\]\.targetPercent: must be between 0 and 100"),
    ("both", _doc(objective="{target: 0.9, targetPercent: 90}"), r"spec\.objectives\[0\]: give exactly one of target"),
    ("query", _doc().replace("              query: requests_total\n", "              other: x\n"),
     r"spec\.indicator\.spec\.ratioMetric\.total\.metricSource\.spec\.query: required field missing"),
    ("expression", _doc(query="'sum(rate(requests_total{code=\"500\"}[5m])) / sum(rate(requests_total[5m]))'"),
     r"ratioMetric\.good\.metricSource\.spec\.query: must be a counter selector .*arbitrary expression"),
    ("by-clause", _doc(query="'sum by (code) (rate(requests_total[5m]))'"),
     r"ratioMetric\.good\.metricSource\.spec\.query: must be a counter selector"),
    ("regex", _doc(query="'requests_total{code=~\"5[\"}'"),
     r"ratioMetric\.good\.metricSource\.spec\.query: bad regular expression"),
    ("le", _doc(query="'requests_bucket{le=\"fast\"}'"), r"spec\.query: le='fast' is not a number"),
    ("method", _doc().replace("budgetingMethod: Occurrences", "budgetingMethod: Slices"),
     r"spec\.budgetingMethod: Input should be 'Occurrences', 'Timeslices' or 'RatioTimeslices', got 'Slices'"),
    ("slice-target", _doc().replace("budgetingMethod: Occurrences", "budgetingMethod: Timeslices"),
     r"spec\.objectives\[0\]\.timeSliceTarget: required with budgetingMethod Timeslices .*\(line 26\)"),
    ("duration", _doc(duration="30 days"), r"spec\.timeWindow\[0\]\.duration: '30 days' is not a rolling duration"),
    ("calendar", _doc(duration="2M", rolling="false"),
     r"spec\.timeWindow\[0\]\.duration: a calendar window of 2M needs calendar\.startTime"),
    ("counter", _doc().replace("counter: true", "counter: false"), r"ratioMetric\.counter: must be true"),
    ("good-and-bad",
     _doc().replace("        total:",
                    "        bad:\n          metricSource: {type: Prometheus, spec: {query: x_total}}\n        total:"),
     r"ratioMetric: give exactly one of good or bad"),
    ("source", _doc().replace("type: Prometheus", "type: Datadog", 1),
     r"good\.metricSource\.type: only Prometheus-API metric sources are supported "
     r"\(Prometheus, Thanos, Mimir, VictoriaMetrics\), got 'Datadog' \(line 13\)"),
    ("name", _doc(name="Shop_Availability"), r"metadata\.name: must be a lower-case DNS label"),
    ("service", _doc().replace("  service: shop\n", ""), r"spec\.service: required field missing"),
    ("duplicate", _doc() + "---\n" + _doc(),
     r"document 2 \(shop-availability\): metadata\.name: duplicate SLO name 'shop-availability', "
     r"first defined in document 1"),
    ("not-mapping", "- a\n- b\n",
     r"document 1, item 1: expected a mapping \(an OpenSLO, Pyrra or Sloth object\), got str \(line 1\)"),
    ("scalar", "just text\n", r"document 1: expected a mapping"),
    ("empty", "# nothing\n", r"holds no SLO documents"),
    ("ref-unknown", _referring(ref="nope") + "---\n" + SLI_DOC.format(name="shop-non-5xx"),
     r"document 1 \(shop-availability\): spec\.indicatorRef: no kind: SLI document named 'nope' in the catalog "
     r"\(SLIs: shop-non-5xx\) \(line 7\)"),
    ("ref-and-inline", _doc().replace("  indicator:\n", "  indicatorRef: x\n  indicator:\n"),
     r"document 1 \(shop-availability\): spec: give exactly one of indicator \(inline\) or indicatorRef"),
    ("no-indicator", _referring().replace("  indicatorRef: shop-non-5xx\n", ""),
     r"spec: give exactly one of indicator"),
    ("sli-duplicate", SLI_DOC.format(name="s") + "---\n" + SLI_DOC.format(name="s") + "---\n" + _doc(),
     r"document 2 \(s\): metadata\.name: duplicate SLI name 's', first defined in document 1"),
    ("sli-bad", SLI_DOC.format(name="s").replace("counter: true", "counter: false") + "---\n" + _doc(),
     r"document 1 \(s\): spec\.ratioMetric\.counter: must be true"),
    ("policy",
     _doc() + "---\napiVersion: goreliable/v1\nkind: ErrorBudgetPolicy\n"
              "spec: {features_above: 0.1, reliability_below: 0.2}\n",
     r"document 2: spec: .*alert_below <= reliability_below <= features_above"),
]


@pytest.mark.parametrize(("case", "text", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_catalogs_name_file_document_and_field(tmp_path: Path, case: str, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(BadInputError, match=message) as info:
        read_catalog(path)
    assert str(info.value).startswith(f"{path}:"), str(info.value)
    assert info.value.exit_code == 2


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    text = _doc().replace("  service: shop\n", "  service: shop\n   oops: [\n")
    with pytest.raises(BadInputError, match=r"line 7, column") as info:
        read_catalog(_write(tmp_path, text))
    assert "invalid YAML" in str(info.value)


def test_missing_file_and_unknown_service(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="nowhere.yaml: cannot read the SLO catalog"):
        read_catalog(tmp_path / "nowhere.yaml")
    with pytest.raises(BadInputError, match="services: unknown service or SLO 'payments'"):
        select_slos(load_catalog(CATALOG), "payments")


@pytest.mark.parametrize(("text", "metric", "matchers"), [
    ("up", "up", ()),
    ('http_requests_total{service="api-gateway",code!~"5.."}', "http_requests_total",
     (("service", "=", "api-gateway"), ("code", "!~", "5.."))),
    (r'x_total{path="/a\"b", re=~"a\\.b"}', "x_total", (("path", "=", '/a"b'), ("re", "=~", r"a\.b"))),
    ("{__name__='x_total', job=`api`}", None, (("__name__", "=", "x_total"), ("job", "=", "api"))),
])
def test_selector_parsing_round_trips(text: str, metric: str | None, matchers: tuple) -> None:
    selector = parse_selector(text)
    assert selector.metric == metric
    assert tuple((m.label, m.op, m.value) for m in selector.matchers) == matchers
    assert parse_selector(selector.to_promql()) == selector


@pytest.mark.parametrize("text", ["rate(x[5m])", "x{a=b}", "x{a=\"1\" b=\"2\"}", '{job="api"}', 'x{a="\\."}', ""])
def test_selector_rejects_non_selectors(text: str) -> None:
    with pytest.raises(ValueError):
        parse_selector(text)


def test_message_names_document_slo_field_and_line(tmp_path: Path) -> None:
    text = CATALOG.read_text()
    order = text.index("name: order-success-rate")
    text = text[:order] + text[order:].replace("target: 0.995", "target: 1.5", 1)
    path = _write(tmp_path, text)
    line = text[:text.index("target: 1.5")].count("\n") + 1
    with pytest.raises(BadInputError) as info:
        load_catalog(path)
    assert str(info.value) == (f"{path}: document 3 (order-success-rate): spec.objectives[0].target: must be "
                               f"between 0 and 1 exclusive, got 1.5 (line {line})")
