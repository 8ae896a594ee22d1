"""Which allocations are which service (`params/services.yaml`, the cost report's `services_map` parameter).

```yaml
services:
  - name: api-gateway
    team: app-platform              # optional: else the team label value of its allocations
    allocations:                    # what Kubecost and OpenCost both answer
      aggregate: label:app          # namespace, controller, label:NAME, ... (one property)
      values: [api-gateway]         # the aggregate's keys that are this service (and/or a v2 `filter`)
      filter: namespace:"go-reliable-production"   # optional, sent as Kubecost's `filter=`
    requests: api-gateway-availability   # the catalog SLO whose events count its requests (good / total)
    kind: inference                 # optional: inference (per 1,000 inferences) or llm (per million tokens)
    tokens:                         # optional for kind llm; these are the defaults (vLLM's counters)
      prompt: vllm:prompt_tokens_total
      generated: vllm:generation_tokens_total
```
Rules: a service's requests are its SLO's total events and its good requests the SLO's good events (the exact
per-minute events of `events.engine`); its cost is the cost of the allocations its aggregate keys (`values`) and
`filter` select, fetched with idle shared (`shareIdle=true`; docs/costs.md). `values` and `filter` may be given
together; at least one of them is required. `kind: llm` counts tokens from the `tokens` counters (selectors).
Any problem raises `BadInputError` naming the file, the service and the field (`services[2].requests`) and the line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs.promql import Selector, parse_selector
from goreliable_lib.inputs.yamlfile import SAFE_LOADER, line_of, read_yaml, validate_document
from goreliable_lib.paths import resolve

DEFAULT_SERVICES_MAP = "params/services.yaml"
#: The allocation properties both Kubecost and OpenCost aggregate by (besides `label:NAME`, `annotation:NAME`).
AGGREGATES = ("cluster", "node", "namespace", "controllerKind", "controller", "service", "pod", "container")
DEFAULT_PROMPT_TOKENS = "vllm:prompt_tokens_total"
DEFAULT_GENERATED_TOKENS = "vllm:generation_tokens_total"
KINDS = ("inference", "llm")

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=253)]


class Allocations(BaseModel):
    """The allocations of one service: an aggregate and the keys of it that are the service, and/or a filter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    aggregate: str
    values: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    filter: Annotated[str, Field(min_length=1)] | None = None

    @field_validator("aggregate")
    @classmethod
    def _aggregate(cls, value: str) -> str:
        value = value.strip()
        if "," in value:
            raise ValueError(f"one property, not a list: {value!r} (the report adds the team label itself)")
        if value.startswith(("label:", "annotation:")) and len(value.split(":", 1)[1]) > 0:
            return value
        if value not in AGGREGATES:
            raise ValueError(f"{value!r} is not one of {', '.join(AGGREGATES)}, label:NAME, annotation:NAME")
        return value

    @model_validator(mode="after")
    def _something(self) -> Allocations:
        if not self.values and self.filter is None:
            raise ValueError("give `values` (the aggregate's keys), a `filter`, or both")
        return self

    @property
    def request_key(self) -> tuple[str, str | None]:
        """What one Kubecost request is asked with: (aggregate, filter)."""
        return self.aggregate, self.filter


