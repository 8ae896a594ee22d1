"""`goreliable report all` started several times at once against the local stack, into one output folder.

Started together: `report all` twice (slo, cost and dr each, every report in its own process: six kernels at
once, the same reports at the same moment) and a DR report on a bucket that does not exist (a clean failure).
Afterwards: every run is complete or cleanly failed with the documented exit code, index.html parses and lists
every run folder exactly once, `latest` of each report names its newest good run, nothing is left in staging,
and simultaneous runs of the same report hold the same numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.timeout(900)]
ROOT = Path(__file__).resolve().parents[1]
MISSING_BUCKET = "no-such-drills-bucket-7c1"


class IndexRows(HTMLParser):
    """The rows of reports/index.html as lists of cell texts (and the links of each row)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.links: list[list[str]] = []
        self._cell: list[str] | None = None
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
            self.links.append([])
        elif tag == "td" and self._in_body:
            self._cell = []
        elif tag == "a" and self._in_body:
            self.links[-1].append(dict(attrs).get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tbody":
            self._in_body = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _start(argv: list[str], out: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "goreliable_lib", "report", *argv, "-q", "--out", str(out)]
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_parallel_report_runs_keep_every_run_and_a_consistent_index(local_stack: Any, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GORELIABLE_", "AWS_"))}
    env.update(local_stack.env())
    env["GORELIABLE_CONFIG"] = os.devnull
    jobs = {"all-1": ["all"], "all-2": ["all"],
            "dr-missing-bucket": ["run", "dr", "-p", f"drills_uri=s3://{MISSING_BUCKET}/drills"]}
    began = time.monotonic()
    processes = {job: _start(argv, out, env) for job, argv in jobs.items()}
    results: dict[str, dict[str, Any]] = {}
    try:
        for job, process in processes.items():
            stdout, stderr = process.communicate(timeout=800)
            results[job] = {"code": process.returncode, "stdout": stdout, "stderr": stderr}
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.communicate()
    print(f"{len(jobs)} parallel commands: {time.monotonic() - began:.0f} s")
    codes = {job: r["code"] for job, r in results.items()}
    assert codes == {"all-1": 0, "all-2": 0, "dr-missing-bucket": 1}, {
        job: r["stderr"][-1500:] for job, r in results.items()}

    folders: dict[str, Path] = {}  # e.g. "all-1/slo" -> its run folder
    for job, result in results.items():
        for line in result["stdout"].strip().splitlines():
            folder = Path(line)
            folders[f"{job}/{folder.parent.name}"] = folder
    assert sorted(folders) == ["all-1/cost", "all-1/dr", "all-1/slo", "all-2/cost", "all-2/dr", "all-2/slo",
                               "dr-missing-bucket/dr"]
    assert len(set(folders.values())) == len(folders)  # every run its own folder, none lost
    for key, folder in folders.items():
        assert folder.parent.parent == out and folder.is_dir(), key
        for name in ("report.ipynb", "report.html", "summary.json", "data/manifest.json"):
            assert (folder / name).is_file(), (key, name)
        summary = json.loads((folder / "summary.json").read_text())
        expected = "failed" if key.startswith("dr-missing-bucket") else "ok"
        assert summary["status"] == expected and summary["run_id"] == folder.name, key
    folders["dr-missing-bucket"] = folders.pop("dr-missing-bucket/dr")

    failed = json.loads((folders["dr-missing-bucket"] / "summary.json").read_text())
    assert failed["error"]["type"] == "DrillLogError"
    assert f"bucket '{MISSING_BUCKET}' does not exist" in failed["error"]["message"]
    assert f"report dr failed: DrillLogError: drill logs at s3://{MISSING_BUCKET}/drills" in \
        results["dr-missing-bucket"]["stderr"]
    for report, field in (("dr", "drills"), ("cost", "teams"), ("slo", "slos")):
        first, second = (json.loads((folders[f"{job}/{report}"] / "summary.json").read_text())[field]
                         for job in ("all-1", "all-2"))
        assert first == second and first, report  # same data, same numbers, both complete

    on_disk = sorted(f"{report.name}/{run.name}" for report in out.iterdir() if report.is_dir()
                     and report.name != "archive"  # the SLO event archive the slo runs keep beside the reports
                     for run in report.iterdir() if run.is_dir() and not run.is_symlink())
    assert on_disk == sorted(f"{f.parent.name}/{f.name}" for f in folders.values())
    parser = IndexRows()
    parser.feed((out / "index.html").read_text(encoding="utf-8"))
    listed = [f"{row[0]}/{row[1]}" for row in parser.rows]
    assert sorted(listed) == on_disk and len(listed) == len(set(listed))  # each run listed exactly once
    assert [row[1] for row in parser.rows] == sorted((row[1] for row in parser.rows), reverse=True)  # newest first
    statuses = {f"{row[0]}/{row[1]}": row[2] for row in parser.rows}
    assert statuses[f"dr/{folders['dr-missing-bucket'].name}"] == "failed"
    assert all(links[0] == f"{key}/report.html" for key, links in zip(listed, parser.links, strict=True))

    for report in ("slo", "cost", "dr"):
        newest_good = max(folders[f"all-1/{report}"].name, folders[f"all-2/{report}"].name)
        assert (out / report / "latest").resolve() == (out / report / newest_good).resolve(), report
    leftovers = [p.name for p in out.rglob("*") if p.name.startswith(".")]
    assert leftovers == []  # no staging folder, no half-written index or latest, no index lock left behind
