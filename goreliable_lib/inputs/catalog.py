"""The SLO catalog: the SLO definitions teams already have, read into one model, validated.

A catalog file holds YAML documents, each one object or a sequence of objects (the form of the OpenSLO Go SDK's
examples and of `oslo fmt`), of these formats (`docs/slo-catalog.md` has the full table of what is read):
- OpenSLO v1 (`apiVersion: openslo/v1`, `inputs.openslo`): `kind: SLO` and `kind: SLI` (shared through
  `indicatorRef`), `kind: DataSource` (resolves `metricSourceRef`); Service, AlertPolicy, AlertCondition and
  AlertNotificationTarget are read past with a note;
- Pyrra `pyrra.dev/v1alpha1` `ServiceLevelObjective` (`inputs.pyrra`) and Sloth `version: prometheus/v1` specs
  (`inputs.sloth`), turned into OpenSLO SLOs (`SLO.source_format` says which format each came from);
- at most one `apiVersion: goreliable/v1, kind: ErrorBudgetPolicy` (the policy thresholds; defaults from the seed);
- `apiVersion: goreliable/v1, kind: Correction` documents (correction windows), kept as written with a note: the SLO
  report reads them (`inputs.corrections`, which also reads them from a file of their own).

`read_catalog(path)` returns a `Catalog`: its SLO documents, the error-budget policy, the notes, and `objectives`:
one `SLOObjective` per objective of every SLO, what the reports evaluate and list (an SLO with several objectives
gives `SLO/objective` names). Every validation error is a `BadInputError` naming the file, the document (number,
item and SLO name), the field path and the line, e.g. `params/slos.yaml: document 3 (order-success-rate):
spec.objectives[0].target: must be between 0 and 1 exclusive, got 1.5 (line 85)`.

Queries are Prometheus counter *selectors* (`metric{label="value", ...}`, also written `sum(...)` or
`sum(rate(...[5m]))`): the SLO is computed exactly from the raw counter samples (see `events.engine`), which
an arbitrary expression would not allow. A histogram threshold written `le="0.3"` matches the bucket whatever its
spelling (`0.3`, `0.30`, ...). A `thresholdMetric` is the exception: an expression whose value is compared per
time slice (`events.threshold` fetches it).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs import pyrra, sloth
from goreliable_lib.inputs.openslo import (
    API_VERSION,
    KINDS,
    OPERATORS,
    PROMETHEUS_TYPES,
    SKIPPED_KINDS,
    SLI,
    SLO,
    DataSource,
    IndicatorSpec,
    Objective,
    RatioMetric,
    ThresholdMetric,
    TimeWindow,
)
from goreliable_lib.inputs.promql import Selector
from goreliable_lib.inputs.yamlfile import line_of, validate_document
from goreliable_lib.paths import resolve

__all__ = ["API_VERSION", "SLO", "BudgetPolicy", "Catalog", "SLOObjective", "load_catalog", "load_policy",
           "objectives_of", "read_catalog", "read_objects", "select_objectives", "select_slos"]

POLICY_API_VERSION = "goreliable/v1"
#: The kit's kind for a correction window (`inputs.corrections`), kept by the catalog reader for the SLO report.
CORRECTION_KIND = "Correction"
#: apiVersions that are not OpenSLO v1 but look like it, and what to write instead.
_NOT_V1 = {
    "openslo.com/v1": "is not OpenSLO v1's spelling: v1 is written apiVersion: openslo/v1 (an openslo.com/... "
                      "file is in the older alpha form: convert it to v1, e.g. timeWindows -> timeWindow)",
    "openslo.com/v1alpha": "is OpenSLO's alpha form, which is not read: convert the file to apiVersion: openslo/v1",
    "openslo/v1alpha": "is OpenSLO's alpha form, which is not read: convert the file to apiVersion: openslo/v1 "
                       "(timeWindows -> timeWindow, indicator.thresholdMetric/ratioMetrics -> spec.indicator)",
    "openslo/v2alpha": "is OpenSLO's draft v2, which is not read: write the SLO as apiVersion: openslo/v1",
    "sloth.slok.dev/v1": "is Sloth's Kubernetes PrometheusServiceLevel, which is not read: write its spec as a "
                         "Sloth file (version: prometheus/v1, service, slos)",
}
READ_FORMATS = "openslo/v1, pyrra.dev/v1alpha1 ServiceLevelObjective, Sloth version: prometheus/v1, " \
               "goreliable/v1 ErrorBudgetPolicy and Correction"


# --------------------------------------------------------------------------------------------- policy
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


# --------------------------------------------------------------------------------------------- objectives
def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40].strip("-")


@dataclass(frozen=True)
class SLOObjective:
    """One objective of one SLO: the unit the reports evaluate (a row, a budget, a status, a summary entry).

    `name` is the SLO's name when it has one objective, else `SLO/objective` (the objective's displayName as a
    slug, or `objective-N`). It has what `events.engine` needs of an SLO (`name`, `total_selector`,
    `good_selector`, `bad_selector`) when its indicator is a ratio."""

    slo: SLO
    index: int
    key: str | None  # None for the only objective of an SLO
    spec: Objective
    indicator: IndicatorSpec

    @property
    def name(self) -> str:
        return self.slo.name if self.key is None else f"{self.slo.name}/{self.key}"

    @property
    def slo_name(self) -> str:
        return self.slo.name

    @property
    def objective_name(self) -> str | None:
        return self.key

    @property
    def display_name(self) -> str:
        return self.spec.displayName or self.slo.metadata.displayName or self.name

    @property
    def service(self) -> str:
        return self.slo.service

    @property
    def objective(self) -> float:
        """The target, 0..1."""
        return self.spec.ratio

    @property
    def budgeting_method(self) -> str:
        return self.slo.spec.budgetingMethod

    @property
    def time_sliced(self) -> bool:
        return self.budgeting_method != "Occurrences"

    @property
    def time_slice_window(self) -> pd.Timedelta | None:
        return self.spec.slice_window if self.time_sliced else None

    @property
    def time_slice_target(self) -> float | None:
        return self.spec.timeSliceTarget if self.budgeting_method == "Timeslices" else None

    @property
    def source_format(self) -> str:
        return self.slo.source_format

    @property
    def time_window(self) -> TimeWindow:
        return self.slo.time_window

    @property
    def window_given(self) -> bool:
        return self.slo.window_given

    @property
    def window(self) -> str:
        return self.slo.window

    @property
    def rolling(self) -> bool:
        return self.slo.rolling

    def window_at(self, end: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The SLO's own window ending at `end` (its timeWindow, or 30 days rolling when it has none), UTC."""
        return self.time_window.window_at(end)

    # -- the indicator
    @property
    def ratio(self) -> RatioMetric | None:
        return self.indicator.ratioMetric

    @property
    def threshold(self) -> ThresholdMetric | None:
        return self.indicator.thresholdMetric

    @property
    def threshold_query(self) -> str | None:
        return self.threshold.metricSource.spec.query if self.threshold is not None else None

    @property
    def threshold_text(self) -> str | None:
        """`value < 0.5` for a thresholdMetric objective."""
        if self.threshold is None:
            return None
        return f"value {OPERATORS[self.spec.op]} {self.spec.value:g}"  # type: ignore[index]

    @property
    def events_key(self) -> tuple[str, ...]:
        """What decides a ratio objective's events (its selectors): objectives with one key share one fetch."""
        part = self.good_selector or self.bad_selector
        return (self.total_selector.to_promql(), "good" if self.good_selector else "bad",
                part.to_promql() if part is not None else "")

    def _ratio(self) -> RatioMetric:
        if self.ratio is None:
            raise BadInputError(f"SLO {self.name}: a thresholdMetric has no good/total counters")
        return self.ratio

    @property
    def total_selector(self) -> Selector:
        return self._ratio().total.metricSource.spec.selector  # type: ignore[union-attr]

    @property
    def good_selector(self) -> Selector | None:
        ratio = self._ratio()
        return ratio.good.metricSource.spec.selector if ratio.good else None

    @property
    def bad_selector(self) -> Selector | None:
        ratio = self._ratio()
        return ratio.bad.metricSource.spec.selector if ratio.bad else None


