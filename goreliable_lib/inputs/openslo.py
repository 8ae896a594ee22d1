"""OpenSLO v1 objects as the specification and its tools write them (pydantic models; `inputs.catalog` reads the
files, resolves the references and turns each SLO objective into what the reports evaluate).

What is read, following the v1 README and the Go SDK's validation (github.com/OpenSLO/go-sdk, pkg/openslo/v1):
- `kind: SLO` with an inline `indicator` or an `indicatorRef` to a `kind: SLI`; or, per objective, an
  `indicator`/`indicatorRef` of its own (the SDK's composite form: each objective is then reported on its own,
  `compositeWeight` is not combined into one figure);
- `ratioMetric` (`good` or `bad`, and `total`; `counter` true or left out) on counter selectors, also written
  `sum(SEL)` or `sum(rate(SEL[5m]))` (`promql.parse_counter_query`), and `thresholdMetric` (any PromQL
  expression, one value per time slice, compared with the objective's `op`/`value`);
- `metricSource.type` Prometheus or a Prometheus-API store (Thanos, Mimir, VictoriaMetrics), or
  `metricSourceRef` to a `kind: DataSource` of such a type (resolved by the catalog, in any of its files); a
  `metricSourceRef` beside its own `type` is read without the DataSource (the kit never needs it);
- `timeWindow` optional (the kit then uses DEFAULT_WINDOW), rolling (`30d`, `4w`) or calendar (`1d`, `1w`, `1M`,
  `1Q`, `1Y`, `calendar.timeZone` any IANA zone, `calendar.startTime` as a string or a YAML timestamp);
  `isRolling` defaults to false when `calendar` is given (the README) and to true when not;
- `budgetingMethod` Occurrences, Timeslices (`timeSliceTarget`, `timeSliceWindow`) or RatioTimeslices
  (`timeSliceWindow`); a `timeSliceWindow` given as a bare number is minutes (the README).
Refused, each with the reason: a precomputed `raw` ratio, `counter: false`, other metric source types, a
`thresholdMetric` with Occurrences (a value is not a count of events) or with more than one objective (the
README), time slices that are not whole minutes.

An SLO's declared alerting (`SLO.alerting`, what the SLO review backtests as the `catalog` rule set) is kept as
plain `DeclaredBurnRate`s: Pyrra's `alerting` and Sloth's `page_alert`/`ticket_alert` (their readers give them),
and OpenSLO's `alertPolicies` (`declared_alerting`): each policy inline or an `alertPolicyRef` to a
`kind: AlertPolicy`, each of its `conditions` inline (`kind: AlertCondition`) or a `conditionRef`; a condition
`kind: burnrate` with `op` gt or gte, a positive `threshold`, `lookbackWindow` and `alertAfter` (whole minutes) is
one rule: the burn rate over `lookbackWindow` (one window: long = short) at or above `threshold`, for
`alertAfter`, severity the condition's `severity` (else `page`). A condition of another kind or `op` (lt, lte: not
an alert on a fast burn), with bad values, or a reference the catalog does not resolve is left out with a note
(the catalog is still read: its SLOs do not depend on it).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
from pydantic import Field, PrivateAttr, field_validator, model_validator

from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs.promql import Selector, parse_counter_query
from goreliable_lib.inputs.yamlfile import SpecModel
from goreliable_lib.timeutil import calendar_window, check_time_zone, parse_duration

API_VERSION = "openslo/v1"
#: metricSource / DataSource types that speak the Prometheus HTTP API (lower case -> the spelling reported).
PROMETHEUS_TYPES = {"prometheus": "Prometheus", "thanos": "Thanos", "mimir": "Mimir",
                    "victoriametrics": "VictoriaMetrics"}
#: OpenSLO v1 kinds that hold no SLO: read past with a note.
SKIPPED_KINDS = ("Service", "AlertPolicy", "AlertCondition", "AlertNotificationTarget")
KINDS = ("SLO", "SLI", "DataSource", *SKIPPED_KINDS)
BUDGETING_METHODS = ("Occurrences", "Timeslices", "RatioTimeslices")
#: The window of an SLO whose `timeWindow` is left out (optional in OpenSLO v1): the seed's 30 days rolling.
DEFAULT_WINDOW = "30d"
OPERATORS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


@dataclass(frozen=True)
class DeclaredBurnRate:
    """One burn-rate alert a catalog declares for an SLO, as its format writes it: it fires when the error ratio
    over `long` and over `short` are both above `factor` x (1 - objective), once that held for `for_`."""

    severity: str
    long: pd.Timedelta
    short: pd.Timedelta
    factor: float
    for_: pd.Timedelta = pd.Timedelta(0)
_NAME = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
_WALL_CLOCK = "%Y-%m-%d %H:%M:%S"



# --------------------------------------------------------------------------------------------- metrics
class _Query(SpecModel):
    """`spec` of a Prometheus metric source: its `query`."""

    query: str

    @model_validator(mode="before")
    @classmethod
    def _promql(cls, data: Any) -> Any:
        if isinstance(data, dict) and "query" not in data and "promql" in data:
            raise ValueError("query: required field missing; this spec has promql (Nobl9's name for the query), which "
                             "OpenSLO's Prometheus metric source writes as query")
        return data


class CounterQuery(_Query):
    """`spec` of a ratio metric's source: a count of events on a counter selector."""

    @field_validator("query")
    @classmethod
    def _selector(cls, value: str) -> str:
        parse_counter_query(value)
        return value.strip()

    @property
    def selector(self) -> Selector:
        return parse_counter_query(self.query)


