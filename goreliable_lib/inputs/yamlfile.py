"""Reading the YAML files users write (parameters, budgets, DR targets, config): errors name the file and line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from goreliable_lib.errors import BadInputError


class SpecModel(BaseModel):
    """The base of the SLO file formats' models (OpenSLO, Pyrra, Sloth): frozen, and fields a tool adds that the kit
    does not read are kept, not refused (the specs let tools extend their documents)."""

    model_config = ConfigDict(extra="allow", frozen=True)


#: PyYAML's safe loader, libyaml's C build of it when PyYAML has one (a catalog parses 6x faster).
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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
        return yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506 - a safe loader
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


def line_of(node: yaml.Node, loc: tuple[Any, ...]) -> str:
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


def error_message(error: dict[str, Any]) -> str:
    """A pydantic error as users read it (`required field missing`, `unknown field`, the validator's sentence)."""
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


def validate_document(model: type[BaseModel], document: Any, label: str, node: yaml.Node,
                      prefix: tuple[Any, ...] = ()) -> Any:
    """`model` validated from one YAML object; BadInputError `label: field.path: message (line N)` naming the first
    problem (and how many more). `prefix` is where the object sits inside `node` (e.g. `("slos", 2)`)."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        error = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        loc, message = (*prefix, *error["loc"]), error_message(error)
        if match := _LEADING_FIELD.match(message):  # a validator naming a field below its own: `objectives[0].x: ...`
            loc += tuple(int(part) if part.isdigit() else part for part in re.findall(r"\w+", match[1]))
            message = message[match.end():]
        raise BadInputError(f"{label}: {field_path(loc)}: {message}{more}{line_of(node, loc)}") from None


_LEADING_FIELD = re.compile(r"^([A-Za-z_]\w*(?:\[\d+\])*(?:\.[A-Za-z_]\w*(?:\[\d+\])*)*): ")
