"""The SLO definitions teams already have: OpenSLO v1 as its spec and tools write it, Pyrra and Sloth, read into one
model; and what cannot be mapped exactly refused, naming the field, the line and what to write instead.

The shapes are written from the public specs and their published examples (cited at each one):
- OpenSLO/OpenSLO README.md (v1) and examples/budgeting-method/{timeslices-slo,ratio-timeslices}.yaml;
- OpenSLO/go-sdk pkg/openslosdk/test_data/{inline,export}/inputs/v1_slo.yaml (the sequence form) and
  pkg/openslo/v1/slo.go (its validation rules);
- OpenSLO/oslo test/inputs/validate/v1.yaml (a sequence holding Services) and test/inputs/v1/slo/*.yaml;
- pyrra-dev/pyrra examples/kubernetes/slos/*.yaml, examples/nginx.yaml, kubernetes/api/v1alpha1 types;
- slok/sloth examples/getting-started.yml, examples/kubernetes-apiserver.yml (the latency idiom),
  examples/multifile.yml, pkg/prometheus/api/v1/v1.go.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from slo_fixtures import CATALOG, ROOT

from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs.catalog import load_catalog, read_catalog
from goreliable_lib.timeutil import calendar_window, parse_window

END = pd.Timestamp("2026-11-23T06:00:00Z")


def _write(tmp_path: Path, text: str, name: str = "slos.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------------------------- OpenSLO in the wild
# go-sdk pkg/openslosdk/test_data/inline/inputs/v1_slo.yaml: a sequence of objects, an SLO referring to an SLI
# defined after it, a calendar week from an unquoted `startTime` (a YAML timestamp) in America/New_York; here with
# a Prometheus counter ratio instead of the SDK's kafka-lag threshold (kept below for thresholds).
SEQUENCE = """\
- apiVersion: openslo/v1
  kind: SLO
  metadata:
    name: my-slo
  spec:
    service: web
    indicatorRef: my-sli
    timeWindow:
      - duration: 1w
        isRolling: false
        calendar:
          startTime: 2022-01-01 12:00:00
          timeZone: America/New_York
    budgetingMethod: Timeslices
    objectives:
      - displayName: Good
        op: gt
        target: 0.995
        timeSliceTarget: 0.95
        timeSliceWindow: 1m
- apiVersion: openslo/v1
  kind: SLI
  metadata:
    name: my-sli
  spec:
    ratioMetric:
      counter: true
      good:
        metricSource:
          metricSourceRef: my-prometheus
          spec:
            query: sum(http_requests{k8s_cluster="prod",component="web",code=~"2xx|4xx"})
      total:
        metricSource:
          metricSourceRef: my-prometheus
          spec:
            query: sum(http_requests{k8s_cluster="prod",component="web"})
- apiVersion: openslo/v1
  kind: DataSource
  metadata:
    name: my-prometheus
  spec:
    type: Prometheus
    connectionDetails:
      url: http://prometheus:9090
- apiVersion: openslo/v1
  kind: Service
  metadata:
    name: example-service
  spec:
    description: Example service description
- apiVersion: openslo/v1
  kind: AlertNotificationTarget
  metadata:
    name: devs-email-notification
  spec:
    target: email