class ExpressionQuery(_Query):
    """`spec` of a threshold metric's source: a PromQL expression with one value per time slice."""

    @field_validator("query")
    @classmethod
    def _expression(cls, value: str) -> str:
        text = value.strip()
        if not text:
            raise ValueError("must be a PromQL expression (e.g. a p99 from histogram_quantile), got an empty string")
        if "{{" in text:
            raise ValueError(f"holds a template ({{{{...}}}}): write the expression as Prometheus runs it, "
                             f"got {text!r}")
        return text


def _source_type(value: str | None) -> str | None:
    if value is None:
        return None
    known = PROMETHEUS_TYPES.get(str(value).lower())
    if known is None:
        raise ValueError(f"only Prometheus-API metric sources are supported ({', '.join(PROMETHEUS_TYPES.values())}),"
                         f" got {value!r}")
    return known


class _Source(SpecModel):
    metricSourceRef: str | None = None
    type: str | None = None

    @field_validator("type")
    @classmethod
    def _prometheus(cls, value: str | None) -> str | None:
        return _source_type(value)

    @model_validator(mode="after")
    def _type_or_ref(self) -> _Source:
        if self.type is None and self.metricSourceRef is None:
            raise ValueError("give type (Prometheus, Thanos, Mimir or VictoriaMetrics) or metricSourceRef (the name "
                             "of a kind: DataSource in the catalog)")
        return self


class CounterSource(_Source):
    spec: CounterQuery


class ExpressionSource(_Source):
    spec: ExpressionQuery


class Metric(SpecModel):
    metricSource: CounterSource


class RatioMetric(SpecModel):
    counter: bool = True  # left out in the spec's own examples; the kit reads counters only
    good: Metric | None = None
    bad: Metric | None = None
    total: Metric | None = None
    raw: Any = None

    @field_validator("counter")
    @classmethod
    def _counter(cls, value: bool) -> bool:
        if not value:
            raise ValueError("must be true: the SLI is counted from counters (a gauge's samples are not events); "
                             "write the counter selectors of the good (or bad) and total events")
        return value

    @model_validator(mode="after")
    def _good_or_bad(self) -> RatioMetric:
        if self.raw is not None:
            raise ValueError("raw: a precomputed ratio cannot be summed into exact event counts; give good (or bad) "
                             "and total counter selectors instead")
        if self.total is None:
            raise ValueError("total: required field missing (the counter of all events)")
        if (self.good is None) == (self.bad is None):
            raise ValueError("give exactly one of good or bad (with total)")
        return self


class ThresholdMetric(SpecModel):
    metricSource: ExpressionSource


class IndicatorSpec(SpecModel):
    description: str | None = None
    ratioMetric: RatioMetric | None = None
    thresholdMetric: ThresholdMetric | None = None

    @model_validator(mode="after")
    def _one(self) -> IndicatorSpec:
        if (self.ratioMetric is None) == (self.thresholdMetric is None):
            raise ValueError("give exactly one of ratioMetric or thresholdMetric")
        return self


class Indicator(SpecModel):
    metadata: dict[str, Any] | None = None
    spec: IndicatorSpec


