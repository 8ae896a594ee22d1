"""The command line answers without loading what it does not need: `--help`, `--version`, a misspelt command, an
unknown report and a bad option import none of pandas, papermill, nbconvert, nbformat, boto3, plotly or IPython
(each costs 0.1-1.5 s to import; benchmarks/bench_reports.py times the answers); nor does `report list` once the
report list of this source is in the cache folder (`reports.registry.report_list`). `report run` loads the runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from goreliable_lib.reports import registry

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


def probe(argv: list[str], cache: Path | str | None = None) -> dict[str, object]:
    """The exit code and heavy modules of one command in a fresh interpreter (with `cache` as the kit's cache
    folder), and what it printed before the probe's own line (`output`)."""
    env = {**os.environ, **({"GORELIABLE_CACHE_DIR": str(cache)} if cache is not None else {})}
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argv), ",".join(HEAVY)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    *printed, last = proc.stdout.strip().splitlines()
    return {**json.loads(last), "output": "\n".join(printed)}


@pytest.mark.parametrize(("argv", "code"), [
    (["--help"], 0), (["--version"], 0), (["report", "--help"], 0), (["nosuch"], 2),
    (["report", "run", "nosuch"], 2), (["report", "run", "slo", "--bogus"], 2), (["report", "all", "--jobs", "x"], 2),
    (["report", "run", "--help"], 0),
])
def test_answers_without_heavy_imports(argv: list[str], code: int) -> None:
    result = probe(argv)
    assert (result["code"], result["loaded"]) == (code, [])


@pytest.mark.parametrize("argv", [["report", "list"], ["report", "list", "--json"]])
def test_report_list_answers_from_the_cache_as_it_would_from_the_specs(argv: list[str], tmp_path: Path) -> None:
    """With an empty cache folder `report list` reads every report's spec (the probe sees pandas: it can see an
    import) and keeps the list; asked again it loads nothing heavy and prints the very same text."""
    first = probe(argv, tmp_path)
    assert first["code"] == 0 and "pandas" in first["loaded"]
    assert [p.name for p in tmp_path.iterdir()] == [f"report-list-{registry.source_digest()}.json"]
    second = probe(argv, tmp_path)
    assert (second["code"], second["loaded"], second["output"]) == (0, [], first["output"])
    if "--json" in argv:
        assert set(json.loads(second["output"])) == set(registry.REPORT_NAMES)


def test_a_list_cached_for_another_source_is_not_read(tmp_path: Path) -> None:
    """The cache file is named by the digest of the package's source: one of another source (an older checkout,
    here a file claiming a report that does not exist) is never read."""
    (tmp_path / "report-list-000000000000000000000000.json").write_text(json.dumps({"bogus": {}}))
    result = probe(["report", "list", "--json"], tmp_path)
    assert result["code"] == 0 and "bogus" not in json.loads(result["output"])


def test_report_list_answers_when_the_cache_cannot_be_written(tmp_path: Path) -> None:
    """A cache folder that cannot be made (here under a file) only costs the time of reading the specs."""
    (tmp_path / "file").write_text("")
    result = probe(["report", "list", "--json"], tmp_path / "file" / "cache")
    assert result["code"] == 0 and set(json.loads(result["output"])) == set(registry.REPORT_NAMES)


def test_a_runs_stages_keep_the_report_list_and_build_no_iri_parser(tmp_path: Path) -> None:
    """A run loads every report's spec while its kernel starts (the index reads them) and so keeps the list:
    `report list` answers at once after any run (`make demo` included). Its stages load without rfc3987-syntax
    (`execute.DECLINED_IMPORTS`: 1.6 s of Earley parsers nothing of a run uses)."""
    script = ("import os, sys; from goreliable_lib.runner.execute import load_stages; load_stages(); "
              "from goreliable_lib.reports import registry; print(registry._list_file().is_file(), "
              "'rfc3987_syntax' in sys.modules and sys.modules['rfc3987_syntax'] is None)")
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=True, env={**os.environ, "GORELIABLE_CACHE_DIR": str(tmp_path)})
    assert proc.stdout.split() == ["True", "True"]
