"""The one retry policy of the HTTP sources (Prometheus, Kubecost/OpenCost), on tenacity.

What is retried, with exponential backoff (0.5 s, 1 s, 2 s, ... at most 10 s between attempts; 3 retries):
- HTTP 429 and 5xx answers, and connections refused, reset or not established in time;
- the server's `Retry-After` (seconds or an HTTP date) on a 429 or 503 is honoured: the wait is the longer of
  the backoff and what the server asked for. A server asking for more than `max_retry_after_seconds` (120 s)
  is not waited for: the failure is final, and says so.

What is not retried by default: a **timeout**, either the server's own (Prometheus' 503 `errorType: timeout`) or
no answer within the client's timeout. A query that timed out will time out again, and each attempt costs the
whole timeout again (four attempts at the default 60 s: four minutes before the error). `retry_timeouts=True`
(`GORELIABLE_PROMETHEUS_RETRY_TIMEOUTS=true` for Prometheus) retries them too. Other 4xx answers and malformed
bodies are never retried: the sources raise their own errors for them, outside this policy.

Every retry is logged (logger `goreliable_lib.sources.http`, level INFO) with the failure, which names the
endpoint and the query or request (never a credential: the sources keep those out of URLs and messages).
`goreliable -v` shows these lines on stderr; a report run keeps them in its summary.json `log`.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from goreliable_lib.errors import BadInputError

logger = logging.getLogger(__name__)

#: HTTP statuses worth another attempt.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Statuses whose `Retry-After` header is honoured (RFC 9110 defines it for 503 and 429, RFC 6585).
RETRY_AFTER_STATUSES = frozenset({429, 503})

T = TypeVar("T")


class TransientError(Exception):
    """One attempt failed in a way another attempt may mend. The message names the endpoint and the query or
    request: it is what the retry log line and, in the end, the source's own error say."""

    def __init__(self, message: str, *, status: int | None = None, error_type: str | None = None,
                 retry_after: float | None = None, timed_out: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.retry_after = retry_after
        self.timed_out = timed_out
        #: Set when the policy stops: the attempts made, and why there was no further one.
        self.attempts = 1
        self.outcome = ""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long a source retries a `TransientError` (see the module docs)."""

    retries: int = 3
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 10.0
    max_retry_after_seconds: float = 120.0
    retry_timeouts: bool = False
    #: How a user turns `retry_timeouts` on, named in the error of a timeout that was not retried.
    retry_timeouts_setting: str = "retry_timeouts=True"

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise BadInputError(f"retries: must be 0 or more, got {self.retries!r}")

    def refusal(self, failure: TransientError) -> str | None:
        """Why `failure` is not retried whatever the attempts left (None: it is retried while attempts last)."""
        if failure.timed_out and not self.retry_timeouts:
            return (f"not retried: a request that timed out would time out again (set "
                    f"{self.retry_timeouts_setting} to retry it)")
        if failure.retry_after is not None and failure.retry_after > self.max_retry_after_seconds:
            return (f"not retried: the server asked to retry after {failure.retry_after:g} s (Retry-After), longer "
                    f"than the {self.max_retry_after_seconds:g} s a request waits")
        return None

    def wait_seconds(self, attempt_number: int, failure: TransientError | None) -> float:
        """The pause after attempt `attempt_number` failed: the backoff, or the server's Retry-After if longer."""
        backoff = min(self.backoff_seconds * 2 ** (attempt_number - 1), self.max_backoff_seconds)
        retry_after = failure.retry_after if failure is not None and failure.retry_after is not None else 0.0
        return max(backoff, retry_after)

    def call(self, attempt: Callable[[], T]) -> T:
        """`attempt()` until it returns or the policy stops; then its last `TransientError` is raised with
        `attempts` and `outcome` set ("gave up after N attempts", or why it was not retried)."""
        retrying = Retrying(stop=stop_after_attempt(self.retries + 1), wait=self._wait,
                            retry=retry_if_exception(self._retryable), before_sleep=self._log_retry, reraise=True)
        try:
            return retrying(attempt)
        except TransientError as failure:
            failure.attempts = int(retrying.statistics.get("attempt_number", 1))
            failure.outcome = self.refusal(failure) or (
                f"gave up after {failure.attempts} attempt{'s' if failure.attempts != 1 else ''}")
            raise

    def _retryable(self, exc: BaseException) -> bool:
        return isinstance(exc, TransientError) and self.refusal(exc) is None

    def _wait(self, state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome is not None else None
        return self.wait_seconds(state.attempt_number, failure if isinstance(failure, TransientError) else None)

    def _log_retry(self, state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome is not None else None
        pause = state.next_action.sleep if state.next_action is not None else 0.0
        logger.info("attempt %d of %d failed, retrying in %.3g s: %s", state.attempt_number, self.retries + 1,
                    pause, failure)


def retry_after_seconds(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: `120` or an HTTP date (`Wed, 21 Oct 2026 07:28:00 GMT`)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
        return max(seconds, 0.0)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """Remove `user:password@` from a URL: (the URL safe to show and log, the basic auth pair or None)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url.rstrip("/"), None
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)).rstrip("/")
    return clean, (parts.username or "", parts.password or "")