# --------------------------------------------------------------------------------------------- windows
class Calendar(SpecModel):
    startTime: dt.datetime | None = None  # a wall-clock time in timeZone: `2020-01-21 12:30:00`, quoted or not
    timeZone: str = "UTC"

    @field_validator("startTime", mode="before")
    @classmethod
    def _wall_clock(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return dt.datetime.fromisoformat(value.strip())
            except ValueError:
                raise ValueError(f"must be a date and time like 2020-01-21 12:30:00, got {value!r}") from None
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return dt.datetime(value.year, value.month, value.day)
        return value

    @field_validator("timeZone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            return check_time_zone(value)
        except BadInputError as exc:
            raise ValueError(str(exc).removeprefix("timeZone: ")) from None


class TimeWindow(SpecModel):
    duration: str
    isRolling: bool | None = None  # the README: assumed false when `calendar` is present
    calendar: Calendar | None = None

    @model_validator(mode="after")
    def _duration(self) -> TimeWindow:
        if self.rolling:
            if self.calendar is not None:
                raise ValueError("calendar cannot be set when isRolling is true (a rolling window has no calendar)")
            if re.fullmatch(r"\d+[MQY]", self.duration):
                raise ValueError(f"duration: {self.duration!r} is a calendar duration: a rolling window is days or "
                                 f"weeks (e.g. 28d, 30d, 4w); for a calendar {self.duration} write isRolling: false")
            try:
                parse_duration(self.duration, field="duration")
            except BadInputError:
                raise ValueError(f"duration: {self.duration!r} is not a rolling duration (use e.g. 28d, 30d, 4w)") \
                    from None
            return self
        if re.fullmatch(r"\d+[mh]", self.duration):
            raise ValueError(f"duration: calendar windows are whole days, weeks, months, quarters or years (1d, 1w, "
                             f"1M, 1Q, 1Y), got {self.duration!r} (minutes or hours; did you mean "
                             f"{self.duration[:-1]}M?)")
        try:
            calendar_window(self.duration, pd.Timestamp("2026-01-01T00:00:00Z"), tz=self.time_zone,
                            start_time=self.start_time, field="duration")
        except BadInputError as exc:
            raise ValueError(str(exc)) from None
        return self

    @property
    def rolling(self) -> bool:
        return self.isRolling if self.isRolling is not None else self.calendar is None

    @property
    def time_zone(self) -> str:
        return self.calendar.timeZone if self.calendar is not None else "UTC"

    @property
    def start_time(self) -> pd.Timestamp | None:
        start = self.calendar.startTime if self.calendar is not None else None
        return pd.Timestamp(start) if start is not None else None

    def window_at(self, end: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The window ending at `end` (UTC): the last `duration`, or the calendar period to date."""
        if self.rolling:
            return end - parse_duration(self.duration, field="duration"), end
        return calendar_window(self.duration, end, tz=self.time_zone, start_time=self.start_time, field="duration")

    def describe(self) -> str:
        """`30d rolling`, `calendar 1M (Europe/Berlin)`, `calendar 1w from 2022-01-01 12:00 (America/New_York)`."""
        if self.rolling:
            return f"{self.duration} rolling"
        start = self.start_time
        anchor = f" from {start:%Y-%m-%d %H:%M}" if start is not None else ""
        return f"calendar {self.duration}{anchor} ({self.time_zone})"


# --------------------------------------------------------------------------------------------- objectives
def _slice_window(value: Any) -> pd.Timedelta:
    """`timeSliceWindow`: a duration (`5m`, `1h`) or a bare number of minutes; whole minutes only."""
    if isinstance(value, bool):
        raise ValueError(f"must be a duration like 1m or 5m, got {value!r}")
    try:
        window = (pd.Timedelta(minutes=float(value)) if isinstance(value, int | float)
                  else parse_duration(str(value), field="timeSliceWindow"))
    except (BadInputError, ValueError, OverflowError):
        raise ValueError(f"must be a duration like 1m or 5m (a bare number is minutes), got {value!r}") from None
    if window <= pd.Timedelta(0) or window % pd.Timedelta(minutes=1) or window > pd.Timedelta(days=1):
        raise ValueError(f"must be a whole number of minutes between 1m and 1d (events are counted per minute), "
                         f"got {value!r}")
    return window


class Objective(SpecModel):
    displayName: str | None = None
    op: Literal["lt", "lte", "gt", "gte"] | None = None
    value: float | None = None
    target: float | None = None
    targetPercent: float | None = None
    timeSliceTarget: float | None = None
    timeSliceWindow: str | int | float | None = None
    indicator: Indicator | None = None  # composite form: an indicator per objective
    indicatorRef: str | None = None
    compositeWeight: float | None = None

    @field_validator("target")
    @classmethod
    def _target(cls, value: float | None) -> float | None:
        if value is not None and not (0 < value < 1 and math.isfinite(value)):
            raise ValueError(f"must be between 0 and 1 exclusive, got {value}")
        return value

    @field_validator("targetPercent")
    @classmethod
    def _percent(cls, value: float | None) -> float | None:
        if value is not None and not (0 < value < 100 and math.isfinite(value)):
            raise ValueError(f"must be between 0 and 100 exclusive, got {value}")
        return value

    @field_validator("timeSliceTarget")
    @classmethod
    def _slice_target(cls, value: float | None) -> float | None:
        if value is not None and not (0 < value <= 1 and math.isfinite(value)):
            raise ValueError(f"must be above 0 and at most 1, got {value}")
        return value

    @field_validator("timeSliceWindow")
    @classmethod
    def _slice_window(cls, value: Any) -> Any:
        if value is not None:
            _slice_window(value)
        return value

    @field_validator("value")
    @classmethod
    def _value(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {value}")
        return value

    @field_validator("compositeWeight")
    @classmethod
    def _weight(cls, value: float | None) -> float | None:
        if value is not None and not value > 0:
            raise ValueError(f"must be above 0, got {value}")
        return value

    @model_validator(mode="after")
    def _one(self) -> Objective:
        if (self.target is None) == (self.targetPercent is None):
            raise ValueError("give exactly one of target (0..1) or targetPercent (0..100)")
        if self.indicator is not None and self.indicatorRef is not None:
            raise ValueError("give at most one of indicator (inline) or indicatorRef")
        return self

    @property
    def ratio(self) -> float:
        """The target, 0..1 (`targetPercent: 99.9` is exactly `target: 0.999`, not 99.9 / 100 = 0.99900...01)."""
        if self.target is not None:
            return self.target
        return float(decimal.Decimal(repr(self.targetPercent)) / 100)

    @property
    def slice_window(self) -> pd.Timedelta | None:
        return _slice_window(self.timeSliceWindow) if self.timeSliceWindow is not None else None

    @property
    def composite(self) -> bool:
        return self.indicator is not None or self.indicatorRef is not None


# --------------------------------------------------------------------------------------------- documents
class Metadata(SpecModel):
    name: str = Field(pattern=_NAME)
    displayName: str | None = None
    labels: dict[str, Any] | None = None
    annotations: dict[str, Any] | None = None


class SLOSpec(SpecModel):
    description: str | None = None
    service: str = Field(min_length=1)
    indicator: Indicator | None = None  # inline, or
    indicatorRef: str | None = None  # the metadata.name of a `kind: SLI` document in the same catalog
    timeWindow: list[TimeWindow] | None = Field(None, min_length=1, max_length=1)
    budgetingMethod: Literal["Occurrences", "Timeslices", "RatioTimeslices"]
    objectives: list[Objective] = Field(min_length=1)

    @model_validator(mode="after")
    def _indicators(self) -> SLOSpec:
        composite = [o.composite for o in self.objectives]
        own = self.indicator is not None or self.indicatorRef is not None
        if self.indicator is not None and self.indicatorRef is not None:
            raise ValueError("give exactly one of indicator (inline) or indicatorRef (the name of a kind: SLI "
                             "document)")
        if any(composite):
            if own:
                raise ValueError("indicator or indicatorRef must be given either on spec (one indicator) or on each "
                                 "of spec.objectives (composite), not both")
            if not all(composite):
                missing = composite.index(False)
                raise ValueError(f"objectives[{missing}]: every objective needs its indicator or indicatorRef when "
                                 "one has its own (composite)")
        elif not own:
            raise ValueError("give exactly one of indicator (inline) or indicatorRef (the name of a kind: SLI "
                             "document)")
        for i, objective in enumerate(self.objectives):
            if self.budgetingMethod == "Timeslices" and objective.timeSliceTarget is None:
                raise ValueError(f"objectives[{i}].timeSliceTarget: required with budgetingMethod Timeslices (the "
                                 "share of good events that makes a slice good)")
            if self.budgetingMethod != "Occurrences" and objective.timeSliceWindow is None:
                raise ValueError(f"objectives[{i}].timeSliceWindow: required with budgetingMethod "
                                 f"{self.budgetingMethod} (the length of a slice, e.g. 5m)")
        self._check_thresholds()
        return self

    def _check_thresholds(self) -> None:
        """The rules that need the indicator (when it is inline; a referenced one is checked once resolved)."""
        indicators = [o.indicator for o in self.objectives] if self.indicator is None else [self.indicator]
        threshold = any(i is not None and i.spec.thresholdMetric is not None for i in indicators)
        if not threshold:
            return
        if self.budgetingMethod != "Timeslices":
            raise ValueError(f"budgetingMethod: a thresholdMetric is a value, not a count of events, so "
                             f"{self.budgetingMethod} cannot be computed from it; use Timeslices with "
                             "timeSliceWindow (a slice is good when the value meets the objective's op and value)")
        if self.indicator is not None and len(self.objectives) > 1:
            raise ValueError("objectives: a thresholdMetric SLO has one objective (OpenSLO v1: \"If thresholdMetric "
                             "has been defined, only one Threshold can be defined\"); write one SLO per threshold")
        for i, objective in enumerate(self.objectives):
            if objective.op is None or objective.value is None:
                field = "op" if objective.op is None else "value"
                raise ValueError(f"objectives[{i}].{field}: required with a thresholdMetric (a slice is good when "
                                 "the metric's value <op> value holds, e.g. op: lt, value: 0.5)")

    @property
    def composite(self) -> bool:
        return any(o.composite for o in self.objectives)


class SLI(SpecModel):
    """An OpenSLO v1 `kind: SLI` document: an indicator SLOs share through `indicatorRef`."""

    apiVersion: Literal["openslo/v1"]
    kind: Literal["SLI"]
    metadata: Metadata
    spec: IndicatorSpec


class DataSourceSpec(SpecModel):
    description: str | None = None
    type: str
    connectionDetails: Any = None


class DataSource(SpecModel):
    """An OpenSLO v1 `kind: DataSource`: metric sources refer to it by name (`metricSourceRef`). Only its type is
    used: the kit reaches the server through GORELIABLE_PROMETHEUS_URL, never through connectionDetails."""

    apiVersion: Literal["openslo/v1"]
    kind: Literal["DataSource"]
    metadata: Metadata
    spec: DataSourceSpec


def _burn_rate(condition: Any, where: str, notes: list[str]) -> DeclaredBurnRate | None:
    """One AlertCondition's spec as a rule, or None with a note saying why it is left out."""
    spec = condition.get("spec") if isinstance(condition, dict) else None
    body = spec.get("condition") if isinstance(spec, dict) else None
    if not isinstance(body, dict) or body.get("kind") != "burnrate":
        notes.append(f"{where}: not a burnrate condition, left out of the catalog's alerting")
        return None
    if body.get("op") not in ("gt", "gte"):
        notes.append(f"{where}: op {body.get('op')!r} does not alert on a fast burn (gt or gte does), left out")
        return None
    threshold = body.get("threshold")
    try:
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold < math.inf:
            raise ValueError(f"threshold {threshold!r} is not a positive burn rate")
        lookback = parse_duration(body.get("lookbackWindow"), field="lookbackWindow")
        after = body.get("alertAfter")
        alert_after = pd.Timedelta(0) if after in (None, 0, "0", "0s", "0m") else parse_duration(after,
                                                                                              field="alertAfter")
        if lookback % pd.Timedelta(minutes=1) or alert_after % pd.Timedelta(minutes=1):
            raise ValueError("lookbackWindow and alertAfter must be whole minutes (rules are evaluated every minute)")
    except (ValueError, BadInputError) as exc:
        notes.append(f"{where}: {exc}, left out of the catalog's alerting")
        return None
    severity = spec.get("severity") if isinstance(spec.get("severity"), str) and spec.get("severity") else "page"
    return DeclaredBurnRate(severity, lookback, lookback, float(threshold), alert_after)


def declared_alerting(policies: Any, slo_name: str, policy_objects: dict[str, Any], condition_objects: dict[str, Any],
                      notes: list[str]) -> tuple[DeclaredBurnRate, ...] | None:
    """An OpenSLO SLO's `alertPolicies` as its declared alerting (see the module's docstring): None when it has
    none, or none of its conditions is a burn-rate alert the kit reads; `notes` gets what was left out."""
    if not isinstance(policies, list) or not policies:
        return None
    found: list[DeclaredBurnRate] = []
    for i, policy in enumerate(policies):
        where = f"SLO {slo_name}: alertPolicies[{i}]"
        if isinstance(policy, dict) and "alertPolicyRef" in policy:
            reference = policy["alertPolicyRef"]
            if reference not in policy_objects:
                notes.append(f"{where}: alertPolicyRef {reference!r}: no such AlertPolicy in the catalog, left out")
                continue
            policy = policy_objects[reference]
        conditions = policy.get("spec", {}).get("conditions") if isinstance(policy, dict) else None
        for j, condition in enumerate(conditions if isinstance(conditions, list) else []):
            if isinstance(condition, dict) and "conditionRef" in condition:
                reference = condition["conditionRef"]
                if reference not in condition_objects:
                    notes.append(f"{where}.conditions[{j}]: conditionRef {reference!r}: no such AlertCondition in the "
                                 "catalog, left out")
                    continue
                condition = condition_objects[reference]
            rule = _burn_rate(condition, f"{where}.conditions[{j}]", notes)
            if rule is not None:
                found.append(rule)
    return tuple(found) or None


class SLO(SpecModel):
    """One OpenSLO v1 SLO document (Pyrra and Sloth SLOs are read into this form too: `source_format` says which).

    The shortcuts (`objective`, `total_selector`, ...) are those of its first objective and its indicator, which is
    what an SLO with one objective has; `inputs.catalog.objectives_of` gives every objective."""

    apiVersion: Literal["openslo/v1"]
    kind: Literal["SLO"]
    metadata: Metadata
    spec: SLOSpec
    _source_format: str = PrivateAttr("OpenSLO v1")
    _grouping: tuple[str, ...] = PrivateAttr(())
    _alerting: tuple[DeclaredBurnRate, ...] | None = PrivateAttr(None)

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def alerting(self) -> tuple[DeclaredBurnRate, ...] | None:
        """The burn-rate alerts the catalog declares for it (Pyrra `alerting`, Sloth `page_alert`/`ticket_alert`);
        () when it declares its alerts disabled, None when it declares none the kit reads."""
        return self._alerting

    @property
    def service(self) -> str:
        return self.spec.service

    @property
    def source_format(self) -> str:
        """`OpenSLO v1`, `Pyrra pyrra.dev/v1alpha1` or `Sloth prometheus/v1`."""
        return self._source_format

    @property
    def grouping(self) -> tuple[str, ...]:
        """The labels of a grouped SLO (Pyrra `grouping`, Sloth `sum by (...)`): one SLO per combination of their
        values (`inputs.catalog.SLOObjective.group`); () for an SLO that is not grouped."""
        return self._grouping

    @property
    def objective(self) -> float:
        return self.spec.objectives[0].ratio

    @property
    def time_window(self) -> TimeWindow:
        """The SLO's window: its `timeWindow`, or DEFAULT_WINDOW rolling when it has none."""
        given = self.spec.timeWindow
        return given[0] if given else TimeWindow(duration=DEFAULT_WINDOW, isRolling=True)

    @property
    def window_given(self) -> bool:
        return bool(self.spec.timeWindow)

    @property
    def window(self) -> str:
        """The SLO's own window duration: `30d` (rolling) or `1M` / `1Q` (calendar)."""
        return self.time_window.duration

    @property
    def rolling(self) -> bool:
        return self.time_window.rolling

    @property
    def indicator(self) -> IndicatorSpec:
        indicator = self.spec.indicator or self.spec.objectives[0].indicator
        if indicator is None:
            raise BadInputError(f"SLO {self.name}: indicatorRef is resolved only when the catalog is read with "
                                "read_catalog / load_catalog")
        return indicator.spec

    @property
    def ratio(self) -> RatioMetric:
        ratio = self.indicator.ratioMetric
        if ratio is None:
            raise BadInputError(f"SLO {self.name}: a thresholdMetric has no good/total counters")
        return ratio

    @property
    def total_selector(self) -> Selector:
        return self.ratio.total.metricSource.spec.selector  # type: ignore[union-attr]

    @property
    def good_selector(self) -> Selector | None:
        return self.ratio.good.metricSource.spec.selector if self.ratio.good else None

    @property
    def bad_selector(self) -> Selector | None:
        return self.ratio.bad.metricSource.spec.selector if self.ratio.bad else None
