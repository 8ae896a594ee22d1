"""Pyrra `ServiceLevelObjective` objects (`apiVersion: pyrra.dev/v1alpha1`) read into OpenSLO v1 SLOs.

The fields, as Pyrra's CRD defines and validates them (github.com/pyrra-dev/pyrra,
kubernetes/api/v1alpha1/servicelevelobjective_types.go):
- `spec.target`: a percent as a string (`"99.5"`; a YAML number is read the same), 0 < target < 100;
- `spec.window`: a Prometheus duration (`4w`, `28d`, `2w`): a rolling window;
- `spec.indicator.ratio` {`errors`, `total`} -> OpenSLO `bad` and `total`; `spec.indicator.latency` {`success`,
  `total`} -> `good` and `total`, `success` carrying the `le` bucket matcher as Pyrra requires. Each `metric`
  must be a vector selector (Pyrra's own rule, and what the exact count needs);
- the service is the `service` label of `metadata.labels` when there is one, else the SLO's name (Pyrra has no
  service field); `metadata.name` names the SLO.
`grouping` [labels] of `ratio` or `latency` makes a grouped SLO: one SLO per combination of the labels' values
(Pyrra's "an SLO for many SLIs at once, like HTTP handlers"), found from the server's series when a report runs.
Refused with the reason: `latencyNative` (native histograms: no bucket counter to count exactly), `bool_gauge` (a
gauge's samples are not events), with or without their `grouping`. `partial_response_strategy` is Pyrra's own
and ignored.

`spec.alerting` is kept as the SLO's declared alerting (`SLO.alerting`), as Pyrra generates it (slo/rules.go
`Windows`): four multiwindow burn-rate alerts whose windows and `for` scale with the SLO's window (Go's duration
division, rounded to the minute; for 28d: 1h/5m for 2m at 14 and 6h/30m for 15m at 7, severity critical; 1d/2h for
1h at 2 and 4d/6h for 3h at 1, severity warning), `alerting.severities` {fastBurn, mediumBurn, slowBurn,
longTermBurn} renaming the severities; none when `alerting.disabled` is true or `alerting.burnrates` false (Pyrra
then writes no burn-rate alert). Pyrra's `absent` alerts are not burn-rate alerts and are not kept.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import Field, field_validator, model_validator

from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs.openslo import DeclaredBurnRate
from goreliable_lib.inputs.promql import LABEL_NAME, parse_selector
from goreliable_lib.inputs.yamlfile import SpecModel, validate_document
from goreliable_lib.timeutil import parse_duration

API_VERSION = "pyrra.dev/v1alpha1"
FORMAT = "Pyrra pyrra.dev/v1alpha1"



class Query(SpecModel):
    metric: str

    @field_validator("metric")
    @classmethod
    def _selector(cls, value: str) -> str:
        try:
            parse_selector(value)
        except ValueError:
            raise ValueError(f"must be a vector selector like metric{{label=\"value\"}} (Pyrra's own rule; the SLI "
                             f"is counted exactly from the counter's raw samples, which an expression does not "
                             f"allow), got {value.strip()!r}") from None
        return value.strip()


def _label_names(value: list[str] | None) -> list[str] | None:
    for label in value or []:
        if not isinstance(label, str) or not LABEL_NAME.fullmatch(label):
            raise ValueError(f"{label!r} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)")
    if value and len(set(value)) != len(value):
        raise ValueError(f"a label is named twice in {value}")
    return value


class Ratio(SpecModel):
    errors: Query
    total: Query
    grouping: list[str] | None = None

    _grouping = field_validator("grouping")(_label_names)


class Latency(SpecModel):
    success: Query
    total: Query
    grouping: list[str] | None = None

    _grouping = field_validator("grouping")(_label_names)

    @model_validator(mode="after")
    def _bucket(self) -> Latency:
        if not any(m.label == "le" and m.op == "=" for m in parse_selector(self.success.metric).matchers):
            raise ValueError("success.metric: must select one histogram bucket with an le=\"...\" matcher (Pyrra's "
                             f"rule), got {self.success.metric!r}")
        return self


class Indicator(SpecModel):
    ratio: Ratio | None = None
    latency: Latency | None = None
    latencyNative: Any = None
    bool_gauge: Any = None

    @model_validator(mode="after")
    def _one(self) -> Indicator:
        if self.latencyNative is not None:
            raise ValueError("latencyNative: native histograms are not read (no bucket counter to count events "
                             "exactly); use latency with a classic histogram's _bucket{le=\"...\"} and _count")
        if self.bool_gauge is not None:
            raise ValueError("bool_gauge: a gauge's samples are not events and cannot be counted exactly; use ratio "
                             "with counters of good (or error) and total events")
        if (self.ratio is None) == (self.latency is None):
            raise ValueError("give exactly one of ratio or latency")
        return self


class Severities(SpecModel):
    absent: str | None = None
    fastBurn: str | None = None
    mediumBurn: str | None = None
    slowBurn: str | None = None
    longTermBurn: str | None = None


class Alerting(SpecModel):
    disabled: bool | None = None
    burnrates: bool | None = None
    absent: bool | None = None
    name: str | None = None
    severities: Severities | None = None


class Spec(SpecModel):
    description: str | None = None
    target: str | float
    window: str
    indicator: Indicator
    alerting: Alerting | None = None

    @field_validator("target")
    @classmethod
    def _percent(cls, value: str | float) -> str | float:
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"must be a percent like \"99.5\", got {value!r}") from None
        if not (0 < number < 100 and math.isfinite(number)):
            raise ValueError(f"must be a percent between 0 and 100 exclusive (\"99.9\" is 99.9%), got {value!r}")
        return value

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        try:
            parse_duration(value, field="window")
        except BadInputError:
            raise ValueError(f"must be a duration like 28d, 4w or 2w, got {value!r}") from None
        return value.strip()


class Metadata(SpecModel):
    name: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    namespace: str | None = None
    labels: dict[str, str] | None = None


class ServiceLevelObjective(SpecModel):
    apiVersion: Literal["pyrra.dev/v1alpha1"]
    kind: Literal["ServiceLevelObjective"]
    metadata: Metadata
    spec: Spec


#: Pyrra's burn-rate windows (slo/rules.go `Windows`): (severity, severity override, SLO window divisors of `for`,
#: long and short, factor).
_WINDOWS = (("critical", "fastBurn", 28 * 24 * 30, 28 * 24, 28 * 24 * 12, 14.0),
            ("critical", "mediumBurn", 28 * 24 * 4, 28 * 4, 28 * 24 * 2, 7.0),
            ("warning", "slowBurn", 28 * 24, 28, 28 * 12, 2.0),
            ("warning", "longTermBurn", 28 * 8, 7, 28 * 4, 1.0))
_MINUTE_NS = 60_000_000_000


def _go_scaled(window: pd.Timedelta, divisor: int) -> pd.Timedelta:
    """Go's `(window / divisor).Round(time.Minute)`: integer nanoseconds, then the nearest minute (halves away from
    zero)."""
    ns = int(window.value) // divisor
    return pd.Timedelta(minutes=(ns + _MINUTE_NS // 2) // _MINUTE_NS)


def declared_alerting(spec: Spec) -> tuple[DeclaredBurnRate, ...]:
    """The burn-rate alerts Pyrra generates for the spec (see the module's docstring)."""
    alerting = spec.alerting or Alerting()
    if alerting.disabled is True or alerting.burnrates is False:
        return ()
    window = parse_duration(spec.window, field="window")
    severities = alerting.severities or Severities()
    return tuple(DeclaredBurnRate(getattr(severities, override) or severity, _go_scaled(window, long),
                                  _go_scaled(window, short), factor, _go_scaled(window, for_))
                 for severity, override, for_, long, short, factor in _WINDOWS)


def _metric(selector: str) -> dict[str, Any]:
    return {"metricSource": {"type": "Prometheus", "spec": {"query": selector}}}


def to_openslo(document: dict[str, Any], label: str,
               node: yaml.Node) -> tuple[dict[str, Any], tuple[str, ...], tuple[DeclaredBurnRate, ...]]:
    """The OpenSLO v1 SLO document of one Pyrra ServiceLevelObjective (BadInputError naming the Pyrra field), the
    labels it is grouped by (`grouping`; () when not grouped) and its declared alerting (`declared_alerting`)."""
    slo = validate_document(ServiceLevelObjective, document, label, node)
    spec, indicator = slo.spec, slo.spec.indicator
    grouping = tuple((indicator.ratio or indicator.latency).grouping or ())  # type: ignore[union-attr]
    if indicator.ratio is not None:
        ratio = {"counter": True, "bad": _metric(indicator.ratio.errors.metric),
                 "total": _metric(indicator.ratio.total.metric)}
    else:
        ratio = {"counter": True, "good": _metric(indicator.latency.success.metric),  # type: ignore[union-attr]
                 "total": _metric(indicator.latency.total.metric)}  # type: ignore[union-attr]
    labels = slo.metadata.labels or {}
    target = float(spec.target)
    return {
        "apiVersion": "openslo/v1", "kind": "SLO",
        "metadata": {"name": slo.metadata.name, "labels": dict(labels)},
        "spec": {"description": spec.description or None, "service": labels.get("service") or slo.metadata.name,
                 "indicator": {"metadata": {"name": slo.metadata.name}, "spec": {"ratioMetric": ratio}},
                 "timeWindow": [{"duration": spec.window, "isRolling": True}],
                 "budgetingMethod": "Occurrences",
                 "objectives": [{"displayName": f"{target:g}%", "targetPercent": target}]},
    }, grouping, declared_alerting(spec)
