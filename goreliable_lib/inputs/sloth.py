"""Sloth specs (`version: prometheus/v1`) read into OpenSLO v1 SLOs, one per entry of `slos`.

The fields, as Sloth defines them (github.com/slok/sloth, pkg/prometheus/api/v1/v1.go): `service`, `labels`,
`slos` [{`name`, `objective` (a percent, 0 < objective < 100: Sloth's 100 leaves no error budget), `description`,
`sli`, `alerting`}]. An SLO is named like Sloth's own `sloth_id`: `<service>-<name>`. Sloth specs carry no window
(Sloth defaults to 30 days), so the SLO has no `timeWindow` and the kit's default (30 days rolling) applies.

Names: every name Sloth accepts is read (its rule, pkg/common/conventions NameRegexp, for the service, the SLO name
and the id alike: letters of either case, digits, `-`, `_`, `.`, starting and ending with a letter or digit, of any
length), so the id `<service>-<name>` may pass the 63 characters of an OpenSLO name (`SlothSLO` keeps Sloth's rule
for it). One-character names, which Sloth refuses, are read too (the kit always read them). The id is the SLO's name
in the kit as in Sloth's own rules (`sloth_id`): stable, and unique in a catalog (two specs giving one id are refused
as duplicate names, as Sloth refuses them).

Every refusal names the SLO: `file: document N (service), SLO <service>-<name>: slos[i].field: why (line L)`.

`sli.events` {`error_query`, `total_query`} is read when each query counts events of one counter selector:
`SEL`, `sum(SEL)`, `sum(rate(SEL[{{.window}}]))` or `sum(increase(SEL[{{.window}}]))` (bad and total events).
Sloth's latency idiom, `error_query: sum(rate(TOTAL[{{.window}}])) - sum(rate(FAST[{{.window}}]))` with TOTAL the
total_query's selector, is read exactly as good = FAST. Either query grouped, `sum by (job) (rate(...))` or
`sum(rate(...)) by (job)`, makes a grouped SLO (one SLO per value of `job`, as Sloth's recording rules keep the
label): both queries (and both sides of the latency idiom) must be grouped by the same labels. Refused with the
reason: `sli.raw` (a precomputed error ratio cannot be summed into events), `sli.plugin` (the query is made by
code), `without`, any other expression (a ratio of arbitrary PromQL cannot be counted exactly: write the counter
selectors).

`alerting` is kept as the SLO's declared alerting (`SLO.alerting`), as Sloth generates it with its default windows
(internal/alert/windows/google-30d.yaml, the SRE workbook's): `page` 1h/5m spending 2% of the budget (14.4x) and
6h/30m spending 5% (6x), `ticket` 1d/2h and 3d/6h spending 10% (3x, 1x), no `for`; `page_alert.disable` or
`ticket_alert.disable` leaves that severity out. Sloth's custom `AlertWindows` are refused by the catalog.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import Field, field_validator, model_validator

from goreliable_lib.inputs.openslo import SLO, DeclaredBurnRate, Metadata
from goreliable_lib.inputs.promql import (
    Selector,
    parse_counter_difference,
    parse_counter_query,
    parse_grouped_difference,
    split_grouping,
)
from goreliable_lib.inputs.yamlfile import SpecModel, validate_document
from goreliable_lib.timeutil import parse_duration

VERSION = "prometheus/v1"
#: Sloth's default alert windows (internal/alert/windows/google-30d.yaml): per severity (error budget percent, long
#: window, short window) for an SLO period of 30 days.
SLOTH_WINDOWS = {"page": ((2, "1h", "5m"), (5, "6h", "30m")), "ticket": ((10, "1d", "2h"), (10, "3d", "6h"))}
SLO_PERIOD = pd.Timedelta(days=30)
FORMAT = "Sloth prometheus/v1"
_COUNT = "sum(rate(COUNTER{...}[{{.window}}]))"
_WHY = "a query of arbitrary PromQL cannot be counted exactly from the counters' raw samples"
#: Sloth's NameRegexp (`^[A-Za-z0-9][-A-Za-z0-9_.]*[A-Za-z0-9]$`), also allowing one character as the kit always did.
NAME = r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
_NAME_RULE = ("must start and end with a letter or digit and hold only letters, digits, '.', '_' and '-' (Sloth's "
              "rule for names)")


def _sloth_name(value: str) -> str:
    if not re.fullmatch(NAME, value):
        raise ValueError(f"{_NAME_RULE}, got {value!r}")
    return value


def _refused(role: str, text: str, also: str = "") -> str:
    return (f"must count the {'bad' if role == 'error_query' else 'total'} events of one counter, as {_COUNT} or a "
            f"plain selector{also} ({_WHY}), got {text.strip()!r}")



class Events(SpecModel):
    error_query: str
    total_query: str

    @field_validator("total_query")
    @classmethod
    def _total(cls, value: str) -> str:
        try:
            parse_counter_query(split_grouping(value)[0], window_template=True)
        except ValueError:
            raise ValueError(_refused("total_query", value)) from None
        return value

    @model_validator(mode="after")
    def _errors(self) -> Events:
        self.selectors()
        return self

    def grouping(self) -> tuple[str, ...]:
        """The labels both queries are grouped by (`sum by (...)`), in total_query's order; () when ungrouped."""
        return split_grouping(self.total_query)[1]

    def selectors(self) -> tuple[str, Selector, Selector]:
        """("bad" or "good", that selector, the total selector); the two queries grouped alike (`grouping`)."""
        total_text, by = split_grouping(self.total_query)
        total = parse_counter_query(total_text, window_template=True)
        role, part, error_by = self._error(total)
        if set(error_by) != set(by):
            raise ValueError(f"error_query and total_query must be grouped by the same labels (Sloth divides one "
                             f"by the other, which matches series on those labels): total_query is grouped "
                             f"{_by_text(by)}, error_query {_by_text(error_by)}")
        return role, part, total

    def _error(self, total: Selector) -> tuple[str, Selector, tuple[str, ...]]:
        """("bad" or "good", its selector, the labels error_query is grouped by)."""
        grouped = parse_grouped_difference(self.error_query, window_template=True)
        difference = parse_counter_difference(self.error_query, window_template=True)
        if grouped is not None or difference is not None:
            minuend, good = grouped[:2] if grouped is not None else difference  # type: ignore[misc]
            if minuend != total:
                raise ValueError(f"error_query: `A - B` is read as total - good only when A is total_query's "
                                 f"selector ({total.to_promql()}), got {minuend.to_promql()}: write error_query as "
                                 "the total minus the good events' counter, or as the bad events' counter")
            return "good", good, grouped[2] if grouped is not None else ()
        error_text, error_by = split_grouping(self.error_query)
        try:
            return "bad", parse_counter_query(error_text, window_template=True), error_by
        except ValueError:
            raise ValueError("error_query: " + _refused("error_query", self.error_query, ", or as total minus good: "
                             "sum(rate(TOTAL[{{.window}}])) - sum(rate(GOOD[{{.window}}]))")) from None


