"""The one PromQL model of the kit: series selectors parsed from what users write, rendered into queries, and
built safely from values that come from parameters or data.

- `parse_selector('metric{label="v", other=~"re"}')` reads a selector the way Prometheus does (double, single
  or back-quoted strings with Go escapes; regexes are checked); it raises `ValueError` naming the problem
  (pydantic turns it into a field error of the catalog).
- `Selector.to_promql()` renders it back; `selector("metric", label="value", code=not_matching("5.."))` builds
  one from keyword arguments (matchers sorted by label name).
- A label value is written as a double-quoted PromQL string with `\\`, `"`, newline and carriage return
  escaped, so a value like `x"} or vector(1) #` stays one literal value and cannot change the query. Label and
  metric names are validated instead (they cannot be quoted in Prometheus 2.x).
- Histogram bounds: `le="0.3"` and `le="0.30"` are the same bucket (Prometheus 3 normalises spellings, client
  libraries differ): `widen_le(selector)` sends an `le` equality as a regex matching every decimal spelling of
  the number, and `format_le` gives the canonical spelling the samples are then keyed by.

    >>> selector("http_requests_total", service="api-gateway", code=not_matching("5.."))
    'http_requests_total{code!~"5..",service="api-gateway"}'
"""

from __future__ import annotations

import decimal
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from goreliable_lib.errors import BadInputError

LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
OPERATORS = ("=", "!=", "=~", "!~")
Operator = Literal["=", "!=", "=~", "!~"]
_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"})
_RE2_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")


# --------------------------------------------------------------------------------------------- escaping
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


# --------------------------------------------------------------------------------------------- the model
@dataclass(frozen=True)
class Matcher:
    """One label matcher: `label op "value"`."""

    label: str
    op: Operator
    value: str

    def __post_init__(self) -> None:
        validate_label_name(self.label)
        if self.op not in OPERATORS:
            raise BadInputError(f"matcher {self.label}: operator {self.op!r} is not one of {', '.join(OPERATORS)}")
        escape_label_value(self.value)  # type check

    def to_promql(self) -> str:
        return f"{self.label}{self.op}{quote(self.value)}"

    def __str__(self) -> str:
        return self.to_promql()


@dataclass(frozen=True)
class Selector:
    """A Prometheus series selector: a metric name and label matchers (rendered in their order)."""

    metric: str | None
    matchers: tuple[Matcher, ...]

    def to_promql(self) -> str:
        inner = ",".join(m.to_promql() for m in self.matchers)
        return f"{self.metric or ''}{{{inner}}}" if inner or not self.metric else self.metric

    def __str__(self) -> str:
        return self.to_promql()

    def extra_matchers(self, other: Selector) -> tuple[Matcher, ...] | None:
        """The matchers this selector adds to `other` when it selects a subset of `other`'s series
        (same metric, every matcher of `other` present here), else None."""
        if self.metric != other.metric or not set(other.matchers) <= set(self.matchers):
            return None
        return tuple(m for m in self.matchers if m not in other.matchers)


# --------------------------------------------------------------------------------------------- parsing
_STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`'
_MATCHER = re.compile(rf"\s*(?P<label>[a-zA-Z_][a-zA-Z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*(?P<value>{_STRING})\s*")
_SELECTOR = re.compile(rf"^\s*(?P<metric>{METRIC_NAME.pattern})?\s*(?:\{{(?P<body>.*)\}})?\s*$", re.DOTALL)
_UNQUOTE = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f",
            "v": "\v"}


def _unquote(token: str) -> str:
    if token.startswith("`"):
        return token[1:-1]
    body, out, i = token[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            nxt = body[i + 1] if i + 1 < len(body) else ""
            if nxt not in _UNQUOTE:
                raise ValueError(f"unknown escape sequence \\{nxt} in {token} (write \\\\{nxt} for a regex escape)")
            out.append(_UNQUOTE[nxt])
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def parse_selector(text: str) -> Selector:
    """Parse `metric{label="v", other=~"re"}`; raises ValueError with the reason."""
    match = _SELECTOR.match(text or "")
    if not match or not (match["metric"] or match["body"] is not None):
        raise ValueError(f"must be a counter selector like metric{{label=\"value\"}}, got {text!r}")
    matchers: list[Matcher] = []
    body = (match["body"] or "").strip()
    position = 0
    while position < len(body):
        item = _MATCHER.match(body, position)
        if not item:
            raise ValueError(f"must be a counter selector like metric{{label=\"value\"}} (expressions are not "
                             f"supported: the SLI is computed from raw counter samples), got {text!r}")
        value = _unquote(item["value"])
        if item["op"] in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"bad regular expression {value!r} for label {item['label']}: {exc}") from None
        matchers.append(Matcher(item["label"], item["op"], value))  # type: ignore[arg-type]
        position = item.end()
        if position < len(body):
            if body[position] != ",":
                raise ValueError(f"expected ',' between matchers at {body[position:]!r} in {text!r}")
            position += 1
    if not match["metric"] and not any(m.label == "__name__" for m in matchers):
        raise ValueError(f"names no metric: {text!r}")
    for matcher in matchers:
        if matcher.label == "le" and matcher.op in ("=", "!="):
            try:
                float(matcher.value)
            except ValueError:
                raise ValueError(f"le={matcher.value!r} is not a number in {text!r}") from None
    return Selector(match["metric"], tuple(matchers))


# --------------------------------------------------------------------------------------------- building
@dataclass(frozen=True)
class _Pending:
    """A matcher value waiting for its label name (the keyword it is passed as)."""

    op: Operator
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
    parts.sort(key=lambda m: (m.label, m.op, m.value))
    if metric is not None:
        validate_metric_name(metric)
    elif not parts:
        raise BadInputError("selector: needs a metric name or at least one matcher")
    return Selector(metric, tuple(parts)).to_promql()


# --------------------------------------------------------------------------------------------- le spellings
def format_le(value: float) -> str:
    """The canonical spelling of a bucket bound: `0.3`, `1`, `+Inf`."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def le_regex(value: str) -> str:
    """A regex (RE2, anchored by Prometheus) matching every plain decimal spelling of the bound `value`."""
    number = float(value)
    if math.isinf(number):
        return r"\+?Inf" if number > 0 else "-Inf"
    patterns = []
    for text in {repr(number), format(decimal.Decimal(repr(number)), "f")}:
        if "e" in text or "E" in text:
            patterns.append(re.escape(text))
            continue
        whole, _, fraction = text.partition(".")
        fraction = fraction.rstrip("0")
        patterns.append(re.escape(whole) + (r"\." + re.escape(fraction) + "0*" if fraction else r"(\.0*)?"))
    return "|".join(sorted(set(patterns)))


def widen_le(selector: Selector) -> Selector:
    """The selector as sent: `le` equality matchers widened to every spelling of the bound."""
    matchers = tuple(Matcher("le", "=~" if m.op == "=" else "!~", le_regex(m.value))
                     if m.label == "le" and m.op in ("=", "!=") else m for m in selector.matchers)
    return Selector(selector.metric, matchers)