class Tokens(BaseModel):
    """The token counters of an LLM service (selectors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: str = DEFAULT_PROMPT_TOKENS
    generated: str = DEFAULT_GENERATED_TOKENS

    @field_validator("prompt", "generated")
    @classmethod
    def _selector(cls, value: str) -> str:
        try:
            parse_selector(value)
        except BadInputError as exc:
            raise ValueError(str(exc)) from None
        return value


class ServiceMapping(BaseModel):
    """One service: its allocations, the SLO counting its requests, its team and its kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    team: Name | None = None
    allocations: Allocations
    requests: Name
    kind: Literal["inference", "llm"] | None = None
    tokens: Tokens | None = None

    @model_validator(mode="after")
    def _tokens(self) -> ServiceMapping:
        if self.tokens is not None and self.kind != "llm":
            raise ValueError("tokens: only for `kind: llm`")
        return self

    @property
    def token_counters(self) -> Tokens | None:
        """The token counters (the defaults for `kind: llm` without `tokens`), None for other kinds."""
        return (self.tokens or Tokens()) if self.kind == "llm" else None

    @property
    def prompt_selector(self) -> Selector | None:
        counters = self.token_counters
        return parse_selector(counters.prompt) if counters is not None else None

    @property
    def generated_selector(self) -> Selector | None:
        counters = self.token_counters
        return parse_selector(counters.generated) if counters is not None else None

    def mapping_text(self) -> str:
        """`label:app in [api-gateway]` (+ ` filter namespace:"x"`): the mapping in words, for messages."""
        parts = [f"{self.allocations.aggregate} in [{', '.join(self.allocations.values)}]"
                 if self.allocations.values else f"aggregate {self.allocations.aggregate}"]
        if self.allocations.filter:
            parts.append(f"filter {self.allocations.filter}")
        return " ".join(parts)


class _File(BaseModel):
    """The file's top level (each service is validated on its own, so a message can name it)."""

    model_config = ConfigDict(extra="forbid")

    services: list[Any] = Field(min_length=1)


@dataclass(frozen=True)
class ServicesMap:
    """The validated file (`path` as given): its services, in the file's order (names unique)."""

    path: str
    services: tuple[ServiceMapping, ...]

    def names(self) -> list[str]:
        return [s.name for s in self.services]

    def select(self, names: Iterable[str] | str | None) -> list[ServiceMapping]:
        """The services named (all for None or "all"), in the file's order."""
        if names is None or names == "all":
            return list(self.services)
        wanted = {names} if isinstance(names, str) else set(names)
        return [s for s in self.services if s.name in wanted]

    def for_service(self, name: str) -> ServiceMapping | None:
        return next((s for s in self.services if s.name == name), None)

    def check_slos(self, known: Iterable[str], catalog: str) -> None:
        """Every `requests` names an SLO of the catalog, else BadInputError naming the service and the field."""
        names = set(known)
        for index, service in enumerate(self.services):
            if service.requests not in names:
                raise BadInputError(f"{self.path}: services[{index}].requests: service {service.name!r} counts its "
                                    f"requests with SLO {service.requests!r}, which {catalog} does not define "
                                    f"(known: {', '.join(sorted(names)) or 'none'})")


def parse_services_map(data: Any, node: yaml.Node | None = None, *, source: str = "services map") -> ServicesMap:
    """Validate already-loaded YAML; errors name `source`, the service, the field path and (given the node) the
    line."""
    if not isinstance(data, dict):
        raise BadInputError(f"{source}: expected a mapping with a `services` list, got {type(data).__name__}")
    if node is None:
        node = yaml.compose(yaml.safe_dump(data), Loader=SAFE_LOADER)
    items = validate_document(_File, data, source, node).services
    services: list[ServiceMapping] = []
    for index, item in enumerate(items):
        name = item.get("name") if isinstance(item, dict) else None
        label = f"{source}: service {name!r}" if isinstance(name, str) else source
        if not isinstance(item, dict):
            raise BadInputError(f"{label}: services[{index}]: expected a mapping with name, allocations and requests, "
                                f"got {type(item).__name__}{line_of(node, ('services', index))}")
        service = validate_document(ServiceMapping, item, label, node, prefix=("services", index))
        if any(s.name == service.name for s in services):
            raise BadInputError(f"{label}: services[{index}].name: listed twice"
                                f"{line_of(node, ('services', index, 'name'))}")
        services.append(service)
    return ServicesMap(source, tuple(services))
def load_services_map(path: str | Path) -> ServicesMap:
    """Load and validate a services map (a relative path starts at the project root)."""
    shown = str(path)
    data = read_yaml(resolve(path), what="services map", shown=shown)
    node = yaml.compose(Path(resolve(path)).read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    return parse_services_map(data, node, source=shown)
