"""The scraped fixture (tests/data/scraped, recorded by `python -m goreliable_lib.devstack.stack.scraping record`):
servers started from it, and its truth as the tables `counter_streams.reference_events` takes.

- `start_server(kind, workdir)`: a Prometheus on the shipped TSDB snapshot blocks, or a fresh VictoriaMetrics
  loaded with the shipped native export (markers included);
- `truth_table(kind)`: every sample the back-end's scraper stored, matched at recording time with the value the
  target served: columns `t` (ns), `value` and one per label (None = missing);
- `facts()`: truth.json (scrape interval, first/last scrape per scraper, the scenario's timeline, versions).
"""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from goreliable_lib.devstack.stack.prometheus import PrometheusServer
from goreliable_lib.devstack.stack.scraping import load_native

FIXTURE = Path(__file__).parent / "data" / "scraped"
KINDS = ("prometheus", "victoriametrics")
CATALOGS = {"openslo": FIXTURE / "slos.openslo.yaml", "pyrra": FIXTURE / "slos.pyrra.yaml",
            "sloth": FIXTURE / "slos.sloth.yaml"}
MIN = pd.Timedelta(minutes=1)


@functools.cache
def facts() -> dict[str, Any]:
    return json.loads((FIXTURE / "truth.json").read_text())


@functools.cache
def _truth() -> pd.DataFrame:
    return pd.read_parquet(FIXTURE / "truth.parquet")


def truth_table(kind: str) -> pd.DataFrame:
    """The samples `kind`'s scraper stored (= what the targets served it): `t` (ns), `value`, labels."""
    part = _truth()[_truth()["scraper"] == kind].drop(columns=["scraper"])
    table = part.rename(columns={"t_ms": "t"}).assign(t=lambda f: f["t"].astype("int64") * 1_000_000)
    for column in table.columns:
        if column not in ("t", "value"):
            table[column] = table[column].astype(object).where(table[column].notna(), None)
    return table.reset_index(drop=True)


def ms(value: int) -> pd.Timestamp:
    return pd.Timestamp(int(value), unit="ms", tz="UTC")


def timeline(action: str, pods: list[str] | None = None) -> list[dict[str, Any]]:
    """The scenario's steps of one action (and pods)."""
    return [step for step in facts()["timeline"]
            if step["action"] == action and (pods is None or step["pods"] == pods)]


@contextlib.contextmanager
def start_server(kind: str, workdir: Path) -> Iterator[str]:
    """A real server of `kind` holding the fixture; yields its URL."""
    if kind == "prometheus":
        if shutil.which("prometheus") is None:
            pytest.skip("prometheus is not installed (apt-get install -y prometheus)")
        with PrometheusServer(FIXTURE / "prometheus", workdir=workdir, stop_at_exit=True) as server:
            yield server.url
    else:
        if shutil.which("victoria-metrics") is None:
            pytest.skip("victoria-metrics is not installed (apt-get install -y victoria-metrics)")
        server = load_native(FIXTURE / "victoriametrics.native", workdir)
        try:
            yield server.url
        finally:
            server.stop()