"""


def test_sequence_form_with_refs_services_and_a_timestamp_start(tmp_path: Path) -> None:
    catalog = read_catalog(_write(tmp_path, SEQUENCE))
    (objective,) = catalog.objectives
    assert objective.name == "my-slo" and objective.objective_name is None
    # sum(SEL) as the spec's own ratioMetric example writes it: the counter selector inside
    assert objective.total_selector.to_promql() == 'http_requests{k8s_cluster="prod",component="web"}'
    assert objective.ratio.good.metricSource.type == "Prometheus"  # from the DataSource (README: inferred)
    assert (objective.budgeting_method, objective.time_slice_target) == ("Timeslices", 0.95)
    assert objective.time_slice_window == pd.Timedelta(minutes=1)
    window = objective.time_window
    assert not window.rolling and window.time_zone == "America/New_York"
    assert window.start_time == pd.Timestamp("2022-01-01 12:00:00")
    # weeks from Saturday 2022-01-01 12:00 New York time: the one holding Monday 2026-11-23 06:00 UTC started on
    # Saturday 2026-11-21 12:00 EST = 17:00 UTC
    assert objective.window_at(END) == (pd.Timestamp("2026-11-21T17:00:00Z"), END)
    notes = " | ".join(catalog.notes)
    assert "item 4 (example-service): kind Service skipped" in notes
    assert "item 5 (devs-email-notification): kind AlertNotificationTarget skipped" in notes
    assert "DataSource my-prometheus (Prometheus): its connectionDetails are not used" in notes
    assert catalog.source_formats == ["OpenSLO v1"]


def test_quoted_and_unquoted_start_time_read_alike(tmp_path: Path) -> None:
    quoted = SEQUENCE.replace("startTime: 2022-01-01 12:00:00", 'startTime: "2022-01-01 12:00:00"')
    a = read_catalog(_write(tmp_path, SEQUENCE, "a.yaml")).objectives[0]
    b = read_catalog(_write(tmp_path, quoted, "b.yaml")).objectives[0]
    assert a.time_window.start_time == b.time_window.start_time and a.window_at(END) == b.window_at(END)


RATIO = """\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: {name}
spec:
  service: shop
  indicator:
    metadata:
      name: shop-ok
    spec:
      ratioMetric:
        good:
          metricSource:
            type: {type}
            spec:
              query: requests_total{{code!~"5.."}}
        total:
          metricSource:
            type: {type}
            spec:
              query: requests_total
{window}  budgetingMethod: {method}
  objectives:
{objectives}"""


def _ratio(name: str = "shop", window: str = "", method: str = "Occurrences",
           objectives: str = "    - target: 0.99\n", type_: str = "Prometheus") -> str:
    return RATIO.format(name=name, window=window, method=method, objectives=objectives, type=type_)


def test_time_window_is_optional_and_defaults_to_30_days_rolling(tmp_path: Path) -> None:
    # OpenSLO README: "timeWindow[ ] optional"; the kit then uses the seed's 30 days rolling (and says so)
    (objective,) = read_catalog(_write(tmp_path, _ratio())).objectives
    assert not objective.window_given and objective.rolling and objective.window == "30d"
    assert objective.window_at(END) == (END - pd.Timedelta(days=30), END)
    assert objective.ratio.counter  # `counter` left out, as in the spec's own examples


def test_calendar_without_is_rolling_is_a_calendar_window(tmp_path: Path) -> None:
    # README: "isRolling: false # if omitted assumed `false` if `calendar:` is present"; a calendar month in Berlin
    window = "  timeWindow:\n    - duration: 1M\n      calendar:\n        timeZone: Europe/Berlin\n"
    (objective,) = read_catalog(_write(tmp_path, _ratio(window=window))).objectives
    assert not objective.rolling
    # November in Europe/Berlin (CET, UTC+1) starts at 2026-10-31 23:00 UTC
    assert objective.window_at(END) == (pd.Timestamp("2026-10-31T23:00:00Z"), END)


@pytest.mark.parametrize("type_", ["Prometheus", "prometheus", "Thanos", "Mimir", "VictoriaMetrics"])
def test_prometheus_api_metric_source_types(tmp_path: Path, type_: str) -> None:
    (objective,) = read_catalog(_write(tmp_path, _ratio(type_=type_))).objectives
    assert objective.ratio.total.metricSource.type.lower() == type_.lower()


def test_several_objectives_are_named_slo_slash_objective(tmp_path: Path) -> None:
    # examples/budgeting-method/timeslices-slo.yaml: an internal objective and the SLA on one indicator
    objectives = ("    - displayName: Internal objective\n      op: gt\n      target: 0.995\n"
                  "      timeSliceTarget: 0.99\n      timeSliceWindow: 1m\n"
                  "    - displayName: SLA\n      target: 0.99\n      timeSliceTarget: 0.99\n      timeSliceWindow: 5\n")
    internal, sla = read_catalog(_write(tmp_path, _ratio(method="Timeslices", objectives=objectives))).objectives
    assert (internal.name, sla.name) == ("shop/internal-objective", "shop/sla")
    assert (internal.objective, sla.objective) == (0.995, 0.99)
    assert sla.time_slice_window == pd.Timedelta(minutes=5)  # README: a bare number is minutes
    assert internal.events_key == sla.events_key  # one indicator: one fetch


def test_composite_objectives_each_with_their_own_indicator(tmp_path: Path) -> None:
    """Latency 300 ms at 99% and 1 s at 99.9%: each objective has its own good bucket (the Go SDK's composite form,
    oslo test/inputs/v1/slo/slo-composite-indicatorRef-rolling-no-alerts.yaml); reported one row each."""
    text = """\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: api-latency
