"""Where finished runs go, chosen by URL scheme like papermill's iorw: a local folder or `s3://bucket/prefix`.

Both writers give the same layout: `<report>/<run-id>/...`, a `latest` pointer per report (a symlink locally,
a small text object on S3) that only ever names a good run, and `index.html` at the top.
"""

from __future__ import annotations

import contextlib
import json
import mimetypes
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from goreliable_lib.errors import BadInputError, GoReliableError, SourceError
from goreliable_lib.paths import reports_dir
from goreliable_lib.runner.index import (
    ARCHIVE_FOLDER,
    INDEX_FILE,
    LATEST,
    entry_from_summary,
    index_lock,
    render_index,
    update_latest,
    write_local_index,
)
from goreliable_lib.runner.shared import SUMMARY_FILE

SSE_CHOICES = ("AES256", "aws:kms")
#: Which runs were notified, per destination kind (runner/notify.py), kept beside the runs.
NOTIFICATION_STATE = ".notifications.json"
#: S3 index refreshes before giving up on a listing that keeps changing (each round follows a new publication)
_REFRESH_ROUNDS = 20
_CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".json": "application/json", ".csv": "text/csv",
                  ".ipynb": "application/x-ipynb+json", ".parquet": "application/vnd.apache.parquet",
                  ".png": "image/png"}


class Writer(Protocol):
    """A destination for runs."""

    def check(self) -> None: ...
    def staging_dir(self, report: str, run_id: str) -> Path: ...
    def publish(self, staging: Path, report: str, run_id: str, ok: bool) -> str: ...
    def location(self, report: str, run_id: str) -> str: ...
    def notification_state(self) -> Path: ...


class LocalWriter:
    """A local folder: runs are staged in `<report>/.tmp-<run-id>` and renamed into place (atomic)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"LocalWriter({str(self.root)!r})"

    def archive_uri(self) -> str:
        """Where the runs published here keep the SLO event archive."""
        return str(self.root / ARCHIVE_FOLDER)

    def check(self) -> None:
        """The folder exists or can be created, and is writable (before any kernel starts)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BadInputError(f"--out {self.root}: cannot create the folder ({exc.strerror})") from None
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise BadInputError(f"--out {self.root}: folder is not writable")

    def staging_dir(self, report: str, run_id: str) -> Path:
        path = self.root / report / f".tmp-{run_id}"
        path.mkdir(parents=True)
        return path

    def location(self, report: str, run_id: str) -> str:
        """Where the run will be once published."""
        return str(self.root / report / run_id)

    def notification_state(self) -> Path:
        """The file recording which runs were notified (runner/notify.py), beside the runs."""
        return self.root / NOTIFICATION_STATE

    def publish(self, staging: Path, report: str, run_id: str, ok: bool) -> str:
        """Rename the staged run into place; move `latest` (good runs only) and rebuild the index."""
        final = Path(self.location(report, run_id))
        with index_lock(self.root):
            os.rename(staging, final)
            if ok:
                update_latest(self.root, report)
            write_local_index(self.root)
        return str(final)


