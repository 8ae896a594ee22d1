"""Disaster-recovery targets (`params/dr_targets.yaml`): RPO/RTO per component and the whole-drill target.

The file, validated with pydantic::

    drill: {scenario: cluster-replacement, duration_target: 10m, description: ...}
    components:
      - {component: postgresql, name: PostgreSQL, rpo: 5m, rto: 30m, recovery_mechanism: ...}

Durations are `0`, seconds, or Prometheus-style strings (`30s`, `5m`, `1h30m`). Any problem raises
`BadInputError` naming the file and the field path (e.g. `params/dr_targets.yaml: components[2].rto: ...`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs.yamlfile import field_path, read_yaml
from goreliable_lib.paths import params_file, resolve
from goreliable_lib.timeutil import parse_duration

DEFAULT_TARGETS_FILE = "dr_targets.yaml"

# The seed's DR table (component slug -> (RPO seconds, RTO seconds)); params/dr_targets.yaml holds the same
# numbers (a test keeps them in agreement). Used for the simulator's ground truth and to flag unknown
# components in drill logs.
SEED_DR_TABLE: dict[str, tuple[float, float]] = {
    "postgresql": (300.0, 1800.0),
    "nats-jetstream": (0.0, 900.0),
    "application-code": (0.0, 600.0),
    "model-artifacts": (0.0, 300.0),
    "mlflow-metadata": (900.0, 2700.0),
    "grafana-dashboards": (0.0, 300.0),
}
SEED_COMPONENTS: tuple[str, ...] = tuple(SEED_DR_TABLE)
SEED_DRILL_DURATION_TARGET_SECONDS = 600.0


def _to_seconds(value: Any) -> float:
    """0 or a positive duration (number of seconds, or '5m'), as seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 0, 300 or '5m', got {value!r}")
    if (isinstance(value, int | float) and value == 0) or (isinstance(value, str) and value.strip() in {"0", "0s"}):
        return 0.0
    try:
        return parse_duration(value).total_seconds()
    except BadInputError as exc:
        raise ValueError(str(exc).removeprefix("duration: ")) from None


Seconds = Annotated[float, BeforeValidator(_to_seconds)]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=63)]


class ComponentTarget(BaseModel):
    """One row of the DR table."""

    model_config = ConfigDict(extra="forbid")

    component: Slug
    name: str | None = None
    rpo: Seconds
    rto: Seconds
    recovery_mechanism: str = ""


class DrillTarget(BaseModel):
    """The whole-drill target: disaster_declared to the last component recovered."""

    model_config = ConfigDict(extra="forbid")

    scenario: str = "cluster-replacement"
    duration_target: Seconds
    description: str = ""


class DRTargets(BaseModel):
    """The validated targets file."""

    model_config = ConfigDict(extra="forbid")

    drill: DrillTarget
    components: list[ComponentTarget] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_components(self) -> DRTargets:
        seen: set[str] = set()
        for index, target in enumerate(self.components):
            if target.component in seen:
                raise ValueError(f"components[{index}].component: {target.component!r} is listed twice")
            seen.add(target.component)
        return self

    @property
    def drill_duration_target_seconds(self) -> float:
        return self.drill.duration_target

    def component_names(self) -> list[str]:
        return [target.component for target in self.components]

    def get(self, component: str) -> ComponentTarget | None:
        return next((t for t in self.components if t.component == component), None)

    def frame(self) -> pd.DataFrame:
        """One row per component: component, name, rpo_target_seconds, rto_target_seconds, recovery_mechanism."""
        return pd.DataFrame(
            [{"component": t.component, "name": t.name or t.component, "rpo_target_seconds": t.rpo,
              "rto_target_seconds": t.rto, "recovery_mechanism": t.recovery_mechanism} for t in self.components],
            columns=["component", "name", "rpo_target_seconds", "rto_target_seconds", "recovery_mechanism"])


def parse_dr_targets(data: Any, *, source: str = "dr targets") -> DRTargets:
    """Validate already-loaded YAML data; `source` names the file in error messages."""
    if not isinstance(data, dict):
        raise BadInputError(f"{source}: expected a mapping with 'drill' and 'components', got {type(data).__name__}")
    try:
        return DRTargets.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        message = str(error["msg"]).removeprefix("Value error, ")
        where = field_path(tuple(error["loc"]))
        if error["loc"] == () and ": " in message:  # model-level check already names its field
            where, message = message.split(": ", 1)
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        raise BadInputError(f"{source}: {where}: {message}{more}") from None


def load_dr_targets(path: str | Path | None = None) -> DRTargets:
    """Load and validate a targets file (a relative path starts at the project root; default
    `params/dr_targets.yaml`); errors name the file as given."""
    shown = str(path) if path is not None else f"params/{DEFAULT_TARGETS_FILE}"
    target_path = resolve(path) if path is not None else params_file(DEFAULT_TARGETS_FILE)
    data = read_yaml(target_path, what="DR targets", shown=shown)
    return parse_dr_targets(data, source=shown)


def seed_targets() -> DRTargets:
    """The seed's table as a `DRTargets` (no file needed)."""
    return DRTargets(
        drill=DrillTarget(duration_target=SEED_DRILL_DURATION_TARGET_SECONDS),
        components=[ComponentTarget(component=c, rpo=rpo, rto=rto) for c, (rpo, rto) in SEED_DR_TABLE.items()])
