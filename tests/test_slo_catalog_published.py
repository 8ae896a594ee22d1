"""The SLO files the formats' own projects publish (tests/data/published/README.md names each file's repository, path
and commit), each with the outcome the kit gives it: read (the SLO names it yields), or refused with which message;
then references across files (a catalog given as a folder or several files) and Sloth's names.

What decides each outcome (docs/slo-catalog.md has the table): the kit reads Prometheus-API metric sources only and
counts events from counter selectors; a `metricSourceRef` with its own `type` is read without the DataSource; every
refusal names the file, the document, the SLO and the field, the SLO's own problem first.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from report_fixtures import stub_parameters

from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs.catalog import catalog_files, read_catalog, select_slos
from goreliable_lib.plots.slo_text import catalog_sentence
from goreliable_lib.reports import file_stem
from goreliable_lib.reports.registry import get_report
from goreliable_lib.runner.params import resolve_parameters

DATA = Path(__file__).parent / "data" / "published"
SLOTH_RULE = r"must start and end with a letter or digit and hold only letters, digits, '\.', '_' and '-'"
PROMETHEUS_ONLY = r"only Prometheus-API metric sources are supported \(Prometheus, Thanos, Mimir, VictoriaMetrics\)"
ALERTING = "kind (AlertPolicy|AlertCondition|Service) skipped"
K8S = r"document 1 \(.*\): apiVersion: 'sloth\.slok\.dev/v1' is Sloth's Kubernetes PrometheusServiceLevel, which is not"
ALPHA = r"document 1 \(.*\): apiVersion: 'openslo/v1alpha' is OpenSLO's alpha form, which is not read"

# (file under tests/data/published, the SLO names read, or None and the refusal's message after "<file>: ")
PUBLISHED: list[tuple[str, list[str] | None, str]] = [
    # ---- Sloth examples/
    ("sloth/getting-started.yml", ["myservice-requests-availability"], ""),
    ("sloth/multifile.yml", ["myservice-requests-availability", "myservice2-requests-availability"], ""),
    ("sloth/kubernetes-apiserver.yml", ["k8s-apiserver-requests-availability", "k8s-apiserver-requests-latency"], ""),
    ("sloth/no-alerts.yml", ["myapp-http-availability"], ""),
    ("sloth/slo-plugin-getting-started.yml", ["myservice-requests-availability"], ""),
    # the contrib plugins' example: ids of 62 and 64 characters (Sloth's own names, no 63-character limit)
    ("sloth/contrib-slo-plugins.yml", ["myservice-requests-availability-contrib-plugin-info-labels-v1",
                                       "myservice-requests-availability-contrib-plugin-rule-intervals-v1"], ""),
    ("sloth/home-wifi.yml", None,
     r"document 1 \(home-wifi\), SLO home-wifi-good-wifi-client-satisfaction: slos\[0\]\.sli\.events\.total_query: "
     r"must count the total events of one counter, .*got 'sum_over_time\(\(count\(unifipoller_client_satisfaction_"
     r"ratio\)\)\[\{\{\.window\}\}:\]\)' \(line 35\)"),  # a subquery
    ("sloth/victoria-metrics.yml", None,
     r"document 1 \(foo-bar\), SLO foo-bar-grpc-latency-percentile-90: slos\[0\]\.sli\.events\.total_query: must "
     r"count the total events of one counter, .*got 'vector\(1\)\[\{\{\.window\}\}\]' \(line 28\)"),  # MetricsQL
    ("sloth/raw-home-wifi.yml", None,
     r"document 1 \(home-wifi\), SLO home-wifi-wifi-client-satisfaction: slos\[0\]\.sli\.raw: a precomputed error "
     r"ratio \(error_ratio_query\) cannot be summed into exact event counts; .* \(line 28\)"),
    ("sloth/plugin-getting-started.yml", None,
     r"document 1 \(myservice\), SLO myservice-requests-availability: slos\[0\]\.sli\.plugin: an SLI plugin builds "
     r"its query in code, which is not read; .*\(line 14\)"),
    ("sloth/k8s-getting-started.yml", None, r"document 1 \(sloth-slo-my-service\): apiVersion: 'sloth\.slok\.dev/v1' "
     r"is Sloth's Kubernetes PrometheusServiceLevel, which is not read: write its spec as a Sloth file"),
    ("sloth/k8s-home-wifi.yml", None, K8S),
    ("sloth/k8s-multifile.yml", None, K8S),
    ("sloth/plugin-k8s-getting-started.yml", None, K8S),
    ("sloth/slo-plugin-k8s-getting-started.yml", None, K8S),
    ("sloth/contrib-denominator-corrected.yaml", None, K8S),
    ("sloth/openslo-getting-started.yml", None, ALPHA),
    ("sloth/openslo-kubernetes-apiserver.yml", None, ALPHA),
    ("sloth/windows-7d.yaml", None, r"document 1: kind: Sloth's AlertWindows \(its burn-rate alert windows\) is not "
     r"read: the kit's alerts are the SRE workbook's multiwindow burn-rate rules for every SLO \(line 2\)"),
    ("sloth/windows-custom-30d.yaml", None, r"document 1: kind: Sloth's AlertWindows"),
    # ---- Pyrra examples/ (grouped: one SLO per group found on the server, tests/test_slo_catalog_groups.py)
    ("pyrra/prometheus-http.yaml", ["prometheus-api-query"], ""),
    ("pyrra/pyrra-connect-errors.yaml", ["pyrra-connect-errors"], ""),
    ("pyrra/slo-prometheus-operator-reconcile-errors.yaml", ["prometheus-operator-reconcile-errors"], ""),
    ("pyrra/slo-prometheus-query-errors.yaml", ["prometheus-query-errors"], ""),
    ("pyrra/prometheus-probe-success.yaml", None, r"document 1 \(prometheus-blackbox-probe-success\): "
     r"spec\.indicator\.bool_gauge: a gauge.s samples are not events and cannot be counted exactly"),
    ("pyrra/pyrra-connect-latency.yaml", None,
     r"document 1 \(pyrra-connect-latency\): spec\.indicator\.latencyNative: native histograms are not read"),
    # ---- OpenSLO go-sdk test data and examples
    # metricSourceRef: thanos with type: Prometheus, no DataSource anywhere: read
    ("openslo-go-sdk/decode-v1_slos.yaml", ["foo-slo"], ""),
    ("openslo-go-sdk/export-v1_slo.yaml", ["my-slo"], ""),  # metricSourceRef: my-prometheus, type: Prometheus
    ("openslo-go-sdk/inline-v1_slo.yaml", ["my-slo-1", "my-slo-2"], ""),  # and indicatorRef to an inline indicator
    ("openslo-go-sdk/examples-slos.yaml", ["web-availability"], ""),
    # the SLO's own problem (no SLI named no-sli) is said, not the SLI's DataSource the catalog lacks
    ("openslo-go-sdk/inline-v1_slo_invalid_sli.yaml", None,
     r"document 1, item 1 \(my-slo\): spec\.indicatorRef: no kind: SLI document named 'no-sli' in the catalog "
     r"\(SLIs: my-sli\) \(line 7\)"),
    ("openslo-go-sdk/inline-v1_slo_invalid_policy.yaml", None,
     r"document 1, item 1 \(my-slo\): spec\.objectives\[0\]\.value: required with a thresholdMetric"),
    ("openslo-go-sdk/inline-v1_slo_invalid_target.yaml", None,
     r"document 1, item 1 \(my-slo\): spec\.objectives\[0\]\.value: required with a thresholdMetric"),
    ("openslo-go-sdk/examples-slis.yaml", None,  # Datadog and AppDynamics SLIs
     r"document 1, item 1 \(search-availability\): spec\.ratioMetric\.good\.metricSource\.type: " + PROMETHEUS_ONLY
     + r", got 'Datadog'"),
    ("openslo-go-sdk/examples-data_sources.yaml", None, r"the catalog holds no SLO documents"),
    # ---- sloctl's convert-openslo inputs
    # metricSourceRef: my-prometheus, type: prometheus, but spec.promql (Nobl9's field): the real problem is said
    ("sloctl/nested/slos.yaml", None,
     r"document 1, item 1 \(annotator-throughput\): spec\.indicator\.spec\.thresholdMetric\.metricSource\.spec\.query: "
     r"required field missing; this spec has promql \(Nobl9's name for the query\), which OpenSLO's Prometheus metric "
     r"source writes as query \(line 18\)"),
    ("sloctl/service.yaml", None, r"the catalog holds no SLO documents \(.*" + ALERTING),
    ("sloctl/alert-policy.yaml", None, r"the catalog holds no SLO documents \(.*" + ALERTING),
    ("sloctl/alert-condition.yaml", None, r"the catalog holds no SLO documents \(.*" + ALERTING),
    # ---- OpenSLO v1 README and examples/
    ("openslo/readme-ratio-metric-ref.yaml", ["foo-slo"], ""),  # type: Prometheus + metricSourceRef, no DataSource
    ("openslo/readme-threshold-ref-without-type.yaml", None,
     r"document 1 \(queue-lag\): spec\.indicator\.spec\.thresholdMetric\.metricSource\.metricSourceRef: no kind: "
     r"DataSource named 'redshift-datasource' in the catalog \(DataSources: none\) and the metricSource gives no "
     r"type: add spec\.indicator\.spec\.thresholdMetric\.metricSource\.type \(Prometheus, Thanos, Mimir or "
     r"VictoriaMetrics\) or a kind: DataSource named 'redshift-datasource' of such a type to the catalog \(line 16\)"),
    ("openslo/readme-inlined-slo.yaml", None,
     r"document 1 \(foo-slo\): spec\.indicator\.spec\.ratioMetric\.good\.metricSource\.type: " + PROMETHEUS_ONLY
     + r", got 'Datadog'"),
    ("openslo/budgeting-method-occurences-slo.yaml", None, r"document 1 \(search-slo\): .*" + PROMETHEUS_ONLY
     + ", got 'Any'"),
    ("openslo/budgeting-method-ratio-timeslices.yaml", None, r"document 1 \(main-page\): .*got 'Any'"),
    ("openslo/budgeting-method-timeslices-slo.yaml", None, r"document 1 \(service-availability\): .*got 'Any'"),
    ("openslo/treat-low-traffic-as-equally-important-timeslices-slo.yaml", None,
     r"document 1 \(service-availability\): .*got 'Any'"),
]


def test_every_published_file_has_an_outcome() -> None:
    listed = {case[0] for case in PUBLISHED}
    on_disk = {str(p.relative_to(DATA)) for p in DATA.rglob("*.y*ml")}
    assert on_disk == listed


@pytest.mark.parametrize(("name", "read", "refusal"), PUBLISHED, ids=[case[0] for case in PUBLISHED])
def test_published_examples(name: str, read: list[str] | None, refusal: str) -> None:
    path = DATA / name
    if read is not None:
        assert [slo.name for slo in read_catalog(path).slos] == read
        return
    with pytest.raises(BadInputError, match=f"^{re.escape(str(path))}: {refusal}") as caught:
        read_catalog(path)
    assert caught.value.exit_code == 2


# --------------------------------------------------------------------------------------------- references
def test_a_reference_with_its_type_is_read_and_stated() -> None:
    """go-sdk export/inputs/v1_slo.yaml: `metricSourceRef: my-prometheus` with `type: Prometheus`; the catalog has no
    DataSource my-prometheus. The SLO is read as the type says; the reference is noted and on the first screen."""
    catalog = read_catalog(DATA / "openslo-go-sdk" / "export-v1_slo.yaml")
    (objective,) = catalog.objectives
    assert objective.metric_source_refs == ["my-prometheus"]
    assert objective.threshold.metricSource.type == "Prometheus"
    note = ("document 1, item 1 (my-slo): metricSourceRef my-prometheus names no DataSource in the catalog; read as "
            "its type Prometheus (the kit queries GORELIABLE_PROMETHEUS_URL)")
    assert note in catalog.notes
    sentence = catalog_sentence(catalog, catalog.objectives, "30d", own_windows=False)
    assert "metric sources by reference (metricSourceRef): my-slo -> my-prometheus" in sentence and note in sentence
    # with the go-sdk's example DataSources beside it (a second file: `prometheus` and `datadog`, not
    # `my-prometheus`), it reads the same; notes name each object's file
    files = [str(DATA / "openslo-go-sdk" / name) for name in ("export-v1_slo.yaml", "examples-data_sources.yaml")]
    both = read_catalog(files)
    assert [s.name for s in both.slos] == ["my-slo"] and f"{files[0]}: {note}" in both.notes
    assert f"{files[1]}: document 1, item 1 (prometheus): DataSource prometheus (Prometheus): its connectionDetails " \
           "are not used (the kit queries GORELIABLE_PROMETHEUS_URL)" in both.notes


SLO = """\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout-availability
spec:
  service: checkout
  indicatorRef: checkout-ok
  budgetingMethod: Occurrences
  objectives:
    - target: 0.999