def objectives_of(slo: SLO) -> list[SLOObjective]:
    """Every objective of an SLO whose indicators are resolved (`read_catalog` resolves them)."""
    objectives = slo.spec.objectives
    keys: list[str | None] = [None]
    if len(objectives) > 1:
        slugs = [_slug(o.displayName or "") for o in objectives]
        keys = [s if s and slugs.count(s) == 1 else f"objective-{i + 1}" for i, s in enumerate(slugs)]
    found = []
    for index, (objective, key) in enumerate(zip(objectives, keys, strict=True)):
        indicator = objective.indicator or slo.spec.indicator
        if indicator is None:
            raise BadInputError(f"SLO {slo.name}: indicatorRef is resolved only when the catalog is read with "
                                "read_catalog / load_catalog")
        found.append(SLOObjective(slo, index, key, objective, indicator.spec))
    return found


# --------------------------------------------------------------------------------------------- the catalog
@dataclass(frozen=True)
class Catalog:
    """A loaded catalog: its SLOs, the error-budget policy, and notes on what was read past."""

    path: str
    slos: list[SLO]
    policy: BudgetPolicy
    notes: list[str] = field(default_factory=list)
    #: The file's `goreliable/v1 Correction` objects as written (`inputs.corrections.catalog_corrections` reads them)
    correction_objects: list[_Object] = field(default_factory=list)

    @property
    def objectives(self) -> list[SLOObjective]:
        return [objective for slo in self.slos for objective in objectives_of(slo)]

    @property
    def source_formats(self) -> list[str]:
        """The formats the SLOs were written in, in order of first appearance."""
        return list(dict.fromkeys(slo.source_format for slo in self.slos))


