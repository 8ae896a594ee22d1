"""The SLO catalog: OpenSLO v1 `kind: SLO` documents (ratio indicators on Prometheus counters, inline or shared
through `indicatorRef` to a `kind: SLI` document in the same file), validated.

`load_catalog(path)` returns the SLOs; `load_policy(path)` the error-budget policy thresholds (an optional
`apiVersion: goreliable/v1, kind: ErrorBudgetPolicy` document in the same file; defaults from the seed).
Every validation error is a `BadInputError` naming the file, the document (number and SLO name) and the
field path, e.g. `params/slos.yaml: document 3 (order-success-rate): spec.objectives[0].target: must be
between 0 and 1 exclusive, got 1.5`.

Queries are Prometheus counter *selectors* (`metric{label="value", ...}`): the SLO is computed exactly from
the raw counter samples (see `reports.slo_events`), which an arbitrary expression would not allow. A histogram
threshold written `le="0.3"` matches the bucket whatever its spelling (`0.3`, `0.30`, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs.promql import Selector, parse_selector
from goreliable_lib.inputs.yamlfile import field_path
from goreliable_lib.paths import resolve
from goreliable_lib.timeutil import parse_duration

API_VERSION = "openslo/v1"
POLICY_API_VERSION = "goreliable/v1"
CALENDAR_DURATIONS = {"1M": "month", "1Q": "quarter"}
UTC_NAMES = {"UTC", "ETC/UTC", "GMT", "Z", "ZULU"}

# --------------------------------------------------------------------------------------------- OpenSLO models
class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class QuerySpec(_Model):
    query: str

    @field_validator("query")
    @classmethod
    def _selector(cls, value: str) -> str:
        parse_selector(value)
        return value.strip()


class MetricSource(_Model):
    type: str
    spec: QuerySpec

    @field_validator("type")
    @classmethod
    def _prometheus(cls, value: str) -> str:
        if value.lower() != "prometheus":
            raise ValueError(f"only Prometheus metric sources are supported, got {value!r}")
        return "Prometheus"


class Metric(_Model):
    metricSource: MetricSource


class RatioMetric(_Model):
    counter: bool
    good: Metric | None = None
    bad: Metric | None = None
    total: Metric

    @field_validator("counter")
    @classmethod
    def _counter(cls, value: bool) -> bool:
        if not value:
            raise ValueError("must be true (the SLI is computed from counters)")
        return value

    @model_validator(mode="after")
    def _good_or_bad(self) -> RatioMetric:
        if (self.good is None) == (self.bad is None):
            raise ValueError("give exactly one of good or bad (with total)")
        return self


class IndicatorSpec(_Model):
    ratioMetric: RatioMetric


class Indicator(_Model):
    metadata: dict[str, Any] | None = None
    spec: IndicatorSpec


class Calendar(_Model):
    startTime: str | None = None
    timeZone: str = "UTC"

    @field_validator("timeZone")
    @classmethod
    def _utc(cls, value: str) -> str:
        if value.upper() not in UTC_NAMES:
            raise ValueError(f"only UTC calendars are supported, got {value!r}")
        return value


class TimeWindow(_Model):
    duration: str
    isRolling: bool = True
    calendar: Calendar | None = None

    @model_validator(mode="after")
    def _duration(self) -> TimeWindow:
        if self.isRolling:
            try:
                parse_duration(self.duration, field="duration")
            except BadInputError:
                raise ValueError(f"duration: {self.duration!r} is not a rolling duration (use e.g. 28d, 30d, 4w)") \
                    from None
        elif self.duration not in CALENDAR_DURATIONS:
            raise ValueError(f"duration: calendar windows support {', '.join(CALENDAR_DURATIONS)}, "
                             f"got {self.duration!r}")
        return self


class Objective(_Model):
    displayName: str | None = None
    target: float | None = None
    targetPercent: float | None = None

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

    @model_validator(mode="after")
    def _one(self) -> Objective:
        if (self.target is None) == (self.targetPercent is None):
            raise ValueError("give exactly one of target (0..1) or targetPercent (0..100)")
        return self

    @property
    def ratio(self) -> float:
        return self.target if self.target is not None else self.targetPercent / 100  # type: ignore[operator]


class SLOSpec(_Model):
    description: str | None = None
    service: str = Field(min_length=1)
    indicator: Indicator | None = None  # inline, or
    indicatorRef: str | None = None  # the metadata.name of a `kind: SLI` document in the same catalog
    timeWindow: list[TimeWindow] = Field(min_length=1, max_length=1)
    budgetingMethod: Literal["Occurrences"]
    objectives: list[Objective] = Field(min_length=1, max_length=1)

    @model_validator(mode="after")
    def _one_indicator(self) -> SLOSpec:
        if (self.indicator is None) == (self.indicatorRef is None):
            raise ValueError("give exactly one of indicator (inline) or indicatorRef (the name of a kind: SLI "
                             "document)")
        return self


class Metadata(_Model):
    name: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
    displayName: str | None = None
    labels: dict[str, Any] | None = None
    annotations: dict[str, str] | None = None


class SLI(_Model):
    """An OpenSLO v1 `kind: SLI` document: an indicator SLOs share through `spec.indicatorRef`."""

    apiVersion: Literal["openslo/v1"]
    kind: Literal["SLI"]
    metadata: Metadata
    spec: IndicatorSpec


class SLO(_Model):
    """One OpenSLO v1 SLO document, with shortcuts to what the analysis needs (an `indicatorRef` is resolved
    into `spec.indicator` when the catalog is read)."""

    apiVersion: Literal["openslo/v1"]
    kind: Literal["SLO"]
    metadata: Metadata
    spec: SLOSpec

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def service(self) -> str:
        return self.spec.service

    @property
    def objective(self) -> float:
        return self.spec.objectives[0].ratio

    @property
    def window(self) -> str:
        """The SLO's own window as a report window: `30d` (rolling) or `1M` / `1Q` (calendar to date)."""
        return self.spec.timeWindow[0].duration

    @property
    def rolling(self) -> bool:
        return self.spec.timeWindow[0].isRolling

    @property
    def ratio(self) -> RatioMetric:
        if self.spec.indicator is None:
            raise BadInputError(f"SLO {self.name}: indicatorRef {self.spec.indicatorRef!r} is resolved only when "
                                "the catalog is read with read_catalog / load_catalog")
        return self.spec.indicator.spec.ratioMetric

    @property
    def total_selector(self) -> Selector:
        return parse_selector(self.ratio.total.metricSource.spec.query)

    @property
    def good_selector(self) -> Selector | None:
        return parse_selector(self.ratio.good.metricSource.spec.query) if self.ratio.good else None

    @property
    def bad_selector(self) -> Selector | None:
        return parse_selector(self.ratio.bad.metricSource.spec.query) if self.ratio.bad else None