def _by_text(labels: tuple[str, ...]) -> str:
    return f"by ({', '.join(labels)})" if labels else "not at all"


class SLI(SpecModel):
    events: Events | None = None
    raw: Any = None
    plugin: Any = None

    @model_validator(mode="after")
    def _events(self) -> SLI:
        if self.raw is not None:
            raise ValueError("raw: a precomputed error ratio (error_ratio_query) cannot be summed into exact event "
                             "counts; write sli.events with error_query and total_query on counters")
        if self.plugin is not None:
            raise ValueError("plugin: an SLI plugin builds its query in code, which is not read; write sli.events "
                             "with error_query and total_query on counters")
        if self.events is None:
            raise ValueError("events: required field missing (error_query and total_query)")
        return self


class Alert(SpecModel):
    disable: bool = False


class Alerting(SpecModel):
    name: str | None = None
    page_alert: Alert | None = None
    ticket_alert: Alert | None = None


class SLOEntry(SpecModel):
    name: str
    objective: float
    description: str | None = None
    sli: SLI
    alerting: Alerting | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _sloth_name(value)

    @field_validator("objective")
    @classmethod
    def _percent(cls, value: float) -> float:
        if not (0 < value < 100 and math.isfinite(value)):
            raise ValueError(f"must be a percent between 0 and 100 exclusive (99.9 is 99.9%; 100 leaves no error "
                             f"budget), got {value}")
        return value


