"""Fixtures of the drill tests: the simulated drills (folder and moto S3) and hand-written broken logs.

Import the fixtures you use into a test module (`from drill_fixtures import drill_sim  # noqa: F401`).
The lead's session stack can reuse `S3Server` + `upload_drills` the same way `drill_s3` does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from goreliable_lib.devstack.sim.drills import DrillSimulation
from goreliable_lib.devstack.stack.s3 import S3Server, client, upload_drills


@pytest.fixture(scope="session")
def drill_sim() -> DrillSimulation:
    return DrillSimulation()


@pytest.fixture(scope="session")
def drill_folder(drill_sim: DrillSimulation, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The simulated logs written under a folder; the returned path is the drills URI."""
    return drill_sim.write_folder(tmp_path_factory.mktemp("drill-logs"))


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real moto S3 server process on 127.0.0.1 for the drill tests."""
    server = S3Server()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def drill_s3(moto_endpoint: str, drill_sim: DrillSimulation) -> dict[str, Any]:
    """The simulated logs uploaded through boto3 into bucket `goreliable-drills`."""
    upload_drills(moto_endpoint, "goreliable-drills", "drills", drill_sim.files())
    return {"endpoint": moto_endpoint, "bucket": "goreliable-drills", "uri": "s3://goreliable-drills/drills"}


@pytest.fixture()
def s3(moto_endpoint: str) -> Any:
    """A boto3 client on the moto server (test credentials)."""
    return client(moto_endpoint)


@pytest.fixture()
def fresh_bucket(s3: Any) -> str:
    """An empty bucket of its own for a test."""
    name = f"drills-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture()
def aws_env(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> str:
    """The standard AWS environment pointing at the moto server, as production would set it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return moto_endpoint


def line(drill_id: str, component: str, event: str, ts: str, **fields: Any) -> str:
    """One goreliable.drill/v1 JSON line (no newline)."""
    import json

    data = {"schema": "goreliable.drill/v1", "drill_id": drill_id, "scenario": "cluster-replacement",
            "component": component, "event": event, "ts": ts, **fields}
    return json.dumps(data)


BROKEN_DRILL = "2026-01-15-cluster-replacement"

# A drill log a tired operator could produce: corrupt lines of every kind, an unknown component, a duplicated
# line, and lines out of time order. Valid content: declared 10:00:00, postgresql recovered 10:05:00 (300 s) and
# lost 42 s; redis (unknown) recovered 10:03:00; grafana-dashboards recovered 10:02:00 and lost 0 s.
BROKEN_LOG_LINES = [
    line(BROKEN_DRILL, "postgresql", "recovered", "2026-01-15T10:05:00Z", operator="r.tanaka"),       # 1 out of order
    line(BROKEN_DRILL, "*", "disaster_declared", "2026-01-15T10:00:00Z"),                             # 2
    '{"schema": "goreliable.drill/v1", "drill_id": "' + BROKEN_DRILL + '", "event": "recov',         # 3 bad JSON
    line(BROKEN_DRILL, "postgresql", "data_loss", "2026-01-15T10:06:00Z", data_loss_seconds=-5),     # 4 negative
    line(BROKEN_DRILL, "postgresql", "exploded", "2026-01-15T10:06:00Z"),                             # 5 unknown event
    line(BROKEN_DRILL, "postgresql", "verified", "yesterday at ten"),                                 # 6 bad ts
    ('{"schema": "goreliable.drill/v2", "drill_id": "x", "component": "*", "event": "note", '
     '"ts": "2026-01-15T10:00:00Z"}'),                                                                # 7
    ('{"schema": "goreliable.drill/v1", "drill_id": "' + BROKEN_DRILL + '", "event": "recovered", '
     '"ts": "2026-01-15T10:04:00Z"}'),                                                                # 8 no component
    "",                                                                                      # 9 blank: skipped silently
    line(BROKEN_DRILL, "redis", "recovered", "2026-01-15T10:03:00Z"),                        # 10 unknown component
    line(BROKEN_DRILL, "grafana-dashboards", "recovered", "2026-01-15T10:02:00Z"),                    # 11
    line(BROKEN_DRILL, "postgresql", "data_loss", "2026-01-15T10:06:00Z", data_loss_seconds=42),     # 12
    line(BROKEN_DRILL, "grafana-dashboards", "recovered", "2026-01-15T10:02:00Z"),           # 13 duplicate of 11
    line(BROKEN_DRILL, "grafana-dashboards", "data_loss", "2026-01-15T10:02:30Z", data_loss_seconds=0),  # 14
    "[1, 2, 3]",                                                                                     # 15 not an object
    line(BROKEN_DRILL, "postgresql", "verified", "2026-01-15T10:05:30"),                              # 16 no time zone
]
BROKEN_LOG_INVALID_LINES = {3, 4, 5, 6, 7, 8, 15, 16}
BROKEN_LOG_DUPLICATE_LINE = 13


def broken_log_text() -> str:
    return "\n".join(BROKEN_LOG_LINES) + "\n"