class BudgetPolicy(BaseModel):
    """Error-budget policy thresholds (shares of the budget remaining), from the seed by default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    features_above: float = Field(0.50, gt=0, lt=1)
    reliability_below: float = Field(0.20, gt=0, lt=1)
    alert_below: float = Field(0.10, gt=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> BudgetPolicy:
        if not self.alert_below <= self.reliability_below <= self.features_above:
            raise ValueError("thresholds must satisfy alert_below <= reliability_below <= features_above")
        return self


class _PolicyDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    apiVersion: Literal["goreliable/v1"]
    kind: Literal["ErrorBudgetPolicy"]
    metadata: dict[str, Any] | None = None
    spec: BudgetPolicy = BudgetPolicy()


@dataclass(frozen=True)
class Catalog:
    """A loaded catalog: its SLOs and the error-budget policy."""

    path: str
    slos: list[SLO]
    policy: BudgetPolicy


# --------------------------------------------------------------------------------------------- loading
def _error_message(error: dict[str, Any]) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        return "required field missing"
    if error["type"] == "literal_error" and "input" in error:
        return f"{message}, got {error['input']!r}"
    if error["type"] in ("string_pattern_mismatch",):
        return f"must be a lower-case DNS label (a-z, 0-9, -), got {error.get('input')!r}"
    if error["type"] == "extra_forbidden":
        return "unknown field"
    return message


def _doc_label(number: int, document: Any) -> str:
    metadata = document.get("metadata") if isinstance(document, dict) else None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    name = name if isinstance(name, str) else None
    return f"document {number}" + (f" ({name})" if name else "")


def read_catalog(path: str | Path) -> Catalog:
    """Read and validate a catalog file (multi-document YAML; a relative path starts at the project root).
    Raises BadInputError naming the file as given and the field."""
    path_text = str(path)
    try:
        text = resolve(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInputError(f"{path_text}: cannot read the SLO catalog: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{path_text}: the SLO catalog is not UTF-8 text (byte {exc.start})") from None
    try:
        all_nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        all_documents = list(yaml.safe_load_all(text))
        if len(all_nodes) != len(all_documents):
            raise BadInputError(f"{path_text}: the YAML documents could not be told apart")
        # empty documents (`---` alone, `--- ~`) are skipped
        pairs = [(d, n) for d, n in zip(all_documents, all_nodes, strict=True) if d is not None and n is not None]
        documents, nodes = [d for d, _ in pairs], [n for _, n in pairs]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise BadInputError(f"{path_text}: {where}invalid YAML: {problem}") from None
    slos: list[SLO] = []
    referring: list[tuple[SLO, str, yaml.Node]] = []
    indicators: dict[str, tuple[SLI, int]] = {}
    policy: BudgetPolicy | None = None
    first_seen: dict[str, int] = {}
    for number, (document, node) in enumerate(zip(documents, nodes, strict=True), start=1):
        label = f"{path_text}: {_doc_label(number, document)}"
        if not isinstance(document, dict):
            raise BadInputError(f"{label}: expected a mapping (an OpenSLO document), got {type(document).__name__}")
        api_version, kind = document.get("apiVersion"), document.get("kind")
        if api_version == POLICY_API_VERSION and kind == "ErrorBudgetPolicy":
            if policy is not None:
                raise BadInputError(f"{label}: kind: a second ErrorBudgetPolicy (only one per catalog)")
            policy = _validate(_PolicyDocument, document, label, node).spec
            continue
        if api_version != API_VERSION:
            raise BadInputError(f"{label}: apiVersion: expected {API_VERSION!r}, got {api_version!r}"
                                f"{_line(node, ('apiVersion',))}")
        if kind == "SLI":
            sli = _validate(SLI, document, label, node)
            if sli.metadata.name in indicators:
                raise BadInputError(f"{label}: metadata.name: duplicate SLI name {sli.metadata.name!r}, first "
                                    f"defined in document {indicators[sli.metadata.name][1]}"
                                    f"{_line(node, ('metadata', 'name'))}")
            indicators[sli.metadata.name] = (sli, number)
            continue
        if kind != "SLO":
            raise BadInputError(f"{label}: kind: unknown kind {kind!r} (this catalog holds kind: SLO and SLI "
                                f"documents){_line(node, ('kind',))}")
        slo = _validate(SLO, document, label, node)
        if slo.name in first_seen:
            raise BadInputError(f"{label}: metadata.name: duplicate SLO name {slo.name!r}, first defined in "
                                f"document {first_seen[slo.name]}{_line(node, ('metadata', 'name'))}")
        first_seen[slo.name] = number
        slos.append(slo)
        referring.append((slo, label, node))
    if not slos:
        raise BadInputError(f"{path_text}: the catalog holds no SLO documents")
    return Catalog(path_text, [_resolve_indicator(slo, indicators, label, node) for slo, label, node in referring],
                   policy or BudgetPolicy())


def _resolve_indicator(slo: SLO, indicators: dict[str, tuple[SLI, int]], label: str, node: yaml.Node) -> SLO:
    """The SLO with its `indicatorRef` replaced by the referenced SLI's indicator (SLIs may come later in the
    file); an unknown name is bad input naming the field, its line and the SLIs there are."""
    reference = slo.spec.indicatorRef
    if reference is None:
        return slo
    if reference not in indicators:
        known = ", ".join(sorted(indicators)) or "none"
        raise BadInputError(f"{label}: spec.indicatorRef: no kind: SLI document named {reference!r} in the "
                            f"catalog (SLIs: {known}){_line(node, ('spec', 'indicatorRef'))}")
    sli = indicators[reference][0]
    indicator = Indicator(metadata={"name": reference}, spec=sli.spec)
    return slo.model_copy(update={"spec": slo.spec.model_copy(update={"indicator": indicator})})


def _line(node: yaml.Node, loc: tuple[Any, ...]) -> str:
    """` (line N)`: where the deepest existing node of the field path `loc` starts in the file."""
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((value for key, value in node.value if key.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            found = node.value[part]
        else:
            found = None
        if found is None:
            break
        node = found
    return f" (line {node.start_mark.line + 1})"


def _validate(model: type[BaseModel], document: dict[str, Any], label: str, node: yaml.Node) -> Any:
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        error = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise BadInputError(f"{label}: {field_path(error['loc'])}: {_error_message(error)}{more}"
                            f"{_line(node, error['loc'])}") from None


def load_catalog(path: str | Path) -> list[SLO]:
    """The SLOs of a catalog file, validated."""
    return read_catalog(path).slos


def load_policy(path: str | Path) -> BudgetPolicy:
    """The error-budget policy of a catalog file (the seed's defaults when the file has none)."""
    return read_catalog(path).policy


def select_slos(slos: list[SLO], services: str | list[str] | None = None) -> list[SLO]:
    """Keep the SLOs of the given services or SLO names (`None`, `"all"` or `[]` keep all)."""
    if services is None or services == "all" or services == []:
        return list(slos)
    wanted = [s.strip() for s in (services.split(",") if isinstance(services, str) else services) if s.strip()]
    known = {s.service for s in slos} | {s.name for s in slos}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise BadInputError(f"services: unknown service or SLO {', '.join(map(repr, unknown))} "
                            f"(known: {', '.join(sorted(known))})")
    return [s for s in slos if s.service in wanted or s.name in wanted]