@dataclass
class _Object:
    """One object of the file: the parsed value, its YAML node and its label (`document 2, item 3 (name)`)."""

    value: Any
    node: yaml.Node
    label: str


def _name_of(value: Any) -> str | None:
    metadata = value.get("metadata") if isinstance(value, dict) else None
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if name is None and isinstance(value, dict) and isinstance(value.get("service"), str):
        name = value["service"]  # a Sloth spec
    return name if isinstance(name, str) else None


def _objects(text: str, path_text: str) -> list[_Object]:
    """The file's objects: each YAML document, or each item of a document that is a sequence."""
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise BadInputError(f"{path_text}: {where}invalid YAML: {problem}") from None
    if len(nodes) != len(documents):
        raise BadInputError(f"{path_text}: the YAML documents could not be told apart")
    found = []
    # empty documents (`---` alone, `--- ~`) are skipped
    pairs = [(d, n) for d, n in zip(documents, nodes, strict=True) if d is not None and n is not None]
    for number, (document, node) in enumerate(pairs, start=1):
        if isinstance(document, list) and isinstance(node, yaml.SequenceNode):
            for item, (value, item_node) in enumerate(zip(document, node.value, strict=True), start=1):
                name = _name_of(value)
                found.append(_Object(value, item_node, f"{path_text}: document {number}, item {item}"
                                     + (f" ({name})" if name else "")))
        else:
            name = _name_of(document)
            found.append(_Object(document, node, f"{path_text}: document {number}" + (f" ({name})" if name else "")))
    return found


