"""The local S3: a moto server on 127.0.0.1 (free port) and the upload of the drill logs through boto3.

The server runs in its own process (`python -m goreliable_lib.devstack.stack.s3`, which binds port 0 and prints the
endpoint), so its state and its auth switch are its own and it can outlive the command that started it
(`goreliable stack up`). Environment the kit needs to use it, as printed by `s3_env(endpoint)`:

    AWS_ENDPOINT_URL=http://127.0.0.1:PORT   AWS_ACCESS_KEY_ID=testing   AWS_SECRET_ACCESS_KEY=testing
    AWS_DEFAULT_REGION=us-east-1             GORELIABLE_DRILLS_URI=s3://goreliable-drills/drills

moto accepts any credentials until IAM checks are switched on (`enable_iam_checks`); it does not evaluate
bucket policies, only the IAM identity policies of the caller.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.exceptions import ClientError

from goreliable_lib.errors import StackError

DRILLS_BUCKET = "goreliable-drills"
DRILLS_PREFIX = "drills"  # the simulator's keys go under it: drills/2026/Q3/<drill_id>.jsonl
TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                    "AWS_DEFAULT_REGION": "us-east-1"}
_READY = "GORELIABLE_S3_ENDPOINT="


def s3_env(endpoint_url: str, bucket: str = DRILLS_BUCKET, drills_prefix: str = DRILLS_PREFIX) -> dict[str, str]:
    """The environment variables that point the kit (boto3 and GORELIABLE_DRILLS_URI) at the local S3.

    The dummy credentials are moto's test values, not secrets; real AWS keys never come from here."""
    return {"AWS_ENDPOINT_URL": endpoint_url, **TEST_CREDENTIALS,
            "GORELIABLE_DRILLS_URI": f"s3://{bucket}/{drills_prefix}".rstrip("/")}


def client(endpoint_url: str, **credentials: str) -> Any:
    """A boto3 S3 client for the local server (test credentials unless given)."""
    return boto3.client(
        "s3", endpoint_url=endpoint_url,
        aws_access_key_id=credentials.get("aws_access_key_id", TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"]),
        aws_secret_access_key=credentials.get("aws_secret_access_key", TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]),
        region_name=TEST_CREDENTIALS["AWS_DEFAULT_REGION"])


def upload_drills(endpoint_url: str, bucket: str, prefix: str, files: Mapping[str, str | bytes], *,
                  s3_client: Any = None) -> list[str]:
    """Create `bucket` if needed and put every file at `prefix + key` (like production uploads); returns the keys."""
    s3 = s3_client if s3_client is not None else client(endpoint_url)
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        s3.create_bucket(Bucket=bucket)
    base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    keys = []
    for key, text in sorted(files.items()):
        body = text.encode("utf-8") if isinstance(text, str) else text
        s3.put_object(Bucket=bucket, Key=base + key, Body=body, ContentType="application/x-ndjson")
        keys.append(base + key)
    return keys


def enable_iam_checks(endpoint_url: str, after_requests: int = 0) -> None:
    """Make the moto server check signatures and IAM identity policies (after `after_requests` more requests).

    This is moto's own `/moto-api/reset-auth` switch; it applies to the whole server process."""
    response = requests.post(f"{endpoint_url}/moto-api/reset-auth", data=str(after_requests).encode(), timeout=10)
    response.raise_for_status()


class S3Server:
    """A moto S3 server process on 127.0.0.1 and a free port: `S3Server().start() -> endpoint_url`, `.stop()`,
    or `with S3Server() as endpoint_url:`."""

    def __init__(self, host: str = "127.0.0.1", *, log_path: str | Path | None = None, detach: bool = False,
                 start_timeout: float = 60.0) -> None:
        self.host = host
        self.log_path = Path(log_path) if log_path is not None else None
        self.detach = detach
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.endpoint_url: str | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> str:
        if self.process is not None and self.process.poll() is None:
            assert self.endpoint_url is not None
            return self.endpoint_url
        log = open(self.log_path, "ab") if self.log_path is not None else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "goreliable_lib.devstack.stack.s3", "--host", self.host],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, start_new_session=self.detach)
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        assert self.process.stdout is not None
        deadline = time.monotonic() + self.start_timeout
        seen = b""
        descriptor = self.process.stdout.fileno()
        while time.monotonic() < deadline:
            ready, _, _ = select.select([descriptor], [], [], 0.2)
            chunk = os.read(descriptor, 4096) if ready else b""
            seen += chunk
            for line in seen.splitlines():
                if line.startswith(_READY.encode()) and seen.endswith(b"\n"):
                    self.endpoint_url = line.decode().strip().removeprefix(_READY)
                    self.process.stdout.close()
                    return self.endpoint_url
            if (ready and not chunk) or self.process.poll() is not None:
                break
        self.stop()
        raise StackError(f"moto S3 server did not start within {self.start_timeout:.0f}s on {self.host} "
                         f"(output: {seen.decode(errors='replace').strip()[-300:] or 'none'}"
                         f"{'; log ' + str(self.log_path) if self.log_path else ''})")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stdout is not None and not self.process.stdout.closed:
            self.process.stdout.close()
        self.process = None
        self.endpoint_url = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve(host: str) -> None:
    """Run moto on `host`, port 0, print the endpoint, then wait for SIGTERM/SIGINT."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=host, port=0, verbose=False)
    server.start()
    bound_host, port = server.get_host_and_port()
    sys.stdout.write(f"{_READY}http://{bound_host}:{port}\n")
    sys.stdout.flush()
    os.dup2(2, 1)  # nothing more on the pipe the parent may have closed
    sys.stdout = sys.stderr
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stopping:
        signal.pause() if hasattr(signal, "pause") else time.sleep(0.5)
    server.stop()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="moto S3 server on a free port (prints the endpoint)")
    parser.add_argument("--host", default="127.0.0.1")
    _serve(parser.parse_args().host)