spec:
  service: api-gateway
  budgetingMethod: Occurrences
  objectives:
    - displayName: 300ms
      target: 0.99
      indicatorRef: under-300ms
    - displayName: 1s
      target: 0.999
      compositeWeight: 2
      indicator:
        metadata: {name: under-1s}
        spec:
          ratioMetric:
            counter: true
            good: {metricSource: {type: Prometheus, spec: {query: 'h_bucket{le="1"}'}}}
            total: {metricSource: {type: Prometheus, spec: {query: h_count}}}
---
apiVersion: openslo/v1
kind: SLI
metadata: {name: under-300ms}
spec:
  ratioMetric:
    counter: true
    good: {metricSource: {type: Prometheus, spec: {query: 'h_bucket{le="0.3"}'}}}
    total: {metricSource: {type: Prometheus, spec: {query: h_count}}}
"""
    fast, slow = read_catalog(_write(tmp_path, text)).objectives
    assert (fast.name, slow.name) == ("api-latency/300ms", "api-latency/1s")
    assert (fast.good_selector.to_promql() == 'h_bucket{le="0.3"}'
            and slow.good_selector.to_promql() == 'h_bucket{le="1"}')
    assert fast.events_key != slow.events_key


def test_threshold_metric_objective(tmp_path: Path) -> None:
    catalog = read_catalog(ROOT / "params" / "slos-llm-p99.yaml")
    (objective,) = catalog.objectives
    assert objective.ratio is None and objective.threshold_text == "value < 0.5"
    assert objective.threshold_query.startswith("histogram_quantile(0.99,")
    assert objective.time_slice_window == pd.Timedelta(minutes=5) and objective.objective == 0.99
    with pytest.raises(BadInputError, match="a thresholdMetric has no good/total counters"):
        objective.total_selector  # noqa: B018


# --------------------------------------------------------------------------------------------- Pyrra and Sloth
def _figures(path: Path | str) -> list[tuple]:
    return [(o.service, o.objective, o.total_selector, o.good_selector, o.bad_selector, o.window_at(END),
             o.budgeting_method) for o in read_catalog(path).objectives]


def test_seed_as_pyrra_and_sloth_is_the_seed() -> None:
    """params/slos.pyrra.yaml and params/slos.sloth.yaml: the seed's six SLOs as those tools write them. Bad
    selectors are the complements of the seed's good ones (5xx vs not 5xx), which the counting treats alike."""
    seed = read_catalog(CATALOG).objectives
    for path, names in (("params/slos.pyrra.yaml", [o.name for o in seed]),
                        ("params/slos.sloth.yaml", ["api-gateway-availability", "api-gateway-latency",
                                                    "order-service-success-rate", "notification-worker-delivery",
                                                    "ml-inference-gateway-availability", "llm-gateway-latency"])):
        catalog = read_catalog(path)
        assert [o.name for o in catalog.objectives] == names
        assert [(o.service, o.objective, o.total_selector, o.window_at(END)) for o in catalog.objectives] == \
            [(o.service, o.objective, o.total_selector, o.window_at(END)) for o in seed]
        # good where the seed has a latency bucket, bad (the complement of the seed's good) elsewhere
        assert [(o.good_selector or o.bad_selector).to_promql() for o in catalog.objectives] == [
            'http_requests_total{service="api-gateway",code=~"5.."}',
            'http_request_duration_seconds_bucket{service="api-gateway",le="0.3"}', 'orders_total{status!="success"}',
            'notifications_total{result!="delivered"}', 'inference_requests_total{outcome!="success"}',
            'http_request_duration_seconds_bucket{service="llm-gateway",le="0.5"}']
    sloth = read_catalog("params/slos.sloth.yaml")
    assert sloth.source_formats == ["Sloth prometheus/v1"] and not sloth.slos[0].window_given
    latency = sloth.objectives[1]  # Sloth's latency idiom: errors = total - fast, read as good = fast
    assert latency.good_selector.to_promql() == 'http_request_duration_seconds_bucket{service="api-gateway",le="0.3"}'
    assert read_catalog("params/slos.pyrra.yaml").source_formats == ["Pyrra pyrra.dev/v1alpha1"]


