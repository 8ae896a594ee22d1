"""Report parameters merged like papermill's: defaults <- default file <- `-f FILE.yaml` <- `-p key=value`.

Everything is validated here, before any kernel starts: an unknown parameter, a wrong type or a bad window
is a BadInputError (exit 2) naming the parameter and listing the valid ones. So is a parameter holding the value
of a credential from the environment: parameters end up in summary.json and the notebook, and data is never
masked (runner/scrub.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from goreliable_lib.errors import BadInputError
from goreliable_lib.inputs.yamlfile import read_yaml
from goreliable_lib.paths import project_root
from goreliable_lib.reports.base import ReportSpec
from goreliable_lib.runner.scrub import holds_credential
from goreliable_lib.timeutil import to_rfc3339


def parse_assignments(pairs: Iterable[str]) -> dict[str, Any]:
    """`-p key=value` pairs; values are YAML-typed (`8` is an int, `[a, b]` a list, `now` text)."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise BadInputError(f"-p {pair!r}: expected key=value")
        try:
            values[key] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            values[key] = raw  # not YAML: plain text, the validator decides
    return values


def load_param_file(path: str | Path) -> dict[str, Any]:
    """A YAML mapping of parameters; errors name the file (and the line for YAML syntax errors)."""
    file = Path(path)
    if not file.is_absolute() and not file.exists():
        file = project_root() / file
    data = read_yaml(file, what="parameter", shown=f"-f {path}")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadInputError(f"{path}: expected a mapping of parameter names to values, got {type(data).__name__}")
    return {str(k): v for k, v in data.items()}


def _plain(value: Any) -> Any:
    """YAML dates/datetimes to RFC3339 text so papermill can inject every value as a literal."""
    if isinstance(value, dt.datetime | dt.date):
        return to_rfc3339(value if isinstance(value, dt.datetime) else dt.datetime(value.year, value.month,
                                                                                    value.day))
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def resolve_parameters(report: ReportSpec, parameters: Mapping[str, Any] | None = None,
                       files: Iterable[str | Path] = (), *, use_default_file: bool = True,
                       check_files: bool = True) -> dict[str, Any]:
    """The validated parameters of one run: spec defaults <- params/<report>.yaml <- files <- parameters; with
    `check_files`, the report's input files too (`check_inputs`; the runner does that while the kernel starts)."""
    valid = report.param_names
    merged: dict[str, Any] = {p.name: p.default for p in report.params}
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if use_default_file and report.default_param_file:
        default_file = project_root() / report.default_param_file
        if default_file.is_file():
            layers.append((report.default_param_file, load_param_file(default_file)))
    layers += [(str(f), load_param_file(f)) for f in files]
    layers.append(("-p", dict(parameters or {})))
    for origin, layer in layers:
        for key, value in layer.items():
            if key not in merged:
                raise BadInputError(f"report {report.name}: unknown parameter {key!r} (from {origin}); "
                                    f"valid: {', '.join(valid)}")
            merged[key] = _plain(value)
    resolved: dict[str, Any] = {}
    for spec in report.params:
        value = merged[spec.name]
        if value is None and spec.required:
            raise BadInputError(f"report {report.name}: parameter {spec.name!r} is required ({spec.help}); "
                                f"valid: {', '.join(valid)}")
        try:
            resolved[spec.name] = spec.validator(value, spec.name)
        except BadInputError as exc:
            raise BadInputError(f"report {report.name}: parameter {exc}; valid: {', '.join(valid)}") from None
        except (ValueError, TypeError, OverflowError) as exc:  # a value no validator foresaw: still bad input
            raise BadInputError(f"report {report.name}: parameter {spec.name}: {str(value)[:100]!r} is not valid "
                                f"({type(exc).__name__}: {str(exc)[:200]}); valid: {', '.join(valid)}") from None
    if held := [name for name, value in resolved.items() if holds_credential(value)]:
        raise BadInputError(f"report {report.name}: parameter {held[0]}: holds the value of a credential set in the "
                            "environment; credentials come from the environment only, never from parameters "
                            "(nothing was run)")
    if check_files:
        check_inputs(report, resolved)
    return resolved


def check_inputs(report: ReportSpec, resolved: Mapping[str, Any]) -> None:
    """The report's pre-kernel check of its input files (a catalog parses, names exist): BadInputError, exit 2."""
    if report.check is None:
        return
    try:
        report.check(dict(resolved))
    except BadInputError as exc:
        raise BadInputError(f"report {report.name}: parameter {exc}; valid: {', '.join(report.param_names)}") from None
