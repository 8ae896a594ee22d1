"""The SLO review when the event archive starts inside the server's retention: a real Prometheus holding the
standard history's last 15 days (from 2026-11-08 06:00, as retention leaves it) and an archive holding only the last
five complete days (2026-11-18..22, written by `goreliable archive backfill`'s code from that server). The review
asks the server for the days before the archive's first too, so the period it covers starts where the server's
data starts, not at the archive's first day; its events over the covered period equal the simulator's truth, the
archive's days counted once."""

from __future__ import annotations

import pandas as pd
import pytest
from sim_metrics_fixtures import HELD, trimmed_prometheus_fixture  # noqa: F401  (fixture)
from slo_fixtures import CATALOG, sources_of

from goreliable_lib.analysis import slo as analysis
from goreliable_lib.devstack.sim import Simulation
from goreliable_lib.events.archive import backfill
from goreliable_lib.inputs.catalog import read_catalog
from goreliable_lib.reports import slo_review
from goreliable_lib.sources.archive import ArchiveSource
from goreliable_lib.sources.prometheus import PrometheusSource

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]

NAME = "api-gateway-availability"
DAY = pd.Timedelta(days=1)


def test_the_review_starts_where_the_servers_data_starts(trimmed_prometheus, tmp_path) -> None:
    simulation = Simulation()
    as_of = simulation.as_of  # 2026-11-23 06:00
    held_from = as_of - HELD  # the server's oldest sample: 2026-11-08 06:00
    archive = ArchiveSource(str(tmp_path / "archive"))
    (objective,) = [o for o in read_catalog(CATALOG).objectives if o.name == NAME]
    with PrometheusSource(trimmed_prometheus.url, clock=lambda: as_of) as source:
        archive_from = as_of.floor("D") - 5 * DAY  # 2026-11-18: ten days after the server's first
        backfill(source, archive, [objective], archive_from, as_of.floor("D"))
        assert sorted(archive.days(slo_review.archive_key(objective))["day"]) == list(
            pd.date_range(archive_from, periods=5, freq="D"))
        params = {"catalog": CATALOG, "services": [NAME], "period": "30d", "rule_sets": ["default"],
                  "end": as_of.isoformat()}
        data = slo_review.fetch(sources_of(source, archive=archive), params)
    review = slo_review.build(data, params)
    fetched = data.slos[NAME]
    # the server was asked for the days before the archive's first, from the first minute needed (the 30-day
    # budget before the period's start), and after the archive's reusable days (2026-11-18..20: 11-21 is the
    # newest with a whole day after it before the end, and is fetched too)
    assert fetched.server_ranges == [(data.start - pd.Timedelta(days=30), archive_from),
                                     (archive_from + 3 * DAY, as_of)]
    assert fetched.server_start == held_from
    summary = review.summary()
    start = pd.Timestamp(summary["period"]["start"])
    assert held_from - pd.Timedelta(minutes=1) <= start < held_from  # not the archive's first day, 11-18
    (row,) = summary["slos"]
    # 2026-11-08 (from 06:00) .. 2026-11-23 (to 06:00): 16 days; the archive alone gave 11-18, 11-19 and 11-20
    assert (row["days"], row["archive"], row["server"]) == (16, 3, 13)
    # the events of the covered period are the truth's: the server's, the archive's and the server's again,
    # joined without a minute twice or missing
    counts = analysis.window_counts(fetched.events, held_from, as_of)
    assert (counts.good, counts.total) == simulation.metrics.slo_events(NAME, held_from, as_of)
    # the Prometheus view starts once the default rules' 3-day window lies in the server's data
    (view,) = fetched.views
    assert view.start == held_from + pd.Timedelta(days=3)
    (page, ticket) = summary["prometheus_view"]
    assert page["minutes_compared"] == int((as_of - view.start) / pd.Timedelta(minutes=1))
    assert page["disagreements"]["unexplained"] == ticket["disagreements"]["unexplained"] == 0
