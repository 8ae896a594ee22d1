"""`goreliable rules`: print the rules of a rule set for every SLO of a catalog (events/rules.py writes them).

Exit 2, naming the problem, for a catalog whose SLO the rules cannot express (a thresholdMetric, a time-slice
budget; with `--rule-set catalog`, an SLO declaring no alerting the kit reads), an unknown rule set or a bad
rule-sets file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

import yaml

from goreliable_lib.analysis.backtest import CATALOG_RULE_SET, DEFAULT_RULE_SET, RuleSet, parse_rule_sets
from goreliable_lib.errors import BadInputError
from goreliable_lib.events.rules import rules_document
from goreliable_lib.inputs.catalog import read_catalog
from goreliable_lib.inputs.yamlfile import read_yaml
from goreliable_lib.paths import resolve


def candidate_rule_sets(path: str | None) -> list[RuleSet]:
    """The candidate rule sets of a `--rule-sets` file (none without one)."""
    if path is None:
        return []
    document = read_yaml(resolve(path), what="rule sets", shown=path)
    if isinstance(document, Mapping) and set(document) == {"rule_sets"}:
        document = document["rule_sets"]
    return parse_rule_sets(document, field=path)


def chosen_rule_set(name: str, candidates: list[RuleSet]) -> RuleSet | None:
    """The rule set `--rule-set` names (None: `catalog`, each SLO's declared alerting)."""
    if name == DEFAULT_RULE_SET.name:
        return DEFAULT_RULE_SET
    if name == CATALOG_RULE_SET:
        return None
    for rule_set in candidates:
        if rule_set.name == name:
            return rule_set
    known = ", ".join(["default", "catalog", *(r.name for r in candidates)])
    raise BadInputError(f"--rule-set {name}: no such rule set (known: {known}"
                        f"{'' if candidates else '; candidates come from --rule-sets FILE'})")


def rules_text(document: dict[str, Any], header: str) -> str:
    """The rules as YAML, after a comment line saying what they are."""
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120, default_flow_style=False)
    return f"# {header}\n{body}"


def run(args: argparse.Namespace) -> int:
    """Print the rules; 0, or 2 (BadInputError) for what cannot be expressed."""
    rule_set = chosen_rule_set(args.rule_set, candidate_rule_sets(args.rule_sets))
    catalog = read_catalog(args.catalog)
    document = rules_document(catalog.objectives, rule_set, args.format)
    name = CATALOG_RULE_SET if rule_set is None else rule_set.name
    sys.stdout.write(rules_text(document, f"goreliable rules: rule set {name}, catalog {args.catalog}"))
    return 0