PYRRA = """\
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata:
  name: prometheus-http-errors
  namespace: monitoring
  labels:
    prometheus: k8s
    role: alert-rules
spec:
  description: ""
  indicator:
    ratio:
      errors:
        metric: prometheus_http_requests_total{job="prometheus-k8s",code=~"5.."}
      total:
        metric: prometheus_http_requests_total{job="prometheus-k8s"}
  target: "99.99"
  window: 2w
"""


def test_pyrra_example_as_published(tmp_path: Path) -> None:
    # pyrra-dev/pyrra examples/kubernetes/slos/prometheus-http-errors.yaml, verbatim
    (objective,) = read_catalog(_write(tmp_path, PYRRA)).objectives
    assert (objective.name, objective.service, objective.objective) == ("prometheus-http-errors",
                                                                        "prometheus-http-errors", 0.9999)
    assert objective.bad_selector.to_promql() == 'prometheus_http_requests_total{job="prometheus-k8s",code=~"5.."}'
    assert objective.window_at(END) == (END - pd.Timedelta(weeks=2), END)
    assert objective.source_format == "Pyrra pyrra.dev/v1alpha1"


SLOTH = """\
version: "prometheus/v1"
service: "myservice"
labels:
  owner: "myteam"
slos:
  - name: "requests-availability"
    objective: 99.9
    description: "Common SLO based on availability for HTTP request responses."
    sli:
      events:
        error_query: sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))
        total_query: sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))
    alerting:
      name: MyServiceHighErrorRate
      page_alert:
        labels:
          severity: pageteam
"""


def test_sloth_example_as_published(tmp_path: Path) -> None:
    # slok/sloth examples/getting-started.yml (alerting shortened)
    (objective,) = read_catalog(_write(tmp_path, SLOTH)).objectives
    assert (objective.name, objective.service, objective.objective) == ("myservice-requests-availability",
                                                                        "myservice", 0.999)
    assert objective.bad_selector.to_promql() == \
        'http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}'
    assert not objective.window_given and objective.window_at(END) == (END - pd.Timedelta(days=30), END)


def test_formats_mix_in_one_file(tmp_path: Path) -> None:
    text = "\n---\n".join([_ratio("a"), PYRRA, SLOTH])
    catalog = read_catalog(_write(tmp_path, text))
    assert [o.name for o in catalog.objectives] == ["a", "prometheus-http-errors", "myservice-requests-availability"]
    assert catalog.source_formats == ["OpenSLO v1", "Pyrra pyrra.dev/v1alpha1", "Sloth prometheus/v1"]


# --------------------------------------------------------------------------------------------- refused
SLOTH_RAW = SLOTH.replace("""      events:
        error_query: sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))
        total_query: sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))""",
                          "      raw:\n        error_ratio_query: slo:sli_error:ratio_rate5m{job=\"x\"}")
