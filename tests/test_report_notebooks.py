"""Checks of the committed notebooks: stripped of outputs, and parameter cells matching the registry.

Executing them is nbval's job (the Makefile target; demo profile, kernel of this environment):

    GORELIABLE_PROFILE=demo .venv/bin/pytest --nbval-lax --nbval-current-env -p no:cacheprovider notebooks/

`--nbval-lax` fails a notebook only on errors (plotly div ids are random, so outputs are never compared);
without the runner the run context writes to reports/_scratch/<report>/.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from goreliable_lib.reports.registry import REPORTS

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "tests/data/notebooks").glob("*.ipynb"))


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", COMMITTED, ids=_id)
def test_committed_notebooks_carry_no_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for number, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{_id(path)} cell {number} has outputs (strip them: nbstripout)"
            assert cell.execution_count is None, f"{_id(path)} cell {number} has an execution count"
    assert "papermill" not in nb.metadata, f"{_id(path)} is an executed copy (papermill metadata)"


def test_report_notebooks_declare_their_parameters() -> None:
    present = [r for r in REPORTS.values() if r.notebook_path(ROOT).is_file()]
    if not present:
        pytest.skip("no report notebook committed yet under notebooks/")
    for report in present:
        nb = nbformat.read(report.notebook_path(ROOT), as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{report.notebook}: needs exactly one cell tagged 'parameters'"
        assigned = {t.id for node in ast.parse(tagged[0].source).body if isinstance(node, ast.Assign)
                    for t in node.targets if isinstance(t, ast.Name)}
        missing = set(report.param_names) - assigned
        assert not missing, f"{report.notebook}: parameters cell does not set {sorted(missing)}"
