"""Monthly cost budgets (`params/budgets.yaml`) per namespace and per team, validated with pydantic.

```yaml
at_risk_ratio: 0.9          # projected above 90 % of the limit = at risk (optional, default 0.9)
namespaces:
  go-reliable-production: 500   # USD a month (the seed's alert)
teams:
  ml-platform: 1500
```
Amounts are money a month in the allocations' currency, positive numbers. Any problem raises `BadInputError`
naming the file and the field path (e.g. `params/budgets.yaml: teams.ml-platform: ...`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, ValidationError

from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs.yamlfile import field_path, read_yaml
from goreliable_lib.paths import resolve

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=253)]
Money = Annotated[StrictFloat | StrictInt, Field(gt=0, allow_inf_nan=False)]


class Budgets(BaseModel):
    """The validated budgets file: monthly limits per namespace and per team."""

    model_config = ConfigDict(extra="forbid")

    at_risk_ratio: Annotated[float, Field(gt=0, le=1)] = 0.9
    namespaces: dict[Name, Money] = Field(default_factory=dict)
    teams: dict[Name, Money] = Field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        """One row per budget: `scope` (`namespace:NAME` / `team:NAME`), `kind`, `name`, `limit`."""
        rows = [{"scope": f"{kind}:{name}", "kind": kind, "name": name, "limit": float(limit)}
                for kind, limits in (("namespace", self.namespaces), ("team", self.teams))
                for name, limit in limits.items()]
        return pd.DataFrame(rows, columns=["scope", "kind", "name", "limit"])


def parse_budgets(data: Any, *, source: str = "budgets") -> Budgets:
    """Validate already-loaded YAML data; `source` names the file in error messages."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BadInputError(f"{source}: expected a mapping with 'namespaces' and/or 'teams', "
                            f"got {type(data).__name__}")
    try:
        return Budgets.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        if error["type"].startswith("string_") and loc and loc[-1] == "[key]":  # a bad key: name it
            loc = loc[:-1]
            message = f"{error['input']!r} is not a valid name ({error['msg']})"
        else:
            loc = tuple(p for p in loc if p not in ("float", "int"))  # the union's branch names
            message = str(error["msg"]) + (f", got {error['input']!r}" if "input" in error else "")
        places = {tuple(p for p in e["loc"] if p not in ("float", "int")) for e in exc.errors()}
        more = f" (and {len(places) - 1} more problem(s))" if len(places) > 1 else ""
        raise BadInputError(f"{source}: {field_path(loc)}: {message}{more}") from None


def load_budgets(path: str | Path) -> Budgets:
    """Load and validate a budgets file (a relative path starts at the project root); errors name the file (and the
    line for YAML syntax errors)."""
    data = read_yaml(resolve(path), what="budgets", shown=str(path))
    return parse_budgets(data, source=str(path))