THRESHOLD = (ROOT / "params" / "slos-llm-p99.yaml").read_text()

REFUSED = [
    ("alpha-com", _ratio().replace("openslo/v1", "openslo.com/v1"),
     r"document 1 \(shop\): apiVersion: 'openslo.com/v1' is not OpenSLO v1's spelling: v1 is written apiVersion: "
     r"openslo/v1 .*\(line 1\)"),
    ("alpha", _ratio().replace("openslo/v1", "openslo/v1alpha"), r"apiVersion: 'openslo/v1alpha' is OpenSLO's alpha "
     r"form, which is not read: convert the file to apiVersion: openslo/v1"),
    ("raw", _ratio().replace("        total:\n", "        raw: {metricSource: {type: Prometheus, spec: {query: r}}}\n"
                                               "        total:\n"),
     r"spec\.indicator\.spec\.ratioMetric\.raw: a precomputed ratio cannot be summed"),
    ("datadog-ref", SEQUENCE.replace("type: Prometheus", "type: Datadog"),
     r"document 1, item 2 \(my-sli\), SLI of SLO my-slo: spec\.ratioMetric\.good\.metricSource\.metricSourceRef: "
     r"DataSource "
     r"'my-prometheus' is of type 'Datadog'; only Prometheus-API sources .*\(line 30\)"),
    ("unknown-ref", SEQUENCE.replace("metricSourceRef: my-prometheus", "metricSourceRef: nope", 1),
     r"item 2 \(my-sli\), SLI of SLO my-slo: spec\.ratioMetric\.good\.metricSource\.metricSourceRef: no kind: "
     r"DataSource named 'nope' in the catalog \(DataSources: my-prometheus\) and the metricSource gives no type: add "
     r"spec\.ratioMetric\.good\.metricSource\.type \(Prometheus, Thanos, Mimir or VictoriaMetrics\) or a kind: "
     r"DataSource named 'nope' of such a type to the catalog \(line 30\)"),
    ("rolling-and-calendar", _ratio(window="  timeWindow:\n    - duration: 1M\n      isRolling: true\n"
                                           "      calendar: {timeZone: UTC}\n"),
     r"spec\.timeWindow\[0\]: calendar cannot be set when isRolling is true"),
    ("rolling-month", _ratio(window="  timeWindow:\n    - duration: 1M\n      isRolling: true\n"),
     r"spec\.timeWindow\[0\]\.duration: '1M' is a calendar duration: a rolling window is days or weeks"),
    ("calendar-minutes", _ratio(window="  timeWindow:\n    - duration: 1m\n      calendar: {timeZone: UTC}\n"),
     r"spec\.timeWindow\[0\]\.duration: calendar windows are whole days.*did you mean 1M\?"),
    ("zone", _ratio(window="  timeWindow:\n    - duration: 1M\n      calendar: {timeZone: Mars/Olympus}\n"),
     r"spec\.timeWindow\[0\]\.calendar\.timeZone: 'Mars/Olympus' is not an IANA time zone name "
     r"\(e\.g\. UTC, Europe/Berlin, America/New_York\) \(line 24\)"),
    ("start-time", _ratio(window="  timeWindow:\n    - duration: 1M\n      calendar: {startTime: soon}\n"),
     r"calendar\.startTime: must be a date and time like 2020-01-21 12:30:00, got 'soon'"),
    ("slice-seconds", _ratio(method="RatioTimeslices", objectives="    - target: 0.99\n      timeSliceWindow: 30s\n"),
     r"spec\.objectives\[0\]\.timeSliceWindow: must be a whole number of minutes"),
    ("slice-window", _ratio(method="RatioTimeslices"),
     r"spec\.objectives\[0\]\.timeSliceWindow: required with budgetingMethod RatioTimeslices \(the length of a "
     r"slice, e.g\. 5m\) \(line 24\)"),
    ("threshold-occurrences", THRESHOLD.replace("budgetingMethod: Timeslices", "budgetingMethod: Occurrences"),
     r"item 2 \(llm-p99-latency\): spec\.budgetingMethod: a thresholdMetric is a value, not a count of events"),
    ("threshold-value", THRESHOLD.replace("        value: 0.5\n", ""),
     r"spec\.objectives\[0\]\.value: required with a thresholdMetric .*\(line "
     + str(THRESHOLD.splitlines().index("    objectives:") + 2) + r"\)"),  # the objective's first line
    ("threshold-two",
     THRESHOLD + "      - {op: lt, value: 1, target: 0.999, timeSliceTarget: 1, timeSliceWindow: 5m}\n",
     r"spec\.objectives: a thresholdMetric SLO has one objective"),
    ("threshold-template", THRESHOLD.replace("[5m]", "[{{.window}}]"), r"thresholdMetric\.metricSource\.spec\.query: "
     r"holds a template"),
    ("composite-mixed", _ratio(objectives="    - target: 0.99\n      indicatorRef: shop-ok\n"),
     r"spec: indicator or indicatorRef must be given either on spec \(one indicator\) or on each"),
    ("pyrra-expression", PYRRA.replace('metric: prometheus_http_requests_total{job="prometheus-k8s"}',
                                       'metric: sum(rate(prometheus_http_requests_total[5m]))'),
     r"document 1 \(prometheus-http-errors\): spec\.indicator\.ratio\.total\.metric: must be a vector selector .*"
     r"an expression does not allow\), got 'sum\(rate\(prometheus_http_requests_total\[5m\]\)\)' \(line 16\)"),
    ("pyrra-grouping", PYRRA.replace("    ratio:\n", "    ratio:\n      grouping: [handler, 2xx]\n"),
     r"spec\.indicator\.ratio\.grouping: '2xx' is not a label name"),
    ("pyrra-bool-gauge", PYRRA.replace("    ratio:\n", "    bool_gauge: {metric: up}\n    ratio:\n"),
     r"spec\.indicator\.bool_gauge: a gauge's samples are not events"),
    ("pyrra-target", PYRRA.replace('"99.99"', '"0.999"').replace("target:", "target:"), None),
    ("pyrra-latency-le", (ROOT / "params" / "slos.pyrra.yaml").read_text().split("\n---\n")[1].replace(',le="0.3"', ""),
     r"spec\.indicator\.latency\.success\.metric: must select one histogram bucket with an le"),
    ("sloth-raw", SLOTH_RAW, r"document 1 \(myservice\), SLO myservice-requests-availability: slos\[0\]\.sli\.raw: "
     r"a precomputed error ratio "
     r"\(error_ratio_query\) cannot be summed .*\(line 11\)"),
    ("sloth-ratio", SLOTH.replace('[{{.window}}]))\n        total_query',
                                  '[{{.window}}])) / sum(rate(x_total[{{.window}}]))\n        total_query'),
     r"document 1 \(myservice\), SLO myservice-requests-availability: "
     r"slos\[0\]\.sli\.events\.error_query: must count the bad events of one counter, as "
     r"sum\(rate\(COUNTER\{\.\.\.\}\[\{\{\.window\}\}\]\)\) or a plain selector, or as total minus good: .* \(a "
     r"query of arbitrary PromQL cannot be counted exactly .*\), got 'sum\(rate\(.* / sum\(rate\(x_total.*\(line 11\)"),
    ("sloth-difference", SLOTH.replace('error_query: sum(', 'error_query: sum(rate(other_total[{{.window}}])) - sum('),
     r"SLO myservice-requests-availability: slos\[0\]\.sli\.events\.error_query: `A - B` is read as total - good "
     r"only when A is total_query's selector"),
    ("sloth-objective", SLOTH.replace("objective: 99.9", "objective: 100"),
     r"SLO myservice-requests-availability: slos\[0\]\.objective: must be a percent between 0 and 100 exclusive "
     r".*100 leaves no error budget"),
    ("sloth-crd", "apiVersion: sloth.slok.dev/v1\nkind: PrometheusServiceLevel\nmetadata: {name: x}\n",
     r"apiVersion: 'sloth.slok.dev/v1' is Sloth's Kubernetes PrometheusServiceLevel, which is not read"),
]


