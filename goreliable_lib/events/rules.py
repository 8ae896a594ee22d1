"""Prometheus recording and alerting rules of a burn-rate rule set for the SLOs of a catalog (`goreliable rules`).

Pure functions from the catalog's objectives and an `analysis.backtest.RuleSet` to rule groups (plain data, dumped
as YAML by the CLI). Rules (what the export promises):
- one group per objective, `goreliable-<rule set>-<objective>`, evaluated every minute (`interval: 1m`, as the
  backtest evaluates `for`);
- recording rules, one per window the rule set uses (its long and short windows): the error ratio over the window,
  `slo:sli_error:ratio_rate<window>{slo="<objective>"}` =
  `sum(rate(bad[w])) / sum(rate(total[w]))`, or `1 - sum(rate(good[w])) / sum(rate(total[w]))` when the catalog
  gives the good events; the selectors are the catalog's, `le` equalities widened to every spelling of the bound
  as the event engine sends them (`inputs.promql.widen_le`). A grouped SLO (Pyrra `grouping`, Sloth `sum by`)
  sums `by (its labels)`: one ratio, and one alert, per group the server holds;
- alerting rules, one per rule: `SLOErrorBudgetBurn` with
  `long_ratio > factor * (1 - objective) and short_ratio > factor * (1 - objective)`, `for:` when the rule has
  one, labels `severity`, `slo`, `long`, `short`, `rule_set`, and a summary and description;
- the `catalog` rule set is, for each SLO, the alerting its catalog declares (`SLO.alerting`, Pyrra's and Sloth's:
  `analysis.backtest.declared_rule_set`); an SLO that declares its alerts disabled gets no group, one that
  declares none the kit reads is refused;
- what cannot be written as such rules is refused (`BadInputError` naming the objective): a `thresholdMetric`
  indicator (a value compared per time slice: no events to take a ratio of) and a `Timeslices` budget (its budget
  is slices, not events: an event ratio's burn rate does not spend it).
The exact backtest (`analysis.backtest.firing`) holds a rule's condition when the burn rate is >= its factor;
Prometheus' `rate()` ratios are floats whose equality with the threshold does not happen in practice, and `>` is
what Pyrra, Sloth and the SRE workbook write.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from goreliable_lib.analysis.backtest import CATALOG_RULE_SET, BurnRateRule, RuleSet, declared_rule_set, window_text
from goreliable_lib.analysis.slo import window_length
from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs.catalog import SLOObjective
from goreliable_lib.inputs.promql import Selector, quote, widen_le

FORMATS = ("prometheus", "prometheus-operator")
#: The alert every rule raises (its labels tell the rules apart).
ALERT_NAME = "SLOErrorBudgetBurn"
#: The rule groups' evaluation interval: every minute, as the backtest evaluates.
INTERVAL = "1m"
_OPERATOR_API_VERSION = "monitoring.coreos.com/v1"


def recording_name(window: str) -> str:
    """The recorded error ratio over a window: `slo:sli_error:ratio_rate5m`."""
    return f"slo:sli_error:ratio_rate{window}"


def windows_of(rule_set: RuleSet) -> list[str]:
    """The windows the rule set's rules use, shortest first (as the kit writes them: `5m`, `1h`, `3d`)."""
    lengths = {window_length(w) for rule in rule_set.rules for w in (rule.long_window, rule.short_window)}
    return [window_text(length) for length in sorted(lengths)]


def expressible(objective: SLOObjective) -> None:
    """BadInputError naming the objective when its alerting cannot be written as burn-rate rules."""
    if objective.threshold is not None:
        raise BadInputError(f"SLO {objective.name}: its indicator is a thresholdMetric (a value compared per time "
                            "slice): burn-rate rules need good or bad and total event counters")
    if objective.time_sliced:
        raise BadInputError(f"SLO {objective.name}: budgetingMethod {objective.budgeting_method} counts its budget "
                            "in time slices, which an event ratio's burn rate does not spend: no burn-rate rules")


def _rate_sum(selector: Selector, window: str, by: Sequence[str]) -> str:
    grouping = f" by ({', '.join(by)})" if by else ""
    return f"sum{grouping}(rate({widen_le(selector).to_promql()}[{window}]))"


def error_ratio(objective: SLOObjective, window: str) -> str:
    """The PromQL of the objective's error ratio over `window` (see the rules)."""
    expressible(objective)
    by = objective.grouping
    total = _rate_sum(objective.total_selector, window, by)
    if objective.bad_selector is not None:
        return f"{_rate_sum(objective.bad_selector, window, by)} / {total}"
    return f"1 - {_rate_sum(objective.good_selector, window, by)} / {total}"  # type: ignore[arg-type]


def _selected(objective: SLOObjective, window: str) -> str:
    return f"{recording_name(window)}{{slo={quote(objective.name)}}}"


def alert_expression(objective: SLOObjective, rule: BurnRateRule) -> str:
    """`long > factor * (1 - objective) and short > factor * (1 - objective)` on the recorded ratios."""
    threshold = f"({rule.burn_rate:g} * (1 - {objective.objective:g}))"
    return (f"{_selected(objective, window_text(window_length(rule.long_window)))} > {threshold} and "
            f"{_selected(objective, window_text(window_length(rule.short_window)))} > {threshold}")