"""
SLI = """\
apiVersion: openslo/v1
kind: SLI
metadata:
  name: checkout-ok
spec:
  ratioMetric:
    bad:
      metricSource:
        metricSourceRef: prom
        spec:
          query: sum(rate(http_requests_total{service="checkout",code=~"5.."}[5m]))
    total:
      metricSource:
        metricSourceRef: prom
        spec:
          query: sum(rate(http_requests_total{service="checkout"}[5m]))
"""
DATA_SOURCE = """\
apiVersion: openslo/v1
kind: DataSource
metadata:
  name: prom
spec:
  type: VictoriaMetrics
  connectionDetails:
    url: http://vmselect:8481/select/0/prometheus
"""


def _split(folder: Path, *, data_source: bool = True) -> Path:
    """The SLO, its SLI and its DataSource in three files (as the spec allows: they refer to each other by name)."""
    folder.mkdir()
    (folder / "10-slo.yaml").write_text(SLO)
    (folder / "20-sli.yml").write_text(SLI)
    if data_source:
        (folder / "30-datasource.yaml").write_text(DATA_SOURCE)
    (folder / "README.md").write_text("not a catalog file\n")
    (folder / "nested").mkdir()
    (folder / "nested" / "other.yaml").write_text(SLO.replace("checkout-availability", "nested"))  # not read
    return folder


def test_a_folder_or_several_files_make_one_catalog(tmp_path: Path) -> None:
    folder = _split(tmp_path / "slos")
    catalog = read_catalog(folder)
    (objective,) = catalog.objectives
    assert (objective.name, objective.total_selector.to_promql()) == \
        ("checkout-availability", 'http_requests_total{service="checkout"}')
    assert objective.bad_selector.to_promql() == 'http_requests_total{service="checkout",code=~"5.."}'
    assert objective.ratio.total.metricSource.type == "VictoriaMetrics"  # taken from the DataSource in another file
    assert objective.metric_source_refs == ["prom"]
    assert catalog.path == str(folder)
    assert catalog.notes == [f"{folder}/30-datasource.yaml: document 1 (prom): DataSource prom (VictoriaMetrics): "
                             "its connectionDetails are not used (the kit queries GORELIABLE_PROMETHEUS_URL)"]
    files = [str(folder / name) for name in ("10-slo.yaml", "20-sli.yml", "30-datasource.yaml")]
    assert catalog_files(folder) == files  # sorted by name; not README.md, not nested/
    # a list, comma-separated text, and the files in another order (references go either way) read the same
    for given in (files, ",".join(files), list(reversed(files)), f"{files[2]}, {folder}"):
        again = read_catalog(given)
        assert [o.name for o in again.objectives] == ["checkout-availability"]
        assert again.objectives[0].ratio.total.metricSource.type == "VictoriaMetrics"
    assert read_catalog(files).path == ", ".join(files)


def test_a_reference_without_type_or_data_source_is_refused_naming_what_to_add(tmp_path: Path) -> None:
    folder = _split(tmp_path / "slos", data_source=False)
    with pytest.raises(BadInputError) as caught:
        read_catalog(folder)
    assert str(caught.value) == (
        f"{folder}/20-sli.yml: document 1 (checkout-ok), SLI of SLO checkout-availability: "
        "spec.ratioMetric.bad.metricSource.metricSourceRef: no kind: DataSource named 'prom' in the catalog "
        "(DataSources: none) and the metricSource gives no type: add spec.ratioMetric.bad.metricSource.type "
        "(Prometheus, Thanos, Mimir or VictoriaMetrics) or a kind: DataSource named 'prom' of such a type to the "
        "catalog (line 9)")


def test_the_slo_own_problem_is_said_before_its_reference(tmp_path: Path) -> None:
    """No SLI for the SLO and a dangling reference in the file: the missing SLI is the problem said."""
    folder = _split(tmp_path / "slos", data_source=False)
    (folder / "20-sli.yml").write_text(SLI.replace("name: checkout-ok", "name: checkout-okay"))
    with pytest.raises(BadInputError, match=r"10-slo\.yaml: document 1 \(checkout-availability\): spec\.indicatorRef: "
                                            r"no kind: SLI document named 'checkout-ok' in the catalog \(SLIs: "
                                            r"checkout-okay\) \(line 7\)$"):
        read_catalog(folder)
    # a field another tool writes (Nobl9's promql) beside a dangling reference: the field is said, at its SLI
    (folder / "20-sli.yml").write_text(SLI.replace("query:", "promql:", 1))
    with pytest.raises(BadInputError, match=r"20-sli\.yml: document 1 \(checkout-ok\): "
                                            r"spec\.ratioMetric\.bad\.metricSource\.spec\.query: required field "
                                            r"missing; this spec has promql .* \(line 11\)$"):
        read_catalog(folder)


@pytest.mark.parametrize(("kind", "second", "message"), [
    ("SLO", SLO, r"metadata\.name: duplicate SLO name 'checkout-availability', first defined in {first}: document 1"),
    ("SLI", SLI, r"metadata\.name: duplicate SLI name 'checkout-ok', first defined in {first}: document 1"),
    ("DataSource", DATA_SOURCE, r"metadata\.name: duplicate DataSource name 'prom', first defined in {first}: "
                                r"document 1"),
])
def test_duplicates_across_files_name_both_files(tmp_path: Path, kind: str, second: str, message: str) -> None:
    folder = _split(tmp_path / "slos")
    first = {"SLO": "10-slo.yaml", "SLI": "20-sli.yml", "DataSource": "30-datasource.yaml"}[kind]
    (folder / "40-copy.yaml").write_text(second)
    with pytest.raises(BadInputError, match="^" + str(folder / "40-copy.yaml").replace(".", r"\.")
                       + r": document 1 \(.*\): " + message.format(first=str(folder / first).replace(".", r"\."))):
        read_catalog(folder)


def test_catalog_parameter_takes_a_folder_or_several_files(tmp_path: Path) -> None:
    folder = _split(tmp_path / "slos")
    incident = {"incident_start": "2026-11-20T14:00:00Z", "incident_end": "2026-11-20T15:00:00Z"}
    for report in ("slo", "postmortem"):
        base = stub_parameters(**(incident if report == "postmortem" else {}))
        for given in (str(folder), [str(folder / "10-slo.yaml"), str(folder / "20-sli.yml"),
                                    str(folder / "30-datasource.yaml")]):
            resolved = resolve_parameters(get_report(report), {**base, "catalog": given}, (), use_default_file=False)
            assert resolved["catalog"] == given
        with pytest.raises(BadInputError, match=r"catalog: file '.*/nope' not found, nor a folder of that name"):
            resolve_parameters(get_report(report), {**base, "catalog": [str(folder), str(tmp_path / "nope")]}, (),
                               use_default_file=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BadInputError, match=r"catalog: .*empty: the catalog folder holds no \*\.yaml or \*\.yml file"):
        resolve_parameters(get_report("slo"), {**stub_parameters(), "catalog": str(empty)}, (),
                           use_default_file=False)


# --------------------------------------------------------------------------------------------- Sloth names
SLOTH = """\
version: prometheus/v1
service: {service}
slos:
  - name: {name}
    objective: 99.5
    sli:
      events:
        error_query: sum(rate(http_requests_total{{code=~"5.."}}[{{{{.window}}}}]))
        total_query: sum(rate(http_requests_total[{{{{.window}}}}]))
