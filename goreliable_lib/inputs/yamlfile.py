"""Reading the YAML files users write (parameters, budgets, DR targets, config): errors name the file and line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from goreliable_lib.errors import BadInputError


def read_yaml(path: str | Path, *, what: str, shown: str | None = None) -> Any:
    """The parsed YAML of `path`, a `what` file (e.g. "budgets"); every failure is a BadInputError naming
    the file as `shown` (default: the path) and, for syntax errors, the line."""
    name = shown if shown is not None else str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInputError(f"{name}: {what} file not found") from None
    except UnicodeDecodeError as exc:
        raise BadInputError(f"{name}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise BadInputError(f"{name}: cannot read the {what} file ({exc.strerror or exc})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise BadInputError(f"{name}:{where} is not valid YAML: {getattr(exc, 'problem', exc)}") from None


#: Location segments pydantic adds for validators and unions, e.g. `function-after[_check(), Budgets]`.
_PYDANTIC_SEGMENT = re.compile(r"^(?:function-(?:after|before|wrap|plain)|tagged-union)\[")


def field_path(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as a path users read: `teams.ml-platform`, `components[2].rto`; pydantic's own
    segments (`function-after[...]` of a validator, `tagged-union[...]`) are not fields and are left out."""
    path = ""
    for part in loc:
        if isinstance(part, str) and _PYDANTIC_SEGMENT.match(part):
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"