def inline_alert_expression(objective: SLOObjective, rule: BurnRateRule) -> str:
    """The alert expression with the recorded ratios written out (for a server that does not run the recording
    rules: the Prometheus view of `events.prometheus_view`)."""
    threshold = f"({rule.burn_rate:g} * (1 - {objective.objective:g}))"
    return " and ".join(f"({error_ratio(objective, window_text(window_length(w)))}) > {threshold}"
                        for w in (rule.long_window, rule.short_window))


def alerting_rule(objective: SLOObjective, rule: BurnRateRule, rule_set: str) -> dict[str, Any]:
    """One alerting rule of the rule set for the objective."""
    long, short = (window_text(window_length(w)) for w in (rule.long_window, rule.short_window))
    entry: dict[str, Any] = {"alert": ALERT_NAME, "expr": alert_expression(objective, rule)}
    if rule.for_minutes:
        entry["for"] = window_text(rule.for_)
    entry["labels"] = {"severity": rule.severity, "slo": objective.name, "long": long, "short": short,
                       "rule_set": rule_set}
    entry["annotations"] = {
        "summary": f"SLO {objective.name}: the error budget burns {rule.burn_rate:g}x too fast",
        "description": (f"SLO {objective.name} ({objective.objective * 100:g}%): the error ratio over {long} and "
                        f"over {short} are above {rule.burn_rate:g} x (1 - {objective.objective:g}); at this pace "
                        f"a 30-day budget lasts {30 / rule.burn_rate:.3g} days.")}
    return entry


def _group_name(rule_set: str, objective: SLOObjective) -> str:
    return f"goreliable-{rule_set}-{objective.name}"


def rule_group(objective: SLOObjective, rule_set: RuleSet) -> dict[str, Any]:
    """The rule group of one objective: its recording rules, then its alerting rules."""
    recording = [{"record": recording_name(window), "expr": error_ratio(objective, window),
                  "labels": {"slo": objective.name}} for window in windows_of(rule_set)]
    alerting = [alerting_rule(objective, rule, rule_set.name) for rule in rule_set.rules]
    return {"name": _group_name(rule_set.name, objective), "interval": INTERVAL, "rules": recording + alerting}


def catalog_rule_sets(objectives: Sequence[SLOObjective]) -> list[tuple[SLOObjective, RuleSet]]:
    """Each objective with the rule set of the alerting its catalog declares (`SLO.alerting`); an SLO that declares
    its alerts disabled is left out; BadInputError naming the first that declares none the kit reads."""
    pairs = []
    for objective in objectives:
        alerting = objective.slo.alerting
        if alerting is None:
            raise BadInputError(f"SLO {objective.name}: the catalog declares no alerting the kit reads (Pyrra "
                                "spec.alerting, Sloth alerting, OpenSLO alertPolicies with a burnrate condition); "
                                "export --rule-set default or a candidate instead")
        if alerting:
            pairs.append((objective, declared_rule_set(alerting)))
    return pairs


def rule_groups(pairs: Sequence[tuple[SLOObjective, RuleSet]]) -> list[dict[str, Any]]:
    """The rule groups of every objective with its rule set (each checked by `expressible` first: nothing is
    written for a catalog with one objective the rules cannot express)."""
    for objective, rule_set in pairs:
        expressible(objective)
        if not rule_set.rules:
            raise BadInputError(f"rule set {rule_set.name}: it has no rules")
    return [rule_group(objective, rule_set) for objective, rule_set in pairs]


def prometheus_rule_file(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """A Prometheus rule file (`rule_files:`; `promtool check rules`)."""
    return {"groups": groups}


def kubernetes_name(text: str) -> str:
    """A DNS-1123 name from any text (lower case, `-` for the rest)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:253] or "rules"


def prometheus_rule_object(groups: list[dict[str, Any]], rule_set: str) -> dict[str, Any]:
    """A prometheus-operator `PrometheusRule` holding the groups in `spec`."""
    return {"apiVersion": _OPERATOR_API_VERSION, "kind": "PrometheusRule",
            "metadata": {"name": kubernetes_name(f"goreliable-slo-{rule_set}"),
                         "labels": {"app.kubernetes.io/part-of": "goreliable"}},
            "spec": prometheus_rule_file(groups)}


def rules_document(objectives: Sequence[SLOObjective], rule_set: RuleSet | None, rule_format: str) -> dict[str, Any]:
    """The rules of a rule set (None: the alerting the catalog declares, `catalog_rule_sets`) for the objectives,
    in one of `FORMATS`."""
    if rule_format not in FORMATS:
        raise BadInputError(f"--format: {rule_format!r} is not one of {', '.join(FORMATS)}")
    pairs = catalog_rule_sets(objectives) if rule_set is None else [(o, rule_set) for o in objectives]
    groups = rule_groups(pairs)
    if rule_format == "prometheus":
        return prometheus_rule_file(groups)
    return prometheus_rule_object(groups, CATALOG_RULE_SET if rule_set is None else rule_set.name)
