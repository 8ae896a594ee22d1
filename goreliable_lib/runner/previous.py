"""The published runs of a report, read back: the last good run to compare a new run with (runner/changes.py), and
one run's summary.json by `report/run-id` (`goreliable report diff`).

Runs are listed the way the index lists them: a local folder through `runner.index.run_folders`, `s3://` through
the S3 writer's own listing (`S3Writer._summary_keys`, `_entries`), only the report's own keys read. Kept apart
from runner/changes.py because the index draws the "Since the last run" block from that module: the one that
reads the published tree imports the index, the pure one must not.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from goreliable_lib.errors import BadInputError, SourceError
from goreliable_lib.inputs.catalog import BudgetPolicy
from goreliable_lib.runner.changes import Change, could_be_previous, is_compared, since_previous
from goreliable_lib.runner.index import LATEST, run_folders
from goreliable_lib.runner.publish import LocalWriter, S3Writer, Writer
from goreliable_lib.runner.shared import SUMMARY_FILE


def _read_local(folder: Path) -> dict[str, Any] | None:
    try:
        summary = json.loads((folder / SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def published_summaries(writer: Writer, report: str) -> Iterator[dict[str, Any]]:
    """The summaries of the published runs of `report` under the writer's root, newest first, each read when asked
    for (each with its `run_id`; an unreadable one left out). Raises OSError, or botocore's errors for S3."""
    if isinstance(writer, S3Writer):
        base = writer._key(report) + "/"
        keys = [item for item in writer._summary_keys() if item[0].startswith(base)]
        for key in sorted(keys, reverse=True):
            yield from ({**e.summary} for e in writer._entries([key]) if e.report == report)
    elif isinstance(writer, LocalWriter):
        folders = [(run_id, folder) for name, run_id, folder in run_folders(writer.root) if name == report]
        for run_id, folder in sorted(folders, reverse=True):
            if (summary := _read_local(folder)) is not None:
                yield {**summary, "run_id": summary.get("run_id") or run_id}
    else:
        raise TypeError(f"{writer!r}: cannot list its runs")


@dataclass(frozen=True)
class SinceLastRun:
    """summary.json's `previous_run` and `changes` for a run, and why they could not be worked out (the published
    runs could not be listed: the run goes on, said in its warnings)."""

    previous_run: str | None
    changes: list[Change] = field(default_factory=list)
    warning: str | None = None

    def fields(self) -> dict[str, Any]:
        """The two summary.json fields."""
        return {"previous_run": self.previous_run, "changes": self.changes}


def compare_with_previous(summary: Mapping[str, Any], writer: Writer,
                          policy: BudgetPolicy | None = None) -> SinceLastRun:
    """`summary` (this run's, with its `run_id`) against the last good run of the same report and parameters
    published through `writer` (runner/changes.py says which; the runs are read newest first until it is found).
    Never raises for a listing that fails: the result then says so in `warning` and compares nothing."""
    if summary.get("status") != "ok" or not is_compared(summary.get("report")):
        return SinceLastRun(None, [])
    try:
        previous = next((other for other in published_summaries(writer, str(summary.get("report")))
                         if could_be_previous(summary, other)), None)
    except (OSError, ClientError, BotoCoreError) as exc:
        return SinceLastRun(None, [], f"Not compared with the last run: the published runs could not be listed "
                                      f"({type(exc).__name__}: {exc})")
    block = since_previous(summary, previous, policy)
    return SinceLastRun(block["previous_run"], block["changes"])


def read_published_summary(writer: Writer, report: str, run_id: str) -> dict[str, Any]:
    """The summary.json of `report/run_id` published through `writer` (`latest`: the report's newest good run);
    BadInputError naming what is missing."""
    if isinstance(writer, LocalWriter):
        folder = writer.root / report / run_id
        if not folder.is_dir():
            raise BadInputError(f"{report}/{run_id}: no run folder {folder}")
        return read_run_folder(folder)
    if isinstance(writer, S3Writer):
        try:
            if run_id == LATEST:
                body = writer.client.get_object(Bucket=writer.bucket, Key=writer._key(report, LATEST))["Body"]
                run_id = body.read().decode("utf-8").strip()
            key = writer._key(report, run_id, SUMMARY_FILE)
            text = writer.client.get_object(Bucket=writer.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "?")
            raise BadInputError(f"{report}/{run_id}: no summary.json at s3://{writer.bucket}/"
                                f"{writer._key(report, run_id)}/ ({code})") from None
        except BotoCoreError as exc:
            raise SourceError(f"{writer.url}: S3 not reachable ({type(exc).__name__})") from None
        return _parse(text, f"s3://{writer.bucket}/{key}", run_id)
    raise TypeError(f"{writer!r}: cannot read its runs")


def _parse(text: str | bytes, where: str, run_id: str) -> dict[str, Any]:
    try:
        summary = json.loads(text)
    except ValueError as exc:
        raise BadInputError(f"{where}: not JSON ({exc})") from None
    if not isinstance(summary, dict) or "report" not in summary:
        raise BadInputError(f"{where}: not a run's summary.json (no `report` field)")
    return {**summary, "run_id": summary.get("run_id") or run_id}


def read_run_folder(folder: Path) -> dict[str, Any]:
    """The summary.json of a run folder; BadInputError when the folder or its summary is missing or unreadable."""
    if not folder.is_dir():
        raise BadInputError(f"{folder}: no such run folder")
    path = folder / SUMMARY_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInputError(f"{folder}: no {SUMMARY_FILE} (not a run folder, or a run still being written)") from None
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read it ({exc.strerror})") from None
    return _parse(text, str(path), folder.resolve().name)
