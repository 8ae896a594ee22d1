"""Building PromQL selectors safely from values that come from parameters.

A label value is written as a double-quoted PromQL string with `\\`, `"`, newline and carriage return
escaped, so a value like `x"} or vector(1) #` stays one literal value and cannot change the query.
Label and metric names are validated instead (they cannot be quoted in Prometheus 2.x).

    >>> selector("http_requests_total", service="api-gateway", code=not_matching("5.."))
    'http_requests_total{code!~"5..",service="api-gateway"}'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from goreliable_lib.errors import BadInputError

LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
OPERATORS = ("=", "!=", "=~", "!~")
_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"})
_RE2_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")


def escape_label_value(value: str) -> str:
    """Escape a label value for use between double quotes in PromQL."""
    if not isinstance(value, str):
        raise BadInputError(f"label value: expected a string, got {value!r}")
    return value.translate(_ESCAPES)


def quote(value: str) -> str:
    """A PromQL double-quoted string literal."""
    return f'"{escape_label_value(value)}"'


def validate_label_name(name: str, *, field: str = "label name") -> str:
    """Return `name` if it is a valid Prometheus label name, else raise `BadInputError`."""
    if not isinstance(name, str) or not LABEL_NAME.fullmatch(name):
        raise BadInputError(f"{field}: {name!r} is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)")
    return name


def validate_metric_name(name: str, *, field: str = "metric name") -> str:
    """Return `name` if it is a valid Prometheus metric name, else raise `BadInputError`."""
    if not isinstance(name, str) or not METRIC_NAME.fullmatch(name):
        raise BadInputError(f"{field}: {name!r} is not a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)")
    return name


def regex_escape(value: str) -> str:
    """Escape RE2 metacharacters so `value` matches literally inside a `=~` matcher."""
    return _RE2_SPECIAL.sub(r"\\\1", value)


@dataclass(frozen=True)
class Matcher:
    """One label matcher: `name op "value"`."""

    name: str
    op: str
    value: str

    def __post_init__(self) -> None:
        validate_label_name(self.name)
        if self.op not in OPERATORS:
            raise BadInputError(f"matcher {self.name}: operator {self.op!r} is not one of {', '.join(OPERATORS)}")
        escape_label_value(self.value)  # type check

    def __str__(self) -> str:
        return f"{self.name}{self.op}{quote(self.value)}"


@dataclass(frozen=True)
class _Pending:
    """A matcher value waiting for its label name (the keyword it is passed as)."""

    op: str
    value: str


def matching(pattern: str) -> _Pending:
    """`label=~"pattern"` (RE2, fully anchored by Prometheus)."""
    return _Pending("=~", pattern)


def not_matching(pattern: str) -> _Pending:
    """`label!~"pattern"`."""
    return _Pending("!~", pattern)


def not_equal(value: str) -> _Pending:
    """`label!="value"`."""
    return _Pending("!=", value)


def any_of(values: Iterable[str]) -> _Pending:
    """`label=~"a|b|c"` matching exactly one of the literal values."""
    values = list(values)
    if not values:
        raise BadInputError("any_of: needs at least one value")
    return _Pending("=~", "|".join(regex_escape(v) for v in values))


def selector(metric: str | None = None, /, *matchers: Matcher, **labels: str | _Pending) -> str:
    """A series selector: `metric{label="value",...}`; matchers are sorted by label name.

    Keyword values are equality matchers (strings) or `matching(...)`, `not_matching(...)`,
    `not_equal(...)`, `any_of(...)`; positional `Matcher`s allow any label name.
    """
    parts = list(matchers)
    for name, value in labels.items():
        if isinstance(value, _Pending):
            parts.append(Matcher(name, value.op, value.value))
        else:
            parts.append(Matcher(name, "=", value))
    parts.sort(key=lambda m: (m.name, m.op, m.value))
    if metric is not None:
        validate_metric_name(metric)
    elif not parts:
        raise BadInputError("selector: needs a metric name or at least one matcher")
    inner = ",".join(str(m) for m in parts)
    if metric is None:
        return f"{{{inner}}}"
    return f"{metric}{{{inner}}}" if inner else metric
