"""summary.json against its JSON Schema (docs/schema/): the validators, and the check of every summary.json under a
folder that tests/conftest.py runs on the session's temporary folders when a test session ends.

What a report writes is validated against the schema named by its `report` field (docs/schema/<report>.json, each
`allOf` the common one): every summary.json whose run executed the report's own notebook template (`runner.notebook`,
e.g. `notebooks/slo_report.ipynb`): the demo suite, the reports' own tests, the stack and fault tests; ok or failed.
Skipped, and counted in the session's line:
- a `report` without a schema: the fault tests' probe reports (`probe`);
- stand-ins: a summary naming a report but not written by its notebook: the runner tests' tiny notebooks
  (tests/data/notebooks/), the run context's tests (`Run(...).write_summary({"requests": 1.0})`) and the hand-made
  runs of the index, publishing and concurrency tests: their bodies are made up to exercise the machinery, not the
  report's fields;
- a summary.json that is no JSON object with a `report` (the corrupt files some tests write on purpose).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from goreliable_lib.reports.registry import REPORTS

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = ROOT / "docs" / "schema"
#: The reports with a schema of their own (docs/schema/<name>.json); `common.json` holds the fields of every one.
REPORT_SCHEMAS = ("slo", "cost", "dr", "postmortem", "slo-review")
COMMON = "common"
SUMMARY_FILE = "summary.json"
#: How a summary.json without a usable `report` field is counted among the skipped ones.
NOT_A_SUMMARY = "(no report field)"


def from_the_reports_notebook(summary: Mapping[str, Any]) -> bool:
    """The run executed its report's own notebook template (`runner.notebook` ends with `REPORTS[report].notebook`,
    relative or absolute): what it wrote is the report's, not a test's stand-in."""
    runner = summary.get("runner")
    notebook = runner.get("notebook") if isinstance(runner, Mapping) else None
    spec = REPORTS.get(str(summary.get("report")))
    return isinstance(notebook, str) and spec is not None and Path(notebook).as_posix().endswith(spec.notebook)


def load_schema(name: str) -> dict[str, Any]:
    """docs/schema/NAME.json as a dict."""
    return json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))


@cache
def registry() -> Registry:
    """Every schema of docs/schema/ under its file name: the `$ref`s between them are relative (`common.json`)."""
    resources = [(f"{name}.json", Resource.from_contents(load_schema(name), default_specification=DRAFT202012))
                 for name in (COMMON, *REPORT_SCHEMAS)]
    return Registry().with_resources(resources)


@cache
def validator(name: str) -> Draft202012Validator:
    """The validator of docs/schema/NAME.json (formats checked too: date-time, date)."""
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=registry(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def error_path(error: Any) -> str:
    """Where in the summary an error is, as people read it: `slos[0].status` (`(top level)` for the object)."""
    text = ""
    for part in error.absolute_path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "(top level)"


def schema_errors(summary: Any, name: str | None = None) -> list[str]:
    """Every way `summary` breaks the schema of `name` (default: its `report`), as `path: message`, sorted."""
    schema = name or (summary.get("report") if isinstance(summary, Mapping) else None)
    if schema not in REPORT_SCHEMAS and schema != COMMON:
        raise ValueError(f"no schema for report {schema!r} (docs/schema/ holds {', '.join(REPORT_SCHEMAS)})")
    errors = validator(schema).iter_errors(summary)
    return sorted(f"{error_path(e)}: {e.message} (schema: {'/'.join(map(str, e.absolute_schema_path))})"
                  for e in errors)


def find_summaries(folders: Iterable[Path]) -> list[Path]:
    """Every summary.json under `folders` (symbolic links not followed: a report's `latest` is its newest run,
    already found), each file once."""
    found: dict[str, Path] = {}
    for folder in folders:
        for here, _, files in os.walk(folder):
            if SUMMARY_FILE in files:
                path = Path(here) / SUMMARY_FILE
                found.setdefault(os.path.realpath(path), path)
    return sorted(found.values())


def _counts(found: Mapping[str, list[Path]], *, quoted: bool = False) -> str:
    return ", ".join((repr(name) if quoted else name) + f" {len(paths)}" for name, paths in sorted(found.items()))


@dataclass
class SummaryCheck:
    """What `check_summaries` found: the summaries validated (by report), skipped (by report name: no schema),
    stand-ins (by report: not written by its notebook) and invalid."""

    validated: dict[str, list[Path]] = field(default_factory=dict)
    skipped: dict[str, list[Path]] = field(default_factory=dict)
    stand_ins: dict[str, list[Path]] = field(default_factory=dict)
    invalid: dict[Path, list[str]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(paths) for paths in self.validated.values())

    def line(self) -> str:
        """The session's count line: how many were validated, per report, and what was skipped."""
        skipped = sum(len(paths) for paths in self.skipped.values())
        stand_ins = sum(len(paths) for paths in self.stand_ins.values())
        return (f"summary.json schema check: {self.count} validated against docs/schema/"
                + (f" ({_counts(self.validated)})" if self.validated else "") + f", {len(self.invalid)} invalid"
                + f"; skipped: {skipped} without a schema"
                + (f" (report {_counts(self.skipped, quoted=True)})" if skipped else "")
                + f", {stand_ins} tests' stand-ins not written by the report's notebook"
                + (f" ({_counts(self.stand_ins)})" if stand_ins else ""))

    def messages(self, limit: int = 5) -> Iterator[str]:
        """Per invalid file: its path and its first `limit` errors."""
        for path, errors in sorted(self.invalid.items()):
            yield f"{path}: {len(errors)} schema error(s)"
            for error in errors[:limit]:
                yield f"    {error}"


