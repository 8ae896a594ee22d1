"""`goreliable rules --catalog FILE [--rule-set NAME] [--rule-sets FILE] [--format prometheus|prometheus-operator]`:
the recording and alerting rules of a burn-rate rule set for every SLO of a catalog, on standard output.

This module only adds the arguments (nothing heavy is imported to parse them); `cli.rules_export` prints the rules.
"""

from __future__ import annotations

import argparse

#: events.rules.FORMATS, repeated so that parsing the arguments imports nothing heavy (a test holds them equal)
FORMATS = ("prometheus", "prometheus-operator")


def configure(parser: argparse.ArgumentParser) -> None:
    """The arguments of `rules`."""
    parser.add_argument("--catalog", required=True, metavar="FILE",
                        help="the SLO catalog (OpenSLO, Pyrra, Sloth: a file, a folder or several, comma-separated)")
    parser.add_argument("--rule-set", default="default", metavar="NAME",
                        help="`default` (the SRE workbook's multiwindow, multi-burn-rate rules), `catalog` (the "
                             "alerting each SLO's catalog declares: Pyrra, Sloth, OpenSLO), or a candidate named in "
                             "--rule-sets (default: default)")
    parser.add_argument("--rule-sets", metavar="FILE",
                        help="candidate rule sets: YAML mapping names to lists of {severity, long, short, factor, "
                             "for} (or holding that mapping under `rule_sets:`)")
    parser.add_argument("--format", choices=FORMATS, default="prometheus",
                        help="a Prometheus rule file (default) or a prometheus-operator PrometheusRule object")
    parser.set_defaults(func="goreliable_lib.cli.rules_export:run")