"""


def test_every_name_sloth_accepts_is_read(tmp_path: Path) -> None:
    """Sloth's rule (pkg/common/conventions NameRegexp `^[A-Za-z0-9][-A-Za-z0-9_.]*[A-Za-z0-9]$`, no length limit):
    upper case, `_` and `.`, and ids past 63 characters; the id is Sloth's `<service>-<name>`."""
    long_name = "checkout-" + "x" * 290
    specs = [("My_Service.v2", "Availability_99.9"), ("a", "b"), ("payments", long_name)]
    text = "---\n".join(SLOTH.format(service=service, name=name) for service, name in specs)
    path = tmp_path / "sloth.yaml"
    path.write_text(text)
    slos = read_catalog(path).slos
    assert [s.name for s in slos] == ["My_Service.v2-Availability_99.9", "a-b", f"payments-{long_name}"]
    assert [s.service for s in select_slos(slos, "My_Service.v2-Availability_99.9")] == ["My_Service.v2"]
    # file names: a name safe for files is kept; a 309-character one is cut, with a hash keeping it distinct
    assert file_stem(slos[0].name) == "My_Service.v2-Availability_99.9"
    stem = file_stem(slos[2].name)
    assert len(stem) == 80 + 9 and stem.startswith("payments-checkout-xxx") and stem != file_stem(slos[2].name + "y")