def check_summaries(folders: Iterable[Path]) -> SummaryCheck:
    """Validate every summary.json under `folders` against the schema of its `report`."""
    result = SummaryCheck()
    for path in find_summaries(folders):
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            summary = None
        report = summary.get("report") if isinstance(summary, dict) else None
        if not isinstance(report, str):
            result.skipped.setdefault(NOT_A_SUMMARY, []).append(path)
        elif report not in REPORT_SCHEMAS:
            result.skipped.setdefault(report, []).append(path)
        elif not from_the_reports_notebook(summary):
            result.stand_ins.setdefault(report, []).append(path)
        else:
            result.validated.setdefault(report, []).append(path)
            if errors := schema_errors(summary, report):
                result.invalid[path] = errors
    return result


def undescribed_keys(summary: Any, name: str) -> list[str]:
    """The keys of `summary`, at any depth, that the schema of `name` does not describe (no `properties` entry with
    a `description` where the key is): a field the code writes must be documented."""
    found: list[str] = []
    _walk(summary, [(load_schema(name), f"{name}.json")], "", found)
    return sorted(set(found))


Node = tuple[Mapping[str, Any], str]  # a schema object and the file it is in (for its `$ref`s)


def _resolve(node: Mapping[str, Any], document: str) -> list[Node]:
    """`node` and every schema it brings in through `$ref`, `allOf`, `anyOf`, `oneOf` and `then`."""
    nodes = [(node, document)]
    if ref := node.get("$ref"):
        target_document, _, pointer = str(ref).partition("#")
        target_document = target_document or document
        target: Any = registry().contents(target_document)
        for part in [p for p in pointer.split("/") if p]:
            target = target[part]
        nodes += _resolve(target, target_document)
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in node.get(key, []):
            nodes += _resolve(sub, document)
    if isinstance(node.get("then"), Mapping):
        nodes += _resolve(node["then"], document)
    return nodes


def _walk(value: Any, schemas: list[Node], path: str, found: list[str]) -> None:
    nodes = [n for node, document in schemas for n in _resolve(node, document)]
    if isinstance(value, Mapping):
        free = [(n["additionalProperties"], d) for n, d in nodes if isinstance(n.get("additionalProperties"), Mapping)]
        for key, item in value.items():
            here = f"{path}.{key}" if path else key
            props = [(n["properties"][key], d) for n, d in nodes if key in n.get("properties", {})]
            if any("description" in p for p, _ in props):
                _walk(item, props, here, found)
            elif free:  # a map (e.g. endpoints by source): its keys are data, described by the map's value schema
                _walk(item, free, here, found)
            else:
                found.append(here)
    elif isinstance(value, list):
        items = [(n["items"], d) for n, d in nodes if isinstance(n.get("items"), Mapping)]
        for item in value:
            _walk(item, items, f"{path}[]", found)