class Spec(SpecModel):
    """The spec without its SLOs' contents: each entry of `slos` is validated on its own, so that its refusal names
    the SLO."""

    version: Literal["prometheus/v1"]
    service: str
    labels: dict[str, Any] | None = None
    slos: list[dict[str, Any]] = Field(min_length=1)

    @field_validator("service")
    @classmethod
    def _service(cls, value: str) -> str:
        return _sloth_name(value)


class SlothMetadata(Metadata):
    name: str = Field(pattern=NAME)  # the id `<service>-<name>`: Sloth's rule, not the 63-character DNS label


class SlothSLO(SLO):
    """A Sloth SLO read into OpenSLO v1: the same model, with Sloth's names (they may pass 63 characters and hold
    upper case, `_` and `.`)."""

    metadata: SlothMetadata


def slo_label(label: str, service: str, name: Any) -> str:
    """`document 1 (myservice), SLO myservice-requests-availability`: where a Sloth SLO stands, by its id."""
    return f"{label}, SLO {service}-{name}" if isinstance(name, str) and name else label


def _metric(selector: Selector) -> dict[str, Any]:
    return {"metricSource": {"type": "Prometheus", "spec": {"query": selector.to_promql()}}}


def declared_alerting(alerting: Alerting | None) -> tuple[DeclaredBurnRate, ...] | None:
    """The burn-rate alerts Sloth generates for an SLO's `alerting` (see the module's docstring); None without
    `alerting`."""
    if alerting is None:
        return None
    found = []
    hour = pd.Timedelta(hours=1)
    for severity, alert in (("page", alerting.page_alert), ("ticket", alerting.ticket_alert)):
        if alert is not None and alert.disable:
            continue
        for budget_percent, long, short in SLOTH_WINDOWS[severity]:
            long_length, short_length = parse_duration(long), parse_duration(short)
            # Sloth's getBurnRateFactor: the hours that spend the share of the budget, over the long window's hours
            factor = budget_percent * (SLO_PERIOD / hour) / 100 / (long_length / hour)
            found.append(DeclaredBurnRate(severity, long_length, short_length, factor))
    return tuple(found)


def to_openslo(document: dict[str, Any], label: str, node: yaml.Node) -> list[
        tuple[dict[str, Any], str, tuple[Any, ...], tuple[str, ...], tuple[DeclaredBurnRate, ...] | None]]:
    """The OpenSLO v1 SLO documents of one Sloth spec, each with its label (`slo_label`), where its entry sits
    (`("slos", i)`), the labels it is grouped by (`sum by (...)`; () when not grouped) and its declared alerting
    (`declared_alerting`). A refusal names the SLO as well as the field."""
    spec = validate_document(Spec, document, label, node)
    found = []
    for i, raw in enumerate(spec.slos):
        entry_label = slo_label(label, spec.service, raw.get("name"))
        entry = validate_document(SLOEntry, raw, entry_label, node, prefix=("slos", i))
        role, part, total = entry.sli.events.selectors()  # type: ignore[union-attr]
        found.append(({
            "apiVersion": "openslo/v1", "kind": "SLO",
            "metadata": {"name": f"{spec.service}-{entry.name}", "labels": dict(spec.labels or {})},
            "spec": {"description": entry.description, "service": spec.service,
                     "indicator": {"metadata": {"name": entry.name},
                                   "spec": {"ratioMetric": {"counter": True, role: _metric(part),
                                                            "total": _metric(total)}}},
                     "budgetingMethod": "Occurrences",
                     "objectives": [{"displayName": f"{entry.objective:g}%", "targetPercent": entry.objective}]},
        }, entry_label, ("slos", i), entry.sli.events.grouping(),  # type: ignore[union-attr]
            declared_alerting(entry.alerting)))
    return found