@pytest.mark.parametrize(("case", "text", "message"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_with_the_reason_field_and_line(tmp_path: Path, case: str, text: str, message: str | None) -> None:
    path = _write(tmp_path, text)
    if message is None:  # Pyrra's own warning case: "0.999" is a valid target of 0.999% (accepted as Pyrra does)
        assert read_catalog(path).objectives[0].objective == pytest.approx(0.00999)
        return
    with pytest.raises(BadInputError, match=message) as info:
        read_catalog(path)
    assert str(info.value).startswith(f"{path}:") and info.value.exit_code == 2


def test_duplicate_names_across_formats(tmp_path: Path) -> None:
    text = _ratio("prometheus-http-errors") + "---\n" + PYRRA
    with pytest.raises(BadInputError, match=r"document 2 \(prometheus-http-errors\): metadata\.name: duplicate SLO "
                                            r"name 'prometheus-http-errors', first defined in document 1"):
        read_catalog(_write(tmp_path, text))


def test_the_seed_catalog_still_loads_unchanged() -> None:
    slos = load_catalog(CATALOG)
    assert [s.source_format for s in slos] == ["OpenSLO v1"] * 6
    assert all(s.window_given and s.spec.budgetingMethod == "Occurrences" for s in slos)


# --------------------------------------------------------------------------------------------- calendar windows
@pytest.mark.parametrize(("window", "tz", "expected"), [
    # October in Europe/Berlin: CEST (UTC+2) on the 1st, CET (UTC+1) from the 25th: [09-30 22:00Z, 10-31 23:00Z)
    ("2026-10", "Europe/Berlin", ("2026-09-30T22:00:00Z", "2026-10-31T23:00:00Z")),
    ("2026-Q3", "America/New_York", ("2026-07-01T04:00:00Z", "2026-10-01T04:00:00Z")),  # EDT, UTC-4
    ("1M", "Asia/Kolkata", ("2026-10-31T18:30:00Z", "2026-11-23T06:00:00Z")),  # IST, UTC+5:30, no DST
    ("lastmonth", "Australia/Sydney", ("2026-09-30T14:00:00Z", "2026-10-31T13:00:00Z")),  # AEST+10 -> AEDT+11
    ("1M", "UTC", ("2026-11-01T00:00:00Z", "2026-11-23T06:00:00Z")),
])
def test_calendar_windows_in_a_time_zone(window: str, tz: str, expected: tuple[str, str]) -> None:
    assert parse_window(window, END, tz=tz) == tuple(pd.Timestamp(t) for t in expected)


def test_anchored_calendar_windows() -> None:
    # oslo test/inputs/v1/slo/slo-no-indicatorref-calendar-alerts.yaml: 1d from 2020-01-21 12:30 New York time
    start = pd.Timestamp("2020-01-21 12:30:00")
    assert calendar_window("1d", END, tz="America/New_York", start_time=start) == \
        (pd.Timestamp("2026-11-22T17:30:00Z"), END)  # 12:30 EST on the 22nd
    assert calendar_window("1M", END, tz="America/New_York", start_time=start) == \
        (pd.Timestamp("2026-11-21T17:30:00Z"), END)  # months from the 21st
    assert calendar_window("1Q", END, start_time=pd.Timestamp("2026-02-15")) == (pd.Timestamp("2026-11-15T00:00Z"), END)
    # a window ending exactly at a period's start is the period before
    assert calendar_window("1w", pd.Timestamp("2026-11-23T00:00Z")) == (pd.Timestamp("2026-11-16T00:00Z"),
                                                                        pd.Timestamp("2026-11-23T00:00Z"))
    with pytest.raises(BadInputError, match="needs calendar.startTime"):
        calendar_window("2w", END)
