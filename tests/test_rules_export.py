"""`goreliable rules`: the burn-rate rules of a rule set for a catalog's SLOs, checked by `promtool check rules`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from goreliable_lib.analysis.backtest import DEFAULT_RULE_SET
from goreliable_lib.cli import main
from goreliable_lib.cli import rules as cli_rules
from goreliable_lib.events import rules as event_rules
from goreliable_lib.events.rules import alert_expression, error_ratio, rule_group, windows_of
from goreliable_lib.inputs.catalog import read_catalog

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
CATALOGS = ["params/slos.yaml", "params/slos.pyrra.yaml", "params/slos.sloth.yaml"]
needs_promtool = pytest.mark.skipif(not Path(PROMTOOL).exists(), reason="promtool is not installed")


def rules(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["rules", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def promtool_check(document: dict, tmp_path: Path) -> str:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    done = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@needs_promtool
@pytest.mark.parametrize("catalog", CATALOGS)
@pytest.mark.parametrize("rule_format", ["prometheus", "prometheus-operator"])
def test_the_seed_catalogs_rules_pass_promtool(catalog: str, rule_format: str, capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    code, out, err = rules(capsys, "--catalog", catalog, "--format", rule_format)
    assert code == 0, err
    document = yaml.safe_load(out)
    if rule_format == "prometheus-operator":
        assert document["apiVersion"] == "monitoring.coreos.com/v1" and document["kind"] == "PrometheusRule"
        assert document["metadata"]["name"] == "goreliable-slo-default"
        document = document["spec"]
    # six SLOs; the workbook's four rules use the windows 5m 30m 1h 2h 6h 1d 3d: 6 x (7 recording + 4 alerting)
    assert "SUCCESS: 66 rules found" in promtool_check(document, tmp_path)
    assert len(document["groups"]) == 6
    assert all(group["interval"] == "1m" for group in document["groups"])


def test_the_seed_availability_slo_rules_read_as_the_workbook_writes_them() -> None:
    seed = {o.name: o for o in read_catalog("params/slos.yaml").objectives}["api-gateway-availability"]
    pyrra = {o.name: o for o in read_catalog("params/slos.pyrra.yaml").objectives}["api-gateway-availability"]
    # the seed gives the good requests (code!~"5.."), Pyrra the errors (code=~"5..")
    assert error_ratio(seed, "5m") == ('1 - sum(rate(http_requests_total{service="api-gateway",code!~"5.."}[5m])) / '
                                       'sum(rate(http_requests_total{service="api-gateway"}[5m]))')
    assert error_ratio(pyrra, "1h") == ('sum(rate(http_requests_total{service="api-gateway",code=~"5.."}[1h])) / '
                                        'sum(rate(http_requests_total{service="api-gateway"}[1h]))')
    page_fast = DEFAULT_RULE_SET.rules[0]  # page, 1h / 5m, 14.4
    assert alert_expression(seed, page_fast) == (
        'slo:sli_error:ratio_rate1h{slo="api-gateway-availability"} > (14.4 * (1 - 0.999)) and '
        'slo:sli_error:ratio_rate5m{slo="api-gateway-availability"} > (14.4 * (1 - 0.999))')
    assert windows_of(DEFAULT_RULE_SET) == ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]
    group = rule_group(seed, DEFAULT_RULE_SET)
    alerts = [r for r in group["rules"] if "alert" in r]
    assert [(a["labels"]["severity"], a["labels"]["long"], a["labels"]["short"]) for a in alerts] == [
        ("page", "1h", "5m"), ("page", "6h", "30m"), ("ticket", "1d", "2h"), ("ticket", "3d", "6h")]
    assert all("for" not in a for a in alerts)  # the default fires at once
    latency = {o.name: o for o in read_catalog("params/slos.yaml").objectives}["api-gateway-latency"]
    assert 'le=~"0\\\\.30*"' in error_ratio(latency, "5m")  # every spelling of 0.3, as the engine sends it


@needs_promtool
def test_a_grouped_slo_sums_by_its_labels(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = rules(capsys, "--catalog", "tests/data/published/pyrra/prometheus-http.yaml")
    assert code == 0, err
    document = yaml.safe_load(out)
    recorded = [r["expr"] for g in document["groups"] for r in g["rules"] if "record" in r]
    assert recorded and all(e.startswith("sum by (handler)(rate(") and " / sum by (handler)(rate(" in e
                            for e in recorded)
    assert "SUCCESS: 11 rules found" in promtool_check(document, tmp_path)  # one SLO: 7 recording + 4 alerting


@needs_promtool
def test_a_candidate_rule_set_with_for(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    sets = tmp_path / "sets.yaml"
    sets.write_text("rule_sets:\n  slow:\n    - {severity: page, long: 2h, short: 10m, factor: 10, for: 5m}\n"
                    "    - {severity: ticket, long: 3d, short: 6h, factor: 1}\n", encoding="utf-8")
    code, out, err = rules(capsys, "--catalog", "params/slos.yaml", "--rule-sets", str(sets), "--rule-set", "slow")
    assert code == 0, err
    document = yaml.safe_load(out)
    first = document["groups"][0]
    assert first["name"] == "goreliable-slow-api-gateway-availability"
    assert [r["record"] for r in first["rules"] if "record" in r] == [
        "slo:sli_error:ratio_rate10m", "slo:sli_error:ratio_rate2h", "slo:sli_error:ratio_rate6h",
        "slo:sli_error:ratio_rate3d"]
    alerts = [r for r in first["rules"] if "alert" in r]
    assert alerts[0]["for"] == "5m" and "for" not in alerts[1]
    assert "(10 * (1 - 0.999))" in alerts[0]["expr"]
    assert "SUCCESS: 36 rules found" in promtool_check(document, tmp_path)  # 6 SLOs x (4 recording + 2 alerting)


def test_what_the_rules_cannot_express_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = rules(capsys, "--catalog", "params/slos-llm-p99.yaml")
    assert (code, out) == (2, "") and "SLO llm-p99-latency: its indicator is a thresholdMetric" in err
    sliced = tmp_path / "sliced.yaml"
    sliced.write_text(Path("params/slos.yaml").read_text(encoding="utf-8").replace(
        "budgetingMethod: Occurrences", "budgetingMethod: Timeslices\n  # sliced", 1).replace(
        "    - displayName: 99.9% of requests succeed\n      target: 0.999",
        "    - displayName: 99.9% of requests succeed\n      target: 0.999\n      timeSliceTarget: 0.95\n"
        "      timeSliceWindow: 5m", 1), encoding="utf-8")
    code, out, err = rules(capsys, "--catalog", str(sliced))
    assert (code, out) == (2, "") and "SLO api-gateway-availability: budgetingMethod Timeslices" in err
    code, out, err = rules(capsys, "--catalog", "params/slos.yaml", "--rule-set", "fast")
    assert code == 2 and "--rule-set fast: no such rule set (known: default, catalog" in err
    code, out, err = rules(capsys, "--catalog", "params/slos.yaml", "--rule-set", "catalog")
    assert code == 2 and "the catalog declares no alerting the kit reads" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("slow:\n  - {severity: page, long: 5m, short: 1h, factor: 14.4}\n", encoding="utf-8")
    code, out, err = rules(capsys, "--catalog", "params/slos.yaml", "--rule-sets", str(bad), "--rule-set", "slow")
    assert code == 2 and "slow[0].short: '1h' is longer than long ('5m')" in err
    code, out, err = rules(capsys, "--catalog", str(tmp_path / "missing.yaml"))
    assert code == 2 and "missing.yaml" in err


@needs_promtool
@pytest.mark.parametrize("catalog", ["params/slos.pyrra.yaml", "params/slos.sloth.yaml"])
@pytest.mark.parametrize("rule_format", ["prometheus", "prometheus-operator"])
def test_the_catalogs_declared_alerting_passes_promtool(catalog: str, rule_format: str,
                                                        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = rules(capsys, "--catalog", catalog, "--rule-set", "catalog", "--format", rule_format)
    assert code == 0, err
    document = yaml.safe_load(out)
    if rule_format == "prometheus-operator":
        assert document["metadata"]["name"] == "goreliable-slo-catalog"
        document = document["spec"]
    # Pyrra and Sloth both declare four rules on seven distinct windows for each of the six SLOs
    assert "SUCCESS: 66 rules found" in promtool_check(document, tmp_path)


def test_the_cli_offers_the_formats_the_rules_module_writes() -> None:
    assert cli_rules.FORMATS == event_rules.FORMATS
