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
- `parse_counter_query(text)` reads the counter selector of a query written the ways SLO tools write a count of
  events: `SEL`, `sum(SEL)`, `sum(rate(SEL[5m]))`, `sum(increase(SEL[5m]))`, and with `window_template=True`
  Sloth's `sum(rate(SEL[{{.window}}]))`; `parse_counter_difference(text)` reads `A - B` of two such queries
  (Sloth's latency idiom: errors = total - fast). Anything else raises `ValueError` saying why and what to
  write: the SLI is computed exactly from the raw samples of the selector, which an expression would not allow.
  `split_grouping(text)` takes the `by (...)` clause off `sum by (L) (X)` / `sum(X) by (L)` (a grouped SLO: one
  SLO per combination of the labels' values), giving `sum(X)` and the labels.
- Histogram bounds: `le="0.3"` and `le="0.30"` are the same bucket (Prometheus 3 normalises spellings, client
  libraries differ): `widen_le(selector)` sends an `le` equality as a regex matching every decimal spelling of
  the number, and `format_le` gives the canonical spelling the samples are then keyed by.
- `syntax_error(text)` says why a whole query is not PromQL (None when it is): the words of promql-parser (the
  Python binding of the Rust crate of that name, Prometheus 2.45's grammar and functions), plus the line and column
  of an unbalanced bracket or an unclosed string, which its messages do not carry. It is asked only where no server
  judges the query (replaying a snapshot, `PrometheusSource`): a server knows its own dialect (Prometheus 3's new
  functions, VictoriaMetrics' MetricsQL) better than any grammar frozen here.

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

import promql_parser

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


# --------------------------------------------------------------------------------------------- counter queries
_RANGE = re.compile(r"^(?:\d+(?:ms|[smhdwy]))+$")
_WINDOW_TEMPLATE = re.compile(r"^\{\{\s*\.window\s*\}\}$")
_CALL = re.compile(r"^(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)\s*\(")
_COUNT_FUNCTIONS = ("rate", "increase")
_OPEN, _CLOSE = "([{", ")]}"


def _depths(text: str) -> list[int]:
    """The bracket depth before each character of `text`, -1 inside a string literal (quotes included)."""
    depths, depth, quote_char, i = [], 0, "", 0
    while i < len(text):
        char = text[i]
        if quote_char:
            depths.append(-1)
            if char == "\\" and quote_char != "`" and i + 1 < len(text):
                depths.append(-1)
                i += 2
                continue
            if char == quote_char:
                quote_char = ""
        elif char in "\"'`":
            quote_char = char
            depths.append(-1)
        else:
            if char in _CLOSE:
                depth -= 1
            depths.append(depth)
            if char in _OPEN:
                depth += 1
        i += 1
    return depths


def _call_argument(text: str) -> tuple[str, str] | None:
    """(function, argument) when `text` is exactly one call `name(argument)`, else None."""
    match = _CALL.match(text)
    if not match or not text.endswith(")"):
        return None
    depths = _depths(text)
    opening = match.end() - 1
    # the call's own parenthesis must close at the last character, not before
    if any(d == depths[opening] and c == ")" for c, d in zip(text[opening + 1:-1], depths[opening + 1:-1],
                                                               strict=True)):
        return None
    return match["name"], text[match.end():-1].strip()


def _strip_parentheses(text: str) -> str:
    text = text.strip()
    while text.startswith("(") and text.endswith(")"):
        depths = _depths(text)
        if any(c == ")" and d == 0 for c, d in zip(text[1:-1], depths[1:-1], strict=True)):
            break
        text = text[1:-1].strip()
    return text


def _counter_query(text: str, window_template: bool) -> Selector | None:
    """The selector of `SEL`, `sum(SEL)`, `sum(rate|increase(SEL[RANGE]))`, `rate|increase(SEL[RANGE])`."""
    text = _strip_parentheses(text)
    call = _call_argument(text)
    if call is not None and call[0] == "sum":
        text = _strip_parentheses(call[1])
        call = _call_argument(text)
    if call is not None and call[0] in _COUNT_FUNCTIONS:
        inner = call[1]
        if not inner.endswith("]") or "[" not in inner:
            return None
        cut = inner.rindex("[")
        span = inner[cut + 1:-1].strip()
        if not (_RANGE.match(span) or (window_template and _WINDOW_TEMPLATE.match(span))):
            return None
        text = inner[:cut]
    elif call is not None:
        return None
    try:
        return parse_selector(text)
    except ValueError:
        return None


_MODIFIER = re.compile(r"\s*(?:offset\s+-?(?:\d+(?:ms|[smhdwy]))+|@\s*(?:[-+]?[\d.eE+-]+|start\(\)|end\(\)))\s*$")


def is_range_selector(text: str) -> bool:
    """True when `text` is a bare range selector, `SEL[RANGE]` (optionally with `offset` and `@` modifiers): the
    query whose answer is the raw samples the server holds, not values an expression computed (a subquery
    `expr[5m:1m]` is an expression)."""
    if not isinstance(text, str):
        return False
    text = text.strip()
    while (modifier := _MODIFIER.search(text)) is not None and modifier.start() > 0:
        text = text[:modifier.start()].rstrip()
    if not text.endswith("]") or "[" not in text:
        return False
    cut = text.rindex("[")
    if not _RANGE.match(text[cut + 1:-1].strip()):
        return False
    try:
        parse_selector(text[:cut].strip())
    except ValueError:
        return False
    return True


def _position(text: str, index: int) -> str:
    """`column C` of a one-line text, `line L, column C` otherwise (1-based, in characters)."""
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"column {column}" if "\n" not in text else f"line {line}, column {column}"


def unbalanced(text: str) -> str | None:
    """Where `text`'s brackets or quotes do not balance (a closer that closes nothing or the wrong opener, the
    innermost opener never closed, a string never closed), or None. Strings follow PromQL: `"` and `'` with
    backslash escapes, backquotes raw; `#` starts a comment up to the end of the line."""
    stack: list[tuple[str, int]] = []
    quote_char, quote_at, i = "", -1, 0
    while i < len(text):
        char = text[i]
        if quote_char:
            if char == "\\" and quote_char != "`":
                i += 2
                continue
            if char == quote_char or (char == "\n" and quote_char != "`"):
                if char == "\n":  # a string ends at its line in PromQL
                    break
                quote_char = ""
        elif char == "#":
            newline = text.find("\n", i)
            if newline < 0:
                break
            i = newline
        elif char in "\"'`":
            quote_char, quote_at = char, i
        elif char in _OPEN:
            stack.append((char, i))
        elif char in _CLOSE:
            if not stack:
                return f"the {char!r} at {_position(text, i)} closes nothing"
            opener, opened_at = stack.pop()
            if _OPEN.index(opener) != _CLOSE.index(char):
                return (f"the {char!r} at {_position(text, i)} does not close the {opener!r} at "
                        f"{_position(text, opened_at)}")
        i += 1
    if quote_char:
        return f"the string opened by the {quote_char} at {_position(text, quote_at)} is never closed"
    if stack:
        opener, opened_at = stack[-1]
        return f"the {opener!r} at {_position(text, opened_at)} is never closed"
    return None


def syntax_error(text: str) -> str | None:
    """Why `text` is not a PromQL query, or None when it is: promql-parser's message, with the position of an
    unbalanced bracket or quote (`unbalanced`) in parentheses."""
    try:
        promql_parser.parse(text)
    except ValueError as exc:
        message = " ".join(str(exc).split()) or "not a PromQL expression"
        where = unbalanced(text)
        return message if where is None else f"{message} ({where})"
    return None


def _query_forms(window_template: bool) -> str:
    span = "{{.window}}" if window_template else "5m"
    return f"metric{{label=\"value\"}}, sum(metric{{...}}) or sum(rate(metric{{...}}[{span}]))"


def parse_counter_query(text: str, *, window_template: bool = False) -> Selector:
    """The counter selector a count-of-events query is written on: `SEL`, `sum(SEL)`, `sum(rate(SEL[R]))` or
    `sum(increase(SEL[R]))` (R a duration, or `{{.window}}` with `window_template`). Over an SLO window every
    form counts the events of SEL's series, which the kit counts exactly from their raw samples. Raises
    ValueError saying why anything else is refused and what to write instead."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"must be a counter selector like {_query_forms(window_template)}, got {text!r}")
    found = _counter_query(text, window_template)
    if found is not None:
        return found
    stripped = text.strip()
    if not any(c in "([" and d >= 0 for c, d in zip(stripped, _depths(stripped), strict=True)):
        parse_selector(stripped)  # a plain selector: its own, precise message (quoting, a regex, no metric name)
    raise ValueError(
        f"must be a counter selector like {_query_forms(window_template)}: the SLI is computed exactly from the "
        f"raw samples of the counter's series, which an arbitrary expression (by-clauses, arithmetic, other "
        f"functions) does not allow; write the counter selector the expression reads, got {stripped!r}")


_BY_PREFIX = re.compile(r"^sum\s*by\s*\((?P<labels>[^()]*)\)\s*(?=\()")
_BY_SUFFIX = re.compile(r"\)\s*by\s*\((?P<labels>[^()]*)\)$")


def _labels(text: str, query: str) -> tuple[str, ...]:
    labels = tuple(label.strip() for label in text.split(",") if label.strip())
    for label in labels:
        if not LABEL_NAME.fullmatch(label):
            raise ValueError(f"by ({text.strip()}): {label!r} is not a label name, in {query.strip()!r}")
    if len(set(labels)) != len(labels):
        raise ValueError(f"by ({text.strip()}): a label is named twice, in {query.strip()!r}")
    return labels


def split_grouping(text: str) -> tuple[str, tuple[str, ...]]:
    """(`sum(X)`, labels) of `sum by (labels) (X)` or `sum(X) by (labels)` (outer parentheses allowed); (text, ())
    for a query without a `by` clause on its outer `sum`. Raises ValueError for a `by` list that is not label
    names. What `X` is, `parse_counter_query` says."""
    if not isinstance(text, str):
        return text, ()
    stripped = _strip_parentheses(text)
    prefix = _BY_PREFIX.match(stripped)
    if prefix is not None:
        rest = stripped[prefix.end():]
        if _call_argument("sum" + rest) is not None:
            return "sum" + rest, _labels(prefix["labels"], text)
        return text, ()
    suffix = _BY_SUFFIX.search(stripped)
    if suffix is not None and stripped.startswith("sum"):
        head = stripped[:suffix.start() + 1]
        depths = _depths(stripped)
        if depths[suffix.start()] == 0 and _call_argument(head) is not None:
            return head, _labels(suffix["labels"], text)
    return text, ()


def parse_counter_difference(text: str, *, window_template: bool = False) -> tuple[Selector, Selector] | None:
    """(A, B) when `text` is `A - B` of two count-of-events queries (`parse_counter_query` forms, outer
    parentheses allowed): Sloth writes latency errors as `total - fast`. None for any other shape."""
    sides = _difference_sides(text)
    if sides is None:
        return None
    left, right = (_counter_query(side, window_template) for side in sides)
    return (left, right) if left is not None and right is not None else None


def _difference_sides(text: str) -> tuple[str, str] | None:
    """The two sides of `A - B` (one minus outside brackets, outer parentheses stripped), else None."""
    text = _strip_parentheses(text)
    depths = _depths(text)
    minus = [i for i, (c, d) in enumerate(zip(text, depths, strict=True)) if c == "-" and d == 0]
    return (text[:minus[0]], text[minus[0] + 1:]) if len(minus) == 1 else None


def parse_grouped_difference(text: str, *,
                             window_template: bool = False) -> tuple[Selector, Selector, tuple[str, ...]] | None:
    """(A, B, labels) when `text` is `A - B` of two count-of-events queries each grouped by the same labels
    (`split_grouping`: `sum by (job) (rate(A[w])) - sum by (job) (rate(B[w]))`); None for any other shape, or
    when the two sides are not grouped alike."""
    sides = _difference_sides(text)
    if sides is None:
        return None
    (left_text, left_by), (right_text, right_by) = (split_grouping(side) for side in sides)
    if not left_by or set(left_by) != set(right_by):
        return None
    left, right = (_counter_query(side, window_template) for side in (left_text, right_text))
    return (left, right, left_by) if left is not None and right is not None else None


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
