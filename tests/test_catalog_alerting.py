"""The alerting a catalog declares (Pyrra `spec.alerting`, Sloth `alerting`), read as `SLO.alerting`, turned into
the SLO review's `catalog` rule set and exported by `goreliable rules --rule-set catalog`.

Expected windows come from the formats' own sources, not from the kit: Pyrra's slo/rules_test.go (commit
1ba95afbf90b2311cb9332b1633cf09218b7de9f) expects for a 7d window 15m/1m for 1m at 14, 1h30m/8m for 4m at 7,
6h/30m for 15m at 2 and 1d/1h30m for 45m at 1; Sloth's internal/alert/windows/google-30d.yaml (commit
0e395d81513ff701f5d27b7aa47d794cb764fd5e) gives page 1h/5m at 2% and 6h/30m at 5%, ticket 1d/2h and 3d/6h at 10%
of a 30-day budget, i.e. factors 0.02 x 720h / 1h = 14.4, 0.05 x 720 / 6 = 6, 0.1 x 720 / 24 = 3, 0.1 x 720 / 72 = 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from goreliable_lib.analysis.backtest import DEFAULT_RULE_SET, declared_rule_set, firing, minute_grid
from goreliable_lib.cli import main
from goreliable_lib.inputs.catalog import read_catalog

PUBLISHED = Path("tests/data/published")
M = pd.Timedelta(minutes=1)


def rules_of(alerting) -> list[tuple]:
    return [(a.severity, a.long / M, a.short / M, a.factor, a.for_ / M) for a in alerting]


def alerting_of(path: Path | str) -> dict:
    return {o.name: o.slo.alerting for o in read_catalog(str(path)).objectives}


def test_pyrra_windows_are_those_pyrra_generates_for_a_7d_window() -> None:
    (alerting,) = alerting_of(PUBLISHED / "pyrra" / "prometheus-http.yaml").values()  # window: 7d, no alerting
    assert rules_of(alerting) == [("critical", 15, 1, 14, 1), ("critical", 90, 8, 7, 4), ("warning", 360, 30, 2, 15),
                                  ("warning", 1440, 90, 1, 45)]


def test_pyrra_windows_for_30d_round_like_go() -> None:
    alerting = alerting_of("params/slos.pyrra.yaml")["api-gateway-availability"]
    # 30d = 43200 min: /672 = 64.29 -> 64m, /8064 = 5.36 -> 5m, /20160 = 2.14 -> 2m; /112 = 385.7 -> 386m,
    # /1344 = 32.1 -> 32m, /2688 = 16.07 -> 16m; /28 = 1542.9 -> 1543m, /336 = 128.6 -> 129m, /672 -> 64m;
    # /7 = 6171.4 -> 6171m, /112 -> 386m, /224 = 192.9 -> 193m
    assert rules_of(alerting) == [("critical", 64, 5, 14, 2), ("critical", 386, 32, 7, 16),
                                  ("warning", 1543, 129, 2, 64), ("warning", 6171, 386, 1, 193)]


def test_pyrra_alerting_fields(tmp_path: Path) -> None:
    text = (PUBLISHED / "pyrra" / "prometheus-http.yaml").read_text(encoding="utf-8")
    renamed = tmp_path / "renamed.yaml"
    renamed.write_text(text.replace("  window: 7d", "  window: 7d\n  alerting:\n    severities: {fastBurn: page, "
                                    "longTermBurn: ticket}"), encoding="utf-8")
    assert [r[0] for r in rules_of(*alerting_of(renamed).values())] == ["page", "critical", "warning", "ticket"]
    for off in ("disabled: true", "burnrates: false"):
        quiet = tmp_path / "quiet.yaml"
        quiet.write_text(text.replace("  window: 7d", f"  window: 7d\n  alerting:\n    {off}"), encoding="utf-8")
        assert list(alerting_of(quiet).values()) == [()]


def test_sloth_alerting_is_the_workbooks_page_and_ticket() -> None:
    (alerting,) = alerting_of(PUBLISHED / "sloth" / "getting-started.yml").values()
    assert rules_of(alerting) == [("page", 60, 5, pytest.approx(14.4), 0), ("page", 360, 30, 6, 0),
                                  ("ticket", 1440, 120, 3, 0), ("ticket", 4320, 360, 1, 0)]
    assert set(alerting_of(PUBLISHED / "sloth" / "no-alerts.yml").values()) == {()}  # both disabled


def test_sloth_page_alert_disabled_keeps_the_tickets(tmp_path: Path) -> None:
    text = Path("params/slos.sloth.yaml").read_text(encoding="utf-8")
    path = tmp_path / "sloth.yaml"
    path.write_text(text.replace("page_alert: {labels: {severity: page}}", "page_alert: {disable: true}"),
                    encoding="utf-8")
    found = alerting_of(path)
    assert [a.severity for a in found["api-gateway-availability"]] == ["ticket", "ticket"]
    assert [a.severity for a in found["api-gateway-latency"]] == ["page", "page", "ticket", "ticket"]


def test_openslo_slos_declare_nothing_the_kit_reads() -> None:
    assert set(alerting_of("params/slos.yaml").values()) == {None}


def test_the_catalog_rule_set_of_sloth_fires_as_the_default() -> None:
    """Sloth's windows are the workbook's: on any events the two rule sets fire at the same minutes."""
    (alerting,) = alerting_of(PUBLISHED / "sloth" / "getting-started.yml").values()
    catalog = declared_rule_set(alerting)
    assert catalog.name == "catalog"
    assert [(r.severity, r.long_window, r.short_window, r.for_minutes) for r in catalog.rules] == [
        ("page", "1h", "5m", 0), ("page", "6h", "30m", 0), ("ticket", "1d", "2h", 0), ("ticket", "3d", "6h", 0)]
    rng = np.random.default_rng(7)
    minutes = pd.date_range("2026-01-01T00:01:00Z", periods=6 * 1440, freq="min")
    total = rng.integers(50, 150, len(minutes)).astype(float)
    bad = np.where((np.arange(len(minutes)) // 240) % 7 == 3, total * 0.2, total * 0.0005).round()
    events = pd.DataFrame({"timestamp": minutes, "good": total - bad, "total": total})
    grid = minute_grid(events, pd.Timestamp("2026-01-01T00:00:00Z"), minutes[-1])
    first = 4320  # after the longest window
    ours, theirs = firing(grid, 0.999, DEFAULT_RULE_SET, first, len(grid)), firing(grid, 0.999, catalog, first,
                                                                                  len(grid))
    assert ours["page"].any() and ours["ticket"].any()
    assert all(np.array_equal(ours[s], theirs[s]) for s in ("page", "ticket"))


def test_goreliable_rules_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "--catalog", "params/slos.pyrra.yaml", "--rule-set", "catalog"]) == 0
    document = yaml.safe_load(capsys.readouterr().out)
    first = document["groups"][0]
    assert first["name"] == "goreliable-catalog-api-gateway-availability"
    alerts = [r for r in first["rules"] if "alert" in r]
    assert (alerts[0]["for"], alerts[0]["labels"]["long"], alerts[0]["labels"]["severity"]) == ("2m", "64m",
                                                                                                "critical")
    assert alerts[0]["expr"].startswith('slo:sli_error:ratio_rate64m{slo="api-gateway-availability"} > (14 * (1 - ')
    assert main(["rules", "--catalog", str(PUBLISHED / "sloth" / "no-alerts.yml"), "--rule-set", "catalog"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == {"groups": []}  # every alert disabled: no rule
    assert main(["rules", "--catalog", "params/slos.yaml", "--rule-set", "catalog"]) == 2
    assert "SLO api-gateway-availability: the catalog declares no alerting the kit reads" in capsys.readouterr().err


def test_openslo_alert_policies_inline_and_referenced() -> None:
    """The go-sdk's inline example: a policy referring to `cpu-usage-breach` (op lte: not a fast-burn alert, left
    out with a note) and a policy with an inline gt 2 over 1h after 5m, severity page."""
    catalog = read_catalog(str(PUBLISHED / "openslo-go-sdk" / "inline-v1_slo.yaml"))
    found = {o.name: o.slo.alerting for o in catalog.objectives}
    assert found["my-slo-1"] is None
    assert rules_of(found["my-slo-2"]) == [("page", 60, 60, 2, 5)]
    assert any("alertPolicies[0].conditions[0]: op 'lte' does not alert on a fast burn" in n for n in catalog.notes)


def test_openslo_alert_policy_ref_across_files(tmp_path: Path) -> None:
    """sloctl's AlertPolicy `low-priority-2` refers to the AlertCondition `memory-usage-breach` (gte 4.0 over 1h,
    severity High, no alertAfter); an SLO referring to the policy declares that one rule."""
    slo = tmp_path / "slo.yaml"
    first = Path("params/slos.yaml").read_text(encoding="utf-8").split("\n---\n")[0]  # api-gateway-availability
    slo.write_text(first.replace("  budgetingMethod: Occurrences", "  budgetingMethod: Occurrences\n  alertPolicies:\n"
                                 "    - alertPolicyRef: low-priority-2\n    - alertPolicyRef: nowhere"),
                   encoding="utf-8")
    sloctl = PUBLISHED / "sloctl"
    files = ",".join([str(sloctl / "alert-condition.yaml"), str(sloctl / "alert-policy.yaml"), str(slo)])
    catalog = read_catalog(files)
    (objective,) = catalog.objectives
    assert objective.name == "api-gateway-availability"
    assert rules_of(objective.slo.alerting) == [("High", 60, 60, 4, 0)]
    assert any("alertPolicyRef 'nowhere': no such AlertPolicy" in n for n in catalog.notes)
    rule_set = declared_rule_set(objective.slo.alerting)
    assert [(r.long_window, r.short_window, r.burn_rate) for r in rule_set.rules] == [("1h", "1h", 4.0)]
