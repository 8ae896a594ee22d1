"""`events.promql`: every expression the SLO event engine and the SLO report send, checked by the text it renders
(the text is what the server, a snapshot's manifest and a reader see)."""

from __future__ import annotations

import pandas as pd
import pytest

from goreliable_lib.events import promql
from goreliable_lib.inputs.promql import is_range_selector

SEL = 'http_requests_total{service="api"}'


@pytest.mark.parametrize(("length", "closed", "text"), [
    (pd.Timedelta(minutes=1), False, "60s"), (pd.Timedelta(minutes=1), True, "59999ms"),
    (pd.Timedelta(minutes=2), True, "119999ms"), (pd.Timedelta(milliseconds=1500), False, "1500ms"),
    (pd.Timedelta(hours=1, minutes=2), False, "3720s")])
def test_a_range_covers_exactly_the_window_on_either_kind_of_server(length: pd.Timedelta, closed: bool,
                                                                    text: str) -> None:
    # (t - d, t] is [d] where ranges are left-open, [d - 1ms] where they hold both ends (timestamps are ms)
    assert promql.range_text(length, closed=closed) == text


def test_the_engine_expressions() -> None:
    assert promql.raw_samples(SEL, "60s") == 'http_requests_total{service="api"}[60s]'
    assert is_range_selector(promql.raw_samples(SEL, "59999ms"))  # the source drops markers from these answers
    assert promql.held(SEL, "60s") == 'last_over_time(http_requests_total{service="api"}[60s])'
    assert promql.held_sum(SEL, "60s") == 'sum(last_over_time(http_requests_total{service="api"}[60s]))'
    assert promql.held_sum(SEL, "120s", ["code", "le"]) == \
        'sum by (code, le)(last_over_time(http_requests_total{service="api"}[120s]))'
    assert promql.reset_flags(SEL, "3720s") == 'resets(http_requests_total{service="api"}[3720s]) > 0'
    assert promql.left_last_minute(SEL, "60s") == (
        'last_over_time(http_requests_total{service="api"}[60s] offset 1m) unless '
        'last_over_time(http_requests_total{service="api"}[60s])')
    assert promql.sample_count(SEL, "600s") == 'count_over_time(http_requests_total{service="api"}[600s])'


def test_batched_lookups_carry_their_term_number() -> None:
    at = pd.Timestamp("2026-11-10T12:00:00Z")  # 1794312000 s since the epoch
    text = promql.terms("last_over_time", [(SEL, "3600s", at), ('x_total{pod="a"}', "60s", at + pd.Timedelta("1.5s"))],
                        first_index=40)
    assert text == ('label_replace(last_over_time(http_requests_total{service="api"}[3600s] @ 1794312000.000), '
                    '"goreliable_term", "40", "", "") or '
                    'label_replace(last_over_time(x_total{pod="a"}[60s] @ 1794312001.500), '
                    '"goreliable_term", "41", "", "")')


def test_the_report_expressions() -> None:
    assert promql.RANGE_PROBE == "count_over_time(vector(1)[2m:1m])"
    assert promql.drift_max("model_drift_detected", "model", 300) == \
        "max by (model) (max_over_time(model_drift_detected[300s]))"
