"""Each report says its parameters once: the notebook's parameters cell, `params/<report>.yaml` and the report's
`SPEC` agree, so `goreliable report list`, a papermill run, JupyterLab and nbval all see the same defaults."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import nbformat
import pytest

from goreliable_lib.reports.base import ReportSpec
from goreliable_lib.reports.registry import REPORTS, get_report
from goreliable_lib.runner.params import load_param_file

ROOT = Path(__file__).resolve().parent.parent
#: Where a notebook may hold other values than the SPEC: the postmortem's required incident (no default in the SPEC)
#: and its services are the demo incident's, so the notebook runs as it stands (nbval, JupyterLab); they must be
#: exactly what `params/postmortem-demo.yaml` says.
DEMO_VALUES = {"postmortem": ("params/postmortem-demo.yaml", {"incident_start", "incident_end", "services"})}


def notebook_parameters(spec: ReportSpec) -> dict[str, Any]:
    """The names and values the notebook's `parameters` cell assigns (literals only)."""
    notebook = nbformat.read(ROOT / spec.notebook, as_version=4)
    cells = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{spec.notebook}: one cell tagged 'parameters'"
    values = {}
    for statement in ast.parse(cells[0].source).body:
        assert isinstance(statement, ast.Assign) and len(statement.targets) == 1, ast.unparse(statement)
        target = statement.targets[0]
        assert isinstance(target, ast.Name), ast.unparse(statement)
        values[target.id] = ast.literal_eval(statement.value)
    return values


def _same(a: Any, b: Any) -> bool:
    """Equal as a parameter: a one-item list and its item are not the same, but a tuple and a list are."""
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return list(a) == list(b)
    return a == b


@pytest.mark.parametrize("name", list(REPORTS))
def test_notebook_defaults_and_the_params_file_equal_the_spec(name: str) -> None:
    spec = get_report(name)
    defaults = {p.name: p.default for p in spec.params}
    in_notebook = notebook_parameters(spec)
    assert sorted(in_notebook) == sorted(defaults), f"{spec.notebook}: parameters differ from the SPEC"
    demo_file, demo_names = DEMO_VALUES.get(name, (None, set()))
    demo = load_param_file(ROOT / demo_file) if demo_file else {}
    for parameter, value in in_notebook.items():
        expected = demo[parameter] if parameter in demo_names else defaults[parameter]
        assert _same(value, expected), f"{spec.notebook}: {parameter} = {value!r}, expected {expected!r}"
    in_file = load_param_file(ROOT / spec.default_param_file) if spec.default_param_file else {}
    assert set(in_file) <= set(defaults), f"{spec.default_param_file}: names no parameter of the report"
    for parameter, value in in_file.items():
        assert _same(value, defaults[parameter]), f"{spec.default_param_file}: {parameter} = {value!r}"


def test_the_check_would_notice_a_changed_default(tmp_path: Path) -> None:
    spec = get_report("dr")
    changed = [p if p.name != "quarters" else type(p)(p.name, p.type, 4, p.help, p.validator) for p in spec.params]
    defaults = {p.name: p.default for p in changed}
    assert not _same(notebook_parameters(spec)["quarters"], defaults["quarters"])
