"""The command line answers without loading what it does not need: `--help`, `--version`, a misspelt command, an
unknown report and a bad option import none of pandas, papermill, nbconvert, nbformat, boto3, plotly or IPython
(each costs 0.1-1.5 s to import; benchmarks/bench_reports.py times the answers). `report run` loads the runner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("pandas", "papermill", "nbconvert", "nbformat", "boto3", "plotly", "IPython", "jupyter_client")
#: Runs goreliable's main() on argv (JSON in argv[1]) and prints its exit code and the heavy modules it loaded.
PROBE = """
import json, sys
from goreliable_lib.cli import main
try:
    code = main(json.loads(sys.argv[1]))
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "loaded": [m for m in sys.argv[2].split(",") if m in sys.modules]}))
"""


def probe(argv: list[str]) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv), ",".join(HEAVY)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("argv", "code"), [
    (["--help"], 0), (["--version"], 0), (["report", "--help"], 0), (["nosuch"], 2),
    (["report", "run", "nosuch"], 2), (["report", "run", "slo", "--bogus"], 2), (["report", "all", "--jobs", "x"], 2),
    (["report", "run", "--help"], 0),
])
def test_answers_without_heavy_imports(argv: list[str], code: int) -> None:
    result = probe(argv)
    assert result == {"code": code, "loaded": []}


def test_a_command_that_runs_loads_what_it_needs() -> None:
    """The probe can see an import: `report list` reads every report's spec, which needs pandas."""
    result = probe(["report", "list", "--json"])
    assert result["code"] == 0 and "pandas" in result["loaded"]