@pytest.mark.parametrize(("service", "name", "message"), [
    ("myservice", "bad name", r"document 1 \(myservice\), SLO myservice-bad name: slos\[0\]\.name: " + SLOTH_RULE
     + r" \(Sloth's rule for names\), got 'bad name' \(line 4\)"),
    ("myservice", "-dash", r"SLO myservice--dash: slos\[0\]\.name: " + SLOTH_RULE),
    ("my/service", "ok", r"document 1 \(my/service\): service: " + SLOTH_RULE + r" .*, got 'my/service' \(line 2\)"),
])
def test_names_sloth_refuses_are_refused_with_its_rule(tmp_path: Path, service: str, name: str, message: str) -> None:
    path = tmp_path / "sloth.yaml"
    path.write_text(SLOTH.format(service=f'"{service}"', name=f'"{name}"'))
    with pytest.raises(BadInputError, match=message):
        read_catalog(path)


def test_one_sloth_id_from_two_specs_is_refused_naming_both(tmp_path: Path) -> None:
    """`a-b` + `c` and `a` + `b-c` are both Sloth's id `a-b-c`: its rules' `sloth_id` would mix them."""
    path = tmp_path / "sloth.yaml"
    path.write_text(SLOTH.format(service="a-b", name="c") + "---\n" + SLOTH.format(service="a", name="b-c"))
    with pytest.raises(BadInputError, match=r"document 2 \(a\), SLO a-b-c: slos\[0\]\.name: duplicate SLO name "
                                            r"'a-b-c', first defined in document 1, slos\[0\] \(line 14\)"):
        read_catalog(path)


def test_a_refusal_names_the_sloth_slo_among_many(tmp_path: Path) -> None:
    """The third SLO of a spec is refused: the message names it, not only `slos[2]`."""
    published = (DATA / "sloth" / "getting-started.yml").read_text()
    entries = [published.split("slos:\n", 1)[1].replace("requests-availability", name)
               for name in ("first", "second", "third")]
    entries[2] = entries[2].replace("sum(rate(http_request_duration_seconds_count{job=\"myservice\"}[{{.window}}]))",
                                    "sum(rate(http_request_duration_seconds_count{job=\"myservice\"}[{{.window}}:1m]))")
    path = tmp_path / "sloth.yaml"
    path.write_text(published.split("slos:\n", 1)[0] + "slos:\n" + "".join(entries))
    with pytest.raises(BadInputError, match=r"document 1 \(myservice\), SLO myservice-third: "
                                            r"slos\[2\]\.sli\.events\.total_query: must count the total events"):
        read_catalog(path)
