"""The one retry policy of the HTTP sources (goreliable_lib.sources.http), without a server: what is retried, how
long it waits, what it logs. The sources' own tests check the same policy against real servers."""

from __future__ import annotations

import datetime as dt
import logging
import time

import pytest

from goreliable_lib.errors import BadInputError
from goreliable_lib.sources.http import RetryPolicy, TransientError, retry_after_seconds, split_credentials

FAST = RetryPolicy(backoff_seconds=0.001)


class Failing:
    """An attempt that fails with the given TransientErrors in turn, then returns "ok"."""

    def __init__(self, *failures: TransientError) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def test_transient_failures_are_retried_then_given_up() -> None:
    attempt = Failing(TransientError("HTTP 502 from http://kubecost/model/allocation?window=today", status=502))
    assert FAST.call(attempt) == "ok" and attempt.calls == 2
    always = Failing(*[TransientError("HTTP 500", status=500)] * 10)
    with pytest.raises(TransientError) as caught:
        FAST.call(always)
    assert always.calls == 4 and caught.value.attempts == 4 and caught.value.outcome == "gave up after 4 attempts"


def test_a_timeout_is_not_retried_unless_asked_and_the_error_names_the_setting() -> None:
    """A query that timed out on the server (Prometheus' 503 `errorType: timeout`) or in the client will time out
    again: four attempts at a 60 s timeout would be four minutes before the error."""
    policy = RetryPolicy(backoff_seconds=0.001, retry_timeouts_setting="GORELIABLE_PROMETHEUS_RETRY_TIMEOUTS=true")
    attempt = Failing(*[TransientError("query timed out", status=503, error_type="timeout", timed_out=True)] * 5)
    with pytest.raises(TransientError) as caught:
        policy.call(attempt)
    assert attempt.calls == 1 and caught.value.attempts == 1
    assert "not retried" in caught.value.outcome and "GORELIABLE_PROMETHEUS_RETRY_TIMEOUTS=true" in caught.value.outcome
    retrying = Failing(*[TransientError("query timed out", status=503, timed_out=True)] * 2)
    assert RetryPolicy(backoff_seconds=0.001, retry_timeouts=True).call(retrying) == "ok" and retrying.calls == 3


def test_retry_after_is_honoured_beyond_the_backoff_and_refused_when_too_long() -> None:
    policy = RetryPolicy(backoff_seconds=0.01, max_backoff_seconds=0.01)
    assert policy.wait_seconds(1, TransientError("429", status=429, retry_after=0.5)) == 0.5
    assert policy.wait_seconds(3, None) == 0.01  # capped backoff
    began = time.monotonic()
    assert policy.call(Failing(TransientError("429", status=429, retry_after=0.3))) == "ok"
    assert time.monotonic() - began >= 0.3
    too_long = Failing(TransientError("429 slow down", status=429, retry_after=600))
    with pytest.raises(TransientError) as caught:
        policy.call(too_long)
    assert too_long.calls == 1 and "Retry-After" in caught.value.outcome and "600 s" in caught.value.outcome


def test_retry_after_seconds_and_http_dates() -> None:
    now = dt.datetime(2026, 11, 23, 6, 0, 0, tzinfo=dt.UTC)
    assert retry_after_seconds("120") == 120.0 and retry_after_seconds(" 1.5 ") == 1.5
    assert retry_after_seconds("Mon, 23 Nov 2026 06:00:30 GMT", now=now) == 30.0  # RFC 9110 IMF-fixdate
    assert retry_after_seconds("Mon, 23 Nov 2026 05:00:00 GMT", now=now) == 0.0  # in the past: at once
    for junk in (None, "", "soon", "-5", "nan", "inf"):
        assert retry_after_seconds(junk) is None, junk


def test_every_retry_is_logged_with_what_failed(caplog: pytest.LogCaptureFixture) -> None:
    message = "Prometheus http://prom:9090/api/v1/query failed (HTTP 502, error): bad gateway -- query: 'up'"
    with caplog.at_level(logging.INFO, logger="goreliable_lib"):
        FAST.call(Failing(TransientError(message, status=502), TransientError(message, status=502)))
    records = [r for r in caplog.records if r.name == "goreliable_lib.sources.http"]
    assert [r.levelno for r in records] == [logging.INFO, logging.INFO]
    assert records[0].getMessage().startswith("attempt 1 of 4 failed, retrying in 0.001 s: Prometheus http://prom")
    assert records[1].getMessage().startswith("attempt 2 of 4 failed") and "'up'" in records[1].getMessage()


def test_policy_settings_and_urls_without_credentials() -> None:
    with pytest.raises(BadInputError, match="retries: must be 0 or more"):
        RetryPolicy(retries=-1)
    assert split_credentials("https://ops:hunter2@kubecost.example:9090/model/") == (
        "https://kubecost.example:9090/model", ("ops", "hunter2"))
    assert split_credentials("http://[::1]:9003") == ("http://[::1]:9003", None)
