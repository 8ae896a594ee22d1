"""Fixtures and helpers of the report runner tests (area prefix: report)."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from goreliable_lib.reports.base import ReportSpec
from goreliable_lib.reports.registry import get_report

NOTEBOOKS = Path(__file__).parent / "data" / "notebooks"
STUB_CATALOG = NOTEBOOKS / "slos.yaml"
#: Sentinel secrets: no byte of any output may contain them (nor the common prefix).
SENTINEL_PREFIX = "sntl-"
SENTINELS = {
    "GORELIABLE_PROMETHEUS_TOKEN": "sntl-prom-token-7f3a9c",
    "GORELIABLE_PROMETHEUS_HEADERS": "X-Scope-OrgID=prod;X-Api-Secret=sntl-hdr-value-51bd",
    "AWS_SECRET_ACCESS_KEY": "sntl-aws-secret-88e1",
    "AWS_SESSION_TOKEN": "sntl-aws-session-2c4d",
    "MY_SERVICE_PASSWORD": "sntl-password-9a0b",
    "GORELIABLE_API_KEY": "sntl-api-key-c3d2",
}


def test_report(notebook: str, name: str = "slo") -> ReportSpec:
    """The registry's report `name` (its parameter spec) running one of the tiny test notebooks."""
    return dataclasses.replace(get_report(name), notebook=str(NOTEBOOKS / notebook), default_param_file=None)


test_report.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def stub_parameters(**extra: Any) -> dict[str, Any]:
    """Parameters valid for the slo spec without the real catalog."""
    return {"catalog": str(STUB_CATALOG), **extra}


def tree_digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under `folder` (to prove a run was left untouched)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def read_summary(run_dir: Path | str) -> dict[str, Any]:
    return json.loads((Path(run_dir) / "summary.json").read_text())


def find_sentinels(data: bytes) -> list[str]:
    """The sentinel values (or the bare prefix) found in `data`."""
    found = [name for name, value in SENTINELS.items()
             if value.encode() in data or value.split("=")[-1].encode() in data]
    if SENTINEL_PREFIX.encode() in data and not found:
        found.append("prefix " + SENTINEL_PREFIX)
    return found


@pytest.fixture
def sentinel_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The sentinel secrets set in this process's environment (the kernels inherit them)."""
    for key, value in SENTINELS.items():
        monkeypatch.setenv(key, value)
    return dict(SENTINELS)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 (free port), through the stack's helper when present."""
    try:
        from goreliable_lib.devstack.stack.s3 import S3Server
    except ImportError:  # pragma: no cover - the stack module is written by another engineer
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server._server.server_address[:2]  # type: ignore[attr-defined]
        yield f"http://{host}:{port}"
        server.stop()
        return
    with S3Server() as endpoint:
        yield endpoint


@contextlib.contextmanager
def demo_environment() -> Iterator[pytest.MonkeyPatch]:
    """The environment of a run on the bundled demo: no GORELIABLE_* setting of the caller's, the demo profile, no
    config file, this checkout as the project root (undone on exit)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("GORELIABLE_")]:
            patch.delenv(name)
        patch.setenv("GORELIABLE_PROFILE", "demo")
        patch.setenv("GORELIABLE_CONFIG", os.devnull)
        patch.setenv("GORELIABLE_PROJECT_ROOT", str(Path(__file__).resolve().parent.parent))
        yield patch


@contextlib.contextmanager
def mounted_tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted on the existing `folder` with mount `options` (e.g. `size=8m`, `size=64k,ro`): root only,
    skipped when mounting is not allowed here; unmounted afterwards whatever happens."""
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({options}) here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