def read_objects(path: str | Path, what: str = "SLO catalog") -> list[_Object]:
    """The objects of a YAML file of SLO documents (`what` names the file in errors: `SLO catalog`, `corrections
    file`); a relative path starts at the project root."""
    path_text = str(path)
    try:
        text = resolve(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInputError(f"{path_text}: cannot read the {what}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{path_text}: the {what} is not UTF-8 text (byte {exc.start})") from None
    return _objects(text, path_text)


def read_catalog(path: str | Path) -> Catalog:
    """Read and validate a catalog file (a relative path starts at the project root). Raises BadInputError naming
    the file as given, the document and the field."""
    return _Reader(str(path)).read(read_objects(path))


class _Reader:
    """One pass over a file's objects: dispatch by format, then resolve the references between them."""

    def __init__(self, path_text: str) -> None:
        self.path_text = path_text
        self.notes: list[str] = []
        self.policy: BudgetPolicy | None = None
        self.indicators: dict[str, tuple[SLI, dict[str, Any], str]] = {}  # name -> (SLI, its spec, label)
        self.sources: dict[str, tuple[DataSource, str]] = {}
        self.sli_objects: list[_Object] = []
        self.corrections: list[_Object] = []
        # the SLOs in file order: (OpenSLO document or None, converted document, its format, object, location);
        # OpenSLO ones are validated once every SLI and DataSource of the file is known
        self.entries: list[tuple[dict[str, Any] | None, str, _Object, tuple[Any, ...]]] = []

    def read(self, objects: list[_Object]) -> Catalog:
        for obj in objects:
            self._dispatch(obj)
        for obj in self.sli_objects:  # DataSources may come after the SLIs that refer to them
            self._check_source_refs(self.indicators[obj.value["metadata"]["name"]][1], obj, ("spec",))
        slos: list[SLO] = []
        first_seen: dict[str, str] = {}
        for document, source_format, obj, loc in self.entries:
            if document is None:
                slo, name_loc = self._openslo_slo(obj), ("metadata", "name")
            else:
                slo, name_loc = validate_document(SLO, document, obj.label, obj.node, prefix=loc), loc
                slo._source_format = source_format
            self._unique(slo.name, obj, first_seen, name_loc)
            slos.append(slo)
        if not slos:
            raise BadInputError(f"{self.path_text}: the catalog holds no SLO documents"
                                + (f" ({'; '.join(self.notes)})" if self.notes else ""))
        return Catalog(self.path_text, slos, self.policy or BudgetPolicy(), self.notes, self.corrections)

    @staticmethod
    def _unique(name: str, obj: _Object, first_seen: dict[str, str], loc: tuple[Any, ...]) -> None:
        if name in first_seen:
            raise BadInputError(f"{obj.label}: metadata.name: duplicate SLO name {name!r}, first defined in "
                                f"{first_seen[name]}{line_of(obj.node, loc)}")
        first_seen[name] = _short(obj.label).split(" (")[0]

    # -- dispatch
    def _dispatch(self, obj: _Object) -> None:
        value, label = obj.value, obj.label
        if not isinstance(value, dict):
            raise BadInputError(f"{label}: expected a mapping (an OpenSLO, Pyrra or Sloth object), got "
                                f"{type(value).__name__}{line_of(obj.node, ())}")
        api_version, kind = value.get("apiVersion"), value.get("kind")
        if api_version is None and value.get("version") == sloth.VERSION:
            for document, loc in sloth.to_openslo(value, label, obj.node):
                self.entries.append((document, sloth.FORMAT, obj, loc))
            return
        if api_version == POLICY_API_VERSION and kind == "ErrorBudgetPolicy":
            if self.policy is not None:
                raise BadInputError(f"{label}: kind: a second ErrorBudgetPolicy (only one per catalog)"
                                    f"{line_of(obj.node, ('kind',))}")
            self.policy = validate_document(_PolicyDocument, value, label, obj.node).spec
            return
        if api_version == POLICY_API_VERSION and kind == CORRECTION_KIND:
            self.corrections.append(obj)
            self.notes.append(f"{_short(label)}: kind Correction kept for the SLO report (a correction window, "
                              "applied when its figures are computed)")
            return
        if api_version == pyrra.API_VERSION:
            self.entries.append((pyrra.to_openslo(value, label, obj.node), pyrra.FORMAT, obj, ()))
            return
        if isinstance(api_version, str) and api_version in _NOT_V1:
            raise BadInputError(f"{label}: apiVersion: {api_version!r} {_NOT_V1[api_version]}"
                                f"{line_of(obj.node, ('apiVersion',))}")
        if api_version != API_VERSION:
            raise BadInputError(f"{label}: apiVersion: expected {API_VERSION!r}, got {api_version!r} (also read: "
                                f"{READ_FORMATS}){line_of(obj.node, ('apiVersion',))}")
        if kind == "SLO":
            self.entries.append((None, "OpenSLO v1", obj, ()))
        elif kind == "SLI":
            sli = validate_document(SLI, value, label, obj.node)
            if sli.metadata.name in self.indicators:
                raise BadInputError(f"{label}: metadata.name: duplicate SLI name {sli.metadata.name!r}, first "
                                    f"defined in {self.indicators[sli.metadata.name][2]}"
                                    f"{line_of(obj.node, ('metadata', 'name'))}")
            self.indicators[sli.metadata.name] = (sli, copy.deepcopy(value["spec"]), _short(label))
            self.sli_objects.append(obj)
        elif kind == "DataSource":
            source = validate_document(DataSource, value, label, obj.node)
            self.sources[source.metadata.name] = (source, _short(label))
            if source.spec.type.lower() in PROMETHEUS_TYPES:
                self.notes.append(f"{_short(label)}: DataSource {source.metadata.name} ({source.spec.type}): its "
                                  "connectionDetails are not used (the kit queries GORELIABLE_PROMETHEUS_URL)")
        elif kind in SKIPPED_KINDS:
            self.notes.append(f"{_short(label)}: kind {kind} skipped (it holds no SLO)")
        else:
            raise BadInputError(f"{label}: kind: unknown kind {kind!r} (OpenSLO v1 kinds: {', '.join(KINDS)})"
                                f"{line_of(obj.node, ('kind',))}")

    # -- OpenSLO references
    def _check_source_refs(self, value: Any, obj: _Object, loc: tuple[Any, ...] = ()) -> None:
        """Every `metricSourceRef` in `value` names a DataSource of a Prometheus-API type; a metricSource without
        its own `type` takes the DataSource's (the README: "the type will be inferred from the DataSource")."""
        if isinstance(value, dict):
            source = value.get("metricSource")
            if isinstance(source, dict) and isinstance(source.get("metricSourceRef"), str):
                ref_loc = (*loc, "metricSource", "metricSourceRef")
                name = source["metricSourceRef"]
                if name not in self.sources:
                    known = ", ".join(sorted(self.sources)) or "none"
                    raise BadInputError(f"{obj.label}: {_path(ref_loc)}: no kind: DataSource named {name!r} in the "
                                        f"catalog (DataSources: {known}){line_of(obj.node, ref_loc)}")
                data_source = self.sources[name][0]
                if data_source.spec.type.lower() not in PROMETHEUS_TYPES:
                    raise BadInputError(f"{obj.label}: {_path(ref_loc)}: DataSource {name!r} is of type "
                                        f"{data_source.spec.type!r}; only Prometheus-API sources are supported "
                                        f"({', '.join(PROMETHEUS_TYPES.values())}){line_of(obj.node, ref_loc)}")
                source.setdefault("type", data_source.spec.type)
            for key, item in value.items():
                self._check_source_refs(item, obj, (*loc, key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self._check_source_refs(item, obj, (*loc, i))

    def _openslo_slo(self, obj: _Object) -> SLO:
        """The SLO with its indicatorRefs replaced by the referenced SLIs (which may come later in the file) and
        its metric sources' types taken from their DataSources, validated."""
        document = copy.deepcopy(obj.value)
        spec = document.get("spec")
        if isinstance(spec, dict):
            own = "indicator" in spec or "indicatorRef" in spec
            self._inline(spec, obj, ("spec",))
            for i, objective in enumerate(spec.get("objectives") or [] if not own else []):
                if isinstance(objective, dict):  # composite: an indicator per objective
                    self._inline(objective, obj, ("spec", "objectives", i))
            self._check_source_refs(spec, obj, ("spec",))
        return validate_document(SLO, document, obj.label, obj.node)

    def _inline(self, holder: dict[str, Any], obj: _Object, loc: tuple[Any, ...]) -> None:
        reference = holder.get("indicatorRef")
        if not isinstance(reference, str) or "indicator" in holder:
            return  # both given, or a bad type: the validation says so
        if reference not in self.indicators:
            known = ", ".join(sorted(self.indicators)) or "none"
            raise BadInputError(f"{obj.label}: {_path((*loc, 'indicatorRef'))}: no kind: SLI document named "
                                f"{reference!r} in the catalog (SLIs: {known})"
                                f"{line_of(obj.node, (*loc, 'indicatorRef'))}")
        del holder["indicatorRef"]
        holder["indicator"] = {"metadata": {"name": reference}, "spec": copy.deepcopy(self.indicators[reference][1])}


def _short(label: str) -> str:
    """`document 2 (name)` from `path: document 2 (name)`."""
    return label.split(": ", 1)[1] if ": " in label else label


def _path(loc: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(loc))


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


def select_objectives(slos: list[SLO], services: str | list[str] | None = None) -> list[SLOObjective]:
    """Every objective of the SLOs `select_slos` keeps."""
    return [objective for slo in select_slos(slos, services) for objective in objectives_of(slo)]
