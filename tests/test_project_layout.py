"""The project's shape: required layout, pyproject and environment.yml in agreement, CI calls make test."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
#: pyproject name -> conda-forge name, where they differ.
CONDA_NAMES = {"kaleido": "python-kaleido"}
#: conda packages that stand for a pip extra (moto[server] needs flask and flask-cors) or the toolchain.
CONDA_ONLY = {"python", "pip", "flask", "flask-cors"}
REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*(?P<spec>[<>=!~].*)?$")


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = {}
    extras = [line for extra in project["optional-dependencies"].values() for line in extra]
    for line in project["dependencies"] + extras:
        match = REQUIREMENT.match(line.strip())
        assert match, line
        name = match["name"].lower()
        if name == project["name"]:  # an extra that pulls in other extras
            continue
        requirements[CONDA_NAMES.get(name, name)] = (match["spec"] or "").replace(" ", "")
    return requirements


def _environment_requirements() -> dict[str, str]:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "conda-forge" in environment["channels"]
    requirements = {}
    entries = []
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):
            assert set(entry) == {"pip"}, f"environment.yml: unexpected entry {entry!r}"
            entries.extend(entry["pip"])
        else:
            entries.append(entry)
    for entry in entries:
        match = re.match(r"^(?P<name>[A-Za-z0-9_.\-]+)\s*(?P<spec>[<>=!~].*)?$", entry)
        assert match, entry
        requirements[match["name"].lower()] = (match["spec"] or "").replace(" ", "")
    return requirements


def test_required_layout_exists() -> None:
    for name in ("notebooks", "goreliable_lib", "params", "reports", "tests", "environment.yml", "pyproject.toml",
                 "README.md", "Makefile", ".ci/run"):
        assert (ROOT / name).exists(), name


def test_environment_yml_agrees_with_pyproject() -> None:
    pip = _pyproject_requirements()
    conda = _environment_requirements()
    missing_in_conda = sorted(set(pip) - set(conda))
    extra_in_conda = sorted(set(conda) - set(pip) - CONDA_ONLY)
    assert not missing_in_conda, f"in pyproject.toml but not environment.yml: {missing_in_conda}"
    assert not extra_in_conda, f"in environment.yml but not pyproject.toml: {extra_in_conda}"
    differing = {name: (pip[name], conda[name]) for name in pip if pip[name] != conda[name]}
    assert not differing, f"version bounds differ (pyproject, environment.yml): {differing}"


def test_the_cronjob_image_installs_the_runtime_set_only() -> None:
    """A scheduled report needs neither JupyterLab nor the test servers: they are extras, and the image installs
    the wheel without extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {REQUIREMENT.match(line)["name"].lower() for line in project["dependencies"]}
    assert not runtime & {"jupyterlab", "nbval", "moto", "werkzeug", "pytest", "hypothesis", "ruff"}, runtime
    assert {"papermill", "ipykernel", "pandas", "plotly", "prometheus-api-client", "boto3"} <= runtime
    extras = project["optional-dependencies"]
    assert {"jupyterlab"} <= {REQUIREMENT.match(line)["name"] for line in extras["lab"]}
    assert {"moto", "werkzeug"} <= {REQUIREMENT.match(line)["name"] for line in extras["stack"]}
    installs = [line for line in (ROOT / "deploy" / "Dockerfile").read_text().splitlines() if "pip install" in line]
    assert installs == [" && pip install --no-cache-dir /wheels/*.whl \\"], installs


def test_python_floor_is_311() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    assert project["scripts"]["goreliable"] == "goreliable_lib.cli:main"


def test_ci_runs_make_test_only() -> None:
    commands = [line for line in (ROOT / ".ci/run").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert any("make test" in line for line in commands)


def test_committed_notebooks_carry_no_outputs() -> None:
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        notebook = json.loads(path.read_text())
        for cell in notebook["cells"]:
            if cell["cell_type"] == "code":
                assert not cell.get("outputs"), f"{path.name}: a cell has outputs"
                assert cell.get("execution_count") is None, f"{path.name}: a cell has an execution count"


def test_every_fault_matrix_row_names_tests_that_exist() -> None:
    """docs/reliability.md: rows numbered 1..N without gaps, each naming at least one test, and every named test
    (`tests/FILE.py::name`, or `::name` for the file named before it in the row) is defined in that file."""
    import ast

    rows = [line for line in (ROOT / "docs" / "reliability.md").read_text().splitlines()
            if re.match(r"\| \d+ \|", line)]
    assert [int(row.split("|")[1]) for row in rows] == list(range(1, len(rows) + 1))
    defined: dict[str, set[str]] = {}
    for row in rows:
        tests_cell = row.rstrip().rstrip("|").split("|")[-1]
        named = re.findall(r"(tests/[\w/]+\.py)?::(\w+)", tests_cell)
        assert named, f"row {row.split('|')[1].strip()} names no test"
        current = None
        for file, name in named:
            current = file or current
            assert current, row
            if current not in defined:
                tree = ast.parse((ROOT / current).read_text())
                defined[current] = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
            assert name in defined[current], f"docs/reliability.md names {current}::{name}, which does not exist"