class S3Writer:
    """`s3://bucket/prefix` through boto3 (AWS_ENDPOINT_URL and the usual AWS_* settings apply).

    Files are uploaded with summary.json last (its presence marks a complete run), then `latest` and the index,
    both rebuilt from every summary.json under the prefix until the listing stops changing (no lock on S3).
    Optional server-side encryption.
    """

    def __init__(self, url: str, *, sse: str | None = None, kms_key_id: str | None = None,
                 client: Any = None) -> None:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise BadInputError(f"--out {url!r}: expected s3://bucket/prefix")
        if sse is not None and sse not in SSE_CHOICES:
            raise BadInputError(f"--sse: {sse!r} is not one of {', '.join(SSE_CHOICES)}")
        if kms_key_id and sse != "aws:kms":
            raise BadInputError("--sse-kms-key-id needs --sse aws:kms")
        self.url, self.bucket, self.prefix = url, bucket, prefix.strip("/")
        self.sse, self.kms_key_id = sse, kms_key_id
        self._client = client
        self._staged: set[Path] = set()

    def __repr__(self) -> str:
        return f"S3Writer({self.url!r}, sse={self.sse!r})"

    def archive_uri(self) -> str:
        """Where the runs published here keep the SLO event archive."""
        return f"{self.url.rstrip('/')}/{ARCHIVE_FOLDER}"

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client("s3")
        return self._client

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def _extra(self, name: str) -> dict[str, str]:
        extra = {"ContentType": _CONTENT_TYPES.get(Path(name).suffix)
                 or mimetypes.guess_type(name)[0] or "application/octet-stream"}
        if self.sse:
            extra["ServerSideEncryption"] = self.sse
            if self.kms_key_id:
                extra["SSEKMSKeyId"] = self.kms_key_id
        return extra

    def check(self) -> None:
        """The bucket exists and answers (before any kernel starts)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "?")
            raise BadInputError(f"--out {self.url}: bucket {self.bucket!r} not usable ({code})") from None
        except BotoCoreError as exc:
            raise SourceError(f"--out {self.url}: S3 not reachable ({type(exc).__name__})") from None

    def staging_dir(self, report: str, run_id: str) -> Path:
        base = Path(tempfile.mkdtemp(prefix=f"goreliable-{report}-{run_id}-"))
        path = base / "run"
        path.mkdir()
        self._staged.add(path)
        return path

    def location(self, report: str, run_id: str) -> str:
        """Where the run will be once published."""
        return f"s3://{self.bucket}/{self._key(report, run_id)}/"

    def notification_state(self) -> Path:
        """The file recording which runs were notified: in the machine's temporary folder (an S3 destination keeps
        no local folder; run ids are unique, so this only keeps one run from notifying twice in one process)."""
        return Path(tempfile.gettempdir()) / f"goreliable-{NOTIFICATION_STATE.lstrip('.')}"

    def _put_text(self, key: str, text: str) -> None:
        extra = self._extra(key)
        kwargs: dict[str, Any] = {"ContentType": extra.pop("ContentType"), **extra}
        self.client.put_object(Bucket=self.bucket, Key=key, Body=text.encode("utf-8"), **kwargs)

    def publish(self, staging: Path, report: str, run_id: str, ok: bool) -> str:
        """Upload the run (summary.json last), move `latest` if newer and good, rebuild the index."""
        run_key = self._key(report, run_id)
        files = sorted(p for p in staging.rglob("*") if p.is_file())
        files.sort(key=lambda p: p.name == SUMMARY_FILE)
        try:
            for path in files:
                relative = path.relative_to(staging).as_posix()
                self.client.upload_file(str(path), self.bucket, f"{run_key}/{relative}",
                                        ExtraArgs=self._extra(relative))
            self._refresh_latest_and_index(report)
        except (ClientError, BotoCoreError) as exc:
            raise GoReliableError(f"report {report}: upload to {self.url} failed ({type(exc).__name__}: {exc}); "
                                  f"the run is kept at {staging}") from None
        if staging in self._staged:  # only remove what staging_dir created
            shutil.rmtree(staging.parent, ignore_errors=True)
            self._staged.discard(staging)
        return self.location(report, run_id)

    def _refresh_latest_and_index(self, report: str) -> None:
        """Write `report`'s `latest` (its newest good run) and index.html from the runs' summaries, then list
        again and repeat until the listing is the one they were built from.

        S3 has no lock: two runs publishing at once could each build from a listing that misses the other's run,
        and the staler write could land last. Because every publisher checks the listing after its own writes, the
        last write is always followed by a check that sees every run published before it (a run published after
        it has its own publisher's check), so the index and `latest` end up naming every run. The check is a
        listing only; summaries are read again only when it changed."""
        built_from = None
        for _ in range(_REFRESH_ROUNDS):
            summaries = self._summary_keys()
            if summaries == built_from:
                return
            entries = self._entries(summaries)
            good = [e.run_id for e in entries if e.report == report and e.status == "ok"]
            if good:
                self._put_text(self._key(report, LATEST), max(good) + "\n")
            self._put_text(self._key(INDEX_FILE), render_index(entries))
            built_from = summaries

    def _summary_keys(self) -> list[tuple[str, str]]:
        """(key, ETag) of every run's summary.json under the prefix (scratch and hidden folders skipped)."""
        keys = []
        paginator = self.client.get_paginator("list_objects_v2")
        base = self._key() + "/" if self.prefix else ""
        for page in paginator.paginate(Bucket=self.bucket, Prefix=base):
            for item in page.get("Contents", []):
                parts = item["Key"][len(base):].split("/")
                if len(parts) == 3 and parts[2] == SUMMARY_FILE and not parts[0].startswith(("_", ".")):
                    keys.append((item["Key"], item.get("ETag", "")))
        return sorted(keys)

    def _entries(self, summaries: list[tuple[str, str]]) -> list[Any]:
        """Index rows from the runs' summaries (`summaries` from `_summary_keys`)."""
        base = self._key() + "/" if self.prefix else ""
        entries = []
        for key, _ in summaries:
            report, run_id, _ = key[len(base):].split("/")
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            with contextlib.suppress(ValueError):
                entries.append(entry_from_summary(json.loads(body), f"{report}/{run_id}", run_id))
        return entries


#: URL scheme -> writer class, like papermill's iorw handlers; anything without a scheme is a local folder.
WRITERS: dict[str, type] = {"s3://": S3Writer}


def writer_for(out: str | Path | None, *, sse: str | None = None, kms_key_id: str | None = None) -> Writer:
    """The writer for `--out`: None = <project>/reports, a folder, or a registered URL scheme."""
    if out is None:
        return LocalWriter(reports_dir())
    text = str(out)
    for scheme, writer in WRITERS.items():
        if text.startswith(scheme):
            return writer(text, sse=sse, kms_key_id=kms_key_id)
    if sse or kms_key_id:
        raise BadInputError("--sse applies to s3:// outputs only")
    if text.startswith("file://"):
        text = text.removeprefix("file://")
    elif "://" in text:
        raise BadInputError(f"--out {text!r}: unsupported scheme (use a folder or s3://bucket/prefix)")
    return LocalWriter(text)
