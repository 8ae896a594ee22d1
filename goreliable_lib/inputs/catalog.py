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

A catalog is one file, a folder (its `*.yaml`/`*.yml` files, sorted) or several (a list, or comma-separated text):
its objects form one catalog, references (`indicatorRef`, `metricSourceRef`) resolve across the files and a name
defined twice is refused naming both. A `metricSourceRef` to a DataSource the catalog lacks is read when the
metricSource gives its own Prometheus-API `type` (noted; `SLOObjective.metric_source_refs` states it), else refused
naming what to add; an SLO's own problems are said before its references.

`read_catalog(path)` returns a `Catalog`: its SLO documents, the error-budget policy, the notes, and `objectives`:
one `SLOObjective` per objective of every SLO, what the reports evaluate and list (an SLO with several objectives
gives `SLO/objective` names). A grouped SLO (Pyrra `grouping`, Sloth `sum by (...)`: `SLO.grouping`) is one
objective here; the reports turn it into one objective per group found on the server (`SLOObjective.in_group`:
named `SLO{label="value"}`, its selectors holding the group's matchers, `events.groups`). Every validation error
is a `BadInputError` naming the file, the document (number, item and SLO name), the field path and the line,
e.g. `params/slos.yaml: document 3 (order-success-rate): spec.objectives[0].target: must be between 0 and 1
exclusive, got 1.5 (line 85)`.

Queries are Prometheus counter *selectors* (`metric{label="value", ...}`, also written `sum(...)` or
`sum(rate(...[5m]))`): the SLO is computed exactly from the raw counter samples (see `events.engine`), which
an arbitrary expression would not allow. A histogram threshold written `le="0.3"` matches the bucket whatever its
spelling (`0.3`, `0.30`, ...). A `thresholdMetric` is the exception: an expression whose value is compared per
time slice (`events.threshold` fetches it).
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Sequence
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
    DeclaredBurnRate,
    IndicatorSpec,
    Objective,
    RatioMetric,
    ThresholdMetric,
    TimeWindow,
    declared_alerting,
)
from goreliable_lib.inputs.promql import Matcher, Selector, quote
from goreliable_lib.inputs.yamlfile import SAFE_LOADER, line_of, validate_document
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
    slug, or `objective-N`), followed for one group of a grouped SLO by the group in PromQL form
    (`api-errors{route="/cart"}`). It has what `events.engine` needs of an SLO (`name`, `total_selector`,
    `good_selector`, `bad_selector`: a group's hold its label matchers) when its indicator is a ratio."""

    slo: SLO
    index: int
    key: str | None  # None for the only objective of an SLO
    spec: Objective
    indicator: IndicatorSpec
    group: tuple[tuple[str, str], ...] = ()  # (label, value) of one group of a grouped SLO, in `grouping` order

    @property
    def name(self) -> str:
        return (self.slo.name if self.key is None else f"{self.slo.name}/{self.key}") + self.group_text

    @property
    def grouping(self) -> tuple[str, ...]:
        """The labels a grouped SLO is grouped by (() when not grouped)."""
        return self.slo.grouping

    @property
    def group_text(self) -> str:
        """`{route="/cart"}` (values as PromQL strings) for one group, "" otherwise."""
        return "{" + ", ".join(f"{label}={quote(value)}" for label, value in self.group) + "}" if self.group else ""

    @property
    def group_labels(self) -> dict[str, str] | None:
        """summary.json `group`: {label: value} of one group; None when not grouped (empty for a grouped SLO whose
        groups the server listed none of)."""
        return dict(self.group) if self.grouping else None

    @property
    def grouped_by(self) -> str | None:
        """summary.json `grouped_by`: the grouped SLO's name (None when not grouped)."""
        return self.slo.name if self.grouping else None

    def in_group(self, values: tuple[str, ...]) -> SLOObjective:
        """This objective restricted to one group: the value of each `grouping` label, in order ("" selects the
        series without the label, as `sum by` groups them)."""
        return dataclasses.replace(self, group=tuple(zip(self.grouping, values, strict=True)))

    @property
    def whole(self) -> SLOObjective:
        """The grouped SLO one group belongs to (itself when it is not a group)."""
        return dataclasses.replace(self, group=()) if self.group else self

    def _grouped(self, selector: Selector) -> Selector:
        return Selector(selector.metric, selector.matchers + tuple(Matcher(label, "=", value)
                                                                  for label, value in self.group))

    @property
    def slo_name(self) -> str:
        return self.slo.name

    @property
    def objective_name(self) -> str | None:
        return self.key

    @property
    def display_name(self) -> str:
        given = self.spec.displayName or self.slo.metadata.displayName
        return f"{given} {self.group_text}".strip() if given else self.name

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
    def metric_source_refs(self) -> list[str]:
        """The DataSources its metric sources name (`metricSourceRef`), as the catalog states them (a reference may
        name a DataSource the catalog lacks when the metricSource gives its type: the kit queries its own URL)."""
        if self.ratio is not None:
            metrics = [m for m in (self.ratio.good, self.ratio.bad, self.ratio.total) if m is not None]
            sources = [m.metricSource for m in metrics]
        else:
            sources = [self.threshold.metricSource] if self.threshold is not None else []
        return list(dict.fromkeys(s.metricSourceRef for s in sources if s.metricSourceRef))

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
        return self._grouped(self._ratio().total.metricSource.spec.selector)  # type: ignore[union-attr]

    @property
    def good_selector(self) -> Selector | None:
        ratio = self._ratio()
        return self._grouped(ratio.good.metricSource.spec.selector) if ratio.good else None  # type: ignore[union-attr]

    @property
    def bad_selector(self) -> Selector | None:
        ratio = self._ratio()
        return self._grouped(ratio.bad.metricSource.spec.selector) if ratio.bad else None  # type: ignore[union-attr]


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
        nodes = list(yaml.compose_all(text, Loader=SAFE_LOADER))
        documents = list(yaml.load_all(text, Loader=SAFE_LOADER))  # noqa: S506 - a safe loader
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


CatalogPaths = str | Path | Sequence[str | Path]


def catalog_files(catalog: CatalogPaths) -> list[str]:
    """The files of a catalog given as a file, a folder (its `*.yaml` and `*.yml` files, sorted by name; not its
    sub-folders) or several of these (a list, or comma-separated text), each as shown in messages (a relative path
    starts at the project root). A file given twice (also through its folder) is read once."""
    if isinstance(catalog, Path):
        items: list[str | Path] = [catalog]
    elif isinstance(catalog, str):
        items = [part.strip() for part in catalog.split(",") if part.strip()]
    else:
        items = list(catalog)
    if not items:
        raise BadInputError("catalog: no file or folder given")
    found: dict[Path, str] = {}
    for item in items:
        shown = str(item).strip() if isinstance(item, str) else str(item)
        folder = resolve(shown)
        if folder.is_dir():
            files = sorted(f for f in folder.iterdir() if f.suffix in (".yaml", ".yml") and f.is_file())
            if not files:
                raise BadInputError(f"{shown}: the catalog folder holds no *.yaml or *.yml file")
            for file in files:
                found.setdefault(file.resolve(), str(Path(shown) / file.name))
        else:
            found.setdefault(folder.resolve(), shown)
    return list(found.values())


def catalog_text(catalog: CatalogPaths) -> str:
    """The catalog as given, for messages and summary.json (`a.yaml, b.yaml` for several)."""
    if isinstance(catalog, str | Path):
        return str(catalog)
    return ", ".join(str(item) for item in catalog)


def read_catalog(path: CatalogPaths) -> Catalog:
    """Read and validate a catalog: a file, a folder or several (`catalog_files`); the references between objects
    (indicatorRef, metricSourceRef) resolve across all its files. Raises BadInputError naming the file as given, the
    document, the SLO and the field."""
    files = catalog_files(path)
    objects = [obj for path_text in files for obj in read_objects(path_text)]
    return _Reader(catalog_text(path), several=len(files) > 1).read(objects)


class _Reader:
    """One pass over a file's objects: dispatch by format, then resolve the references between them."""

    def __init__(self, path_text: str, *, several: bool = False) -> None:
        self.path_text = path_text
        self.several = several  # several files: every label and note keeps its file
        self.notes: list[str] = []
        self.policy: BudgetPolicy | None = None
        self.policy_label = ""
        self.indicators: dict[str, tuple[SLI, dict[str, Any], str]] = {}  # name -> (SLI, its spec, label)
        self.sources: dict[str, tuple[DataSource, str]] = {}
        self.sli_objects: dict[str, _Object] = {}  # name -> the kind: SLI object
        self.used_slis: set[str] = set()
        self.corrections: list[_Object] = []
        # OpenSLO AlertPolicy and AlertCondition objects by name (an SLO's declared alerting refers to them)
        self.alert_objects: dict[str, dict[str, Any]] = {"AlertPolicy": {}, "AlertCondition": {}}
        # the SLOs in file order: (converted document, or None for an OpenSLO one, its format, object, location,
        # grouping labels); OpenSLO ones are validated once every SLI and DataSource of the file is known
        self.entries: list[tuple[dict[str, Any] | None, str, _Object, tuple[Any, ...], tuple[str, ...],
                                 tuple[DeclaredBurnRate, ...] | None]] = []

    def read(self, objects: list[_Object]) -> Catalog:
        for obj in objects:
            self._dispatch(obj)
        slos: list[SLO] = []
        first_seen: dict[str, str] = {}
        for document, source_format, obj, loc, grouping, alerting in self.entries:
            if document is None:
                slo, name_loc = self._openslo_slo(obj), ("metadata", "name")
                spec = obj.value.get("spec")
                slo._alerting = declared_alerting(spec.get("alertPolicies") if isinstance(spec, dict) else None,
                                                  slo.name, self.alert_objects["AlertPolicy"],
                                                  self.alert_objects["AlertCondition"], self.notes)
            else:
                model = sloth.SlothSLO if source_format == sloth.FORMAT else SLO  # Sloth's names are not DNS labels
                slo = validate_document(model, document, obj.label, obj.node, prefix=loc)
                name_loc = (*loc, "name") if loc else ("metadata", "name")
                slo._source_format, slo._grouping, slo._alerting = source_format, grouping, alerting
            self._unique(slo.name, obj, first_seen, name_loc)
            slos.append(slo)
        for name, obj in self.sli_objects.items():  # the SLIs no SLO uses: their references hold too
            if name not in self.used_slis:
                sources = self._metric_sources(self.indicators[name][1], ("spec",))
                self._resolve_sources(sources, obj)
                self._dangling_sources(sources, obj)
        if not slos:
            raise BadInputError(f"{self.path_text}: the catalog holds no SLO documents"
                                + (f" ({'; '.join(self.notes)})" if self.notes else ""))
        return Catalog(self.path_text, slos, self.policy or BudgetPolicy(), self.notes, self.corrections)

    def _unique(self, name: str, obj: _Object, first_seen: dict[str, str], loc: tuple[Any, ...]) -> None:
        if name in first_seen:
            where = _path(loc) if loc and loc[0] == "slos" else "metadata.name"  # a Sloth SLO: slos[i].name
            raise BadInputError(f"{obj.label}: {where}: duplicate SLO name {name!r}, first defined in "
                                f"{_first(first_seen[name], obj.label)}{line_of(obj.node, loc)}")
        first_seen[name] = obj.label.split(" (")[0] + (f", {_path(loc[:2])}" if loc[:1] == ("slos",) else "")

    def _where(self, label: str) -> str:
        """How a note names an object: `document 2 (name)`, with its file when the catalog has several."""
        return label if self.several else _short(label)

    # -- dispatch
    def _dispatch(self, obj: _Object) -> None:
        value, label = obj.value, obj.label
        if not isinstance(value, dict):
            raise BadInputError(f"{label}: expected a mapping (an OpenSLO, Pyrra or Sloth object), got "
                                f"{type(value).__name__}{line_of(obj.node, ())}")
        api_version, kind = value.get("apiVersion"), value.get("kind")
        if api_version is None and value.get("version") == sloth.VERSION:
            for document, entry_label, loc, grouping, alerting in sloth.to_openslo(value, label, obj.node):
                self.entries.append((document, sloth.FORMAT, _Object(value, obj.node, entry_label), loc, grouping,
                                     alerting))  # labelled by SLO
            return
        if api_version == POLICY_API_VERSION and kind == "ErrorBudgetPolicy":
            if self.policy is not None:
                raise BadInputError(f"{label}: kind: a second ErrorBudgetPolicy (only one per catalog; the first is "
                                    f"{_first(self.policy_label, label)}){line_of(obj.node, ('kind',))}")
            self.policy = validate_document(_PolicyDocument, value, label, obj.node).spec
            self.policy_label = label
            return
        if api_version == POLICY_API_VERSION and kind == CORRECTION_KIND:
            self.corrections.append(obj)
            self.notes.append(f"{_short(label)}: kind Correction kept for the SLO report (a correction window, "
                              "applied when its figures are computed)")
            return
        if api_version == pyrra.API_VERSION:
            document, grouping, alerting = pyrra.to_openslo(value, label, obj.node)
            self.entries.append((document, pyrra.FORMAT, obj, (), grouping, alerting))
            return
        if api_version == "sloth.slok.dev/v1" and kind == "AlertWindows":
            raise BadInputError(f"{label}: kind: Sloth's AlertWindows (its burn-rate alert windows) is not read: the "
                                "kit's alerts are the SRE workbook's multiwindow burn-rate rules for every SLO"
                                f"{line_of(obj.node, ('kind',))}")
        if isinstance(api_version, str) and api_version in _NOT_V1:
            raise BadInputError(f"{label}: apiVersion: {api_version!r} {_NOT_V1[api_version]}"
                                f"{line_of(obj.node, ('apiVersion',))}")
        if api_version != API_VERSION:
            raise BadInputError(f"{label}: apiVersion: expected {API_VERSION!r}, got {api_version!r} (also read: "
                                f"{READ_FORMATS}){line_of(obj.node, ('apiVersion',))}")
        if kind == "SLO":
            self.entries.append((None, "OpenSLO v1", obj, (), (), None))
        elif kind == "SLI":
            sli = validate_document(SLI, value, label, obj.node)
            if sli.metadata.name in self.indicators:
                raise BadInputError(f"{label}: metadata.name: duplicate SLI name {sli.metadata.name!r}, first "
                                    f"defined in {_first(self.indicators[sli.metadata.name][2], label)}"
                                    f"{line_of(obj.node, ('metadata', 'name'))}")
            self.indicators[sli.metadata.name] = (sli, copy.deepcopy(value["spec"]), label.split(" (")[0])
            self.sli_objects[sli.metadata.name] = obj
        elif kind == "DataSource":
            source = validate_document(DataSource, value, label, obj.node)
            if source.metadata.name in self.sources:
                raise BadInputError(f"{label}: metadata.name: duplicate DataSource name {source.metadata.name!r}, "
                                    f"first defined in {_first(self.sources[source.metadata.name][1], label)}"
                                    f"{line_of(obj.node, ('metadata', 'name'))}")
            self.sources[source.metadata.name] = (source, label.split(" (")[0])
            if source.spec.type.lower() in PROMETHEUS_TYPES:
                self.notes.append(f"{self._where(label)}: DataSource {source.metadata.name} ({source.spec.type}): "
                                  "its connectionDetails are not used (the kit queries GORELIABLE_PROMETHEUS_URL)")
        elif kind in SKIPPED_KINDS:
            self.notes.append(f"{self._where(label)}: kind {kind} skipped (it holds no SLO)")
            name = (value.get("metadata") or {}).get("name") if isinstance(value.get("metadata"), dict) else None
            if kind in self.alert_objects and isinstance(name, str):
                self.alert_objects[kind][name] = value  # an SLO's alertPolicies may refer to it
        else:
            raise BadInputError(f"{label}: kind: unknown kind {kind!r} (OpenSLO v1 kinds: {', '.join(KINDS)})"
                                f"{line_of(obj.node, ('kind',))}")

    # -- OpenSLO references
    def _metric_sources(self, value: Any, loc: tuple[Any, ...]) -> list[tuple[dict[str, Any], tuple[Any, ...]]]:
        """Every `metricSource` mapping with a `metricSourceRef` in `value`, with its field path."""
        found = []
        if isinstance(value, dict):
            source = value.get("metricSource")
            if isinstance(source, dict) and isinstance(source.get("metricSourceRef"), str):
                found.append((source, (*loc, "metricSource")))
            for key, item in value.items():
                found += self._metric_sources(item, (*loc, key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                found += self._metric_sources(item, (*loc, i))
        return found

    def _resolve_sources(self, sources: list[tuple[dict[str, Any], tuple[Any, ...]]], obj: _Object,
                         slo: str | None = None) -> None:
        """Every `metricSourceRef` to a DataSource of the catalog: it must be of a Prometheus-API type, and a
        metricSource without its own `type` takes the DataSource's (the README: "the type will be inferred from the
        DataSource"). A reference to a DataSource the catalog lacks is left to `_dangling_sources`."""
        for source, source_loc in sources:
            name, ref_loc = source["metricSourceRef"], (*source_loc, "metricSourceRef")
            if name not in self.sources:
                continue
            data_source = self.sources[name][0]
            if data_source.spec.type.lower() not in PROMETHEUS_TYPES:
                raise BadInputError(f"{_for_slo(obj.label, slo)}: {_path(ref_loc)}: DataSource {name!r} is of type "
                                    f"{data_source.spec.type!r}; only Prometheus-API sources are supported "
                                    f"({', '.join(PROMETHEUS_TYPES.values())}){line_of(obj.node, ref_loc)}")
            source.setdefault("type", data_source.spec.type)

    def _dangling_sources(self, sources: list[tuple[dict[str, Any], tuple[Any, ...]]], obj: _Object,
                          slo: str | None = None) -> None:
        """A `metricSourceRef` to a DataSource the catalog lacks is read when the metricSource gives its `type` (the
        DataSource may live elsewhere: the kit never needs it), with a note; without a type it is refused, naming
        what to add."""
        for source, source_loc in sources:
            name = source["metricSourceRef"]
            if name in self.sources:
                continue
            if source.get("type") is None:
                known = ", ".join(sorted(self.sources)) or "none"
                ref_loc = (*source_loc, "metricSourceRef")
                raise BadInputError(
                    f"{_for_slo(obj.label, slo)}: {_path(ref_loc)}: no kind: DataSource named {name!r} in the catalog "
                    f"(DataSources: {known}) and the metricSource gives no type: add {_path(source_loc)}.type "
                    f"(Prometheus, Thanos, Mimir or VictoriaMetrics) or a kind: DataSource named {name!r} of such a "
                    f"type to the catalog{line_of(obj.node, ref_loc)}")
            note = (f"{self._where(obj.label)}: metricSourceRef {name} names no DataSource in the catalog; read as "
                    f"its type {source['type']} (the kit queries GORELIABLE_PROMETHEUS_URL)")
            if note not in self.notes:
                self.notes.append(note)

    def _openslo_slo(self, obj: _Object) -> SLO:
        """The SLO with its indicatorRefs replaced by the referenced SLIs (which may come later in the file or in
        another file) and its metric sources' types taken from their DataSources, validated. The SLO's own problems
        are said first (a missing SLI, a field not read), then its metric sources' references."""
        document = copy.deepcopy(obj.value)
        spec = document.get("spec")
        name = _name_of(obj.value) or "?"
        holders: list[tuple[dict[str, Any], tuple[Any, ...]]] = []
        if isinstance(spec, dict):
            own = "indicator" in spec or "indicatorRef" in spec
            holders.append((spec, ("spec",)))
            for i, objective in enumerate(spec.get("objectives") or [] if not own else []):
                if isinstance(objective, dict):  # composite: an indicator per objective
                    holders.append((objective, ("spec", "objectives", i)))
        own = self._metric_sources(spec, ("spec",))  # the SLO's inline indicators' sources
        inlined = [(holder, ref) for holder, loc in holders if (ref := self._inline(holder, obj, loc)) is not None]
        referenced = list(dict.fromkeys(ref for _, ref in inlined))
        shared = {ref: self._metric_sources(self.indicators[ref][1], ("spec",)) for ref in referenced}
        for ref in referenced:  # the SLIs' own metric sources, said at their lines
            self._resolve_sources(shared[ref], self.sli_objects[ref], slo=name)
        for holder, ref in inlined:  # with the types their DataSources give
            holder["indicator"]["spec"] = copy.deepcopy(self.indicators[ref][1])
        self._resolve_sources(own, obj)
        validate_document(SLO, document, obj.label, obj.node)  # the SLO's own problems first
        for ref in referenced:
            self._dangling_sources(shared[ref], self.sli_objects[ref], slo=name)
        self._dangling_sources(own, obj)
        self.used_slis.update(referenced)
        return validate_document(SLO, document, obj.label, obj.node)

    def _inline(self, holder: dict[str, Any], obj: _Object, loc: tuple[Any, ...]) -> str | None:
        """Replace `indicatorRef` by the SLI it names (its name returned, None when there is none to inline)."""
        reference = holder.get("indicatorRef")
        if not isinstance(reference, str) or "indicator" in holder:
            return None  # both given, or a bad type: the validation says so
        if reference not in self.indicators:
            known = ", ".join(sorted(self.indicators)) or "none"
            raise BadInputError(f"{obj.label}: {_path((*loc, 'indicatorRef'))}: no kind: SLI document named "
                                f"{reference!r} in the catalog (SLIs: {known})"
                                f"{line_of(obj.node, (*loc, 'indicatorRef'))}")
        del holder["indicatorRef"]
        holder["indicator"] = {"metadata": {"name": reference}}  # its spec once its sources are resolved
        return reference


def _for_slo(label: str, slo: str | None) -> str:
    """An SLI's label, naming the SLO that uses it: `document 2 (my-sli), SLI of SLO my-slo`."""
    return f"{label}, SLI of SLO {slo}" if slo else label


def _first(first: str, label: str) -> str:
    """Where a name was first defined: `document 1`, with its file when that is not `label`'s."""
    file, _, rest = first.partition(": ")
    return rest if rest and label.startswith(f"{file}: ") else first


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
