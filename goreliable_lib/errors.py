"""Exceptions of the kit. Each carries the exit code the CLI uses (see the README)."""

from __future__ import annotations

from typing import Any


class GoReliableError(Exception):
    """Base class: something went wrong while running (exit code 1)."""

    exit_code: int = 1

    @property
    def summary(self) -> str:
        """The message on one line (what `%promql` prints): its lines, stripped, joined by a space."""
        return " ".join(line.strip() for line in str(self).splitlines() if line.strip())


class BadInputError(GoReliableError):
    """Bad input from the user (parameters, catalogs, budgets, drill events): exit code 2.

    The message names the file, the field path or the line.
    """

    exit_code = 2


class SourceError(GoReliableError):
    """An upstream (Prometheus, Kubecost, S3, a snapshot) failed: exit code 1."""


class PrometheusError(SourceError):
    """A Prometheus query failed; keeps the query and the server's own message."""

    def __init__(self, message: str, *, query: str | None = None, error_type: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.query = query
        self.error_type = error_type
        self.status = status


class KubecostError(SourceError):
    """A Kubecost / OpenCost request failed."""

    def __init__(self, message: str, *, request: dict[str, Any] | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.request = request
        self.status = status


class DrillLogError(SourceError):
    """Drill logs could not be listed or read (missing bucket, access denied, ...)."""


class SnapshotMissError(SourceError):
    """A replayed snapshot holds no result for a request. The message names the request and the nearest recorded
    ones (also on `.request` and `.nearest`); `.summary` is its first line alone: which profile replays which
    snapshot, and how to reach a server instead."""

    def __init__(self, message: str, *, request: dict[str, Any], nearest: list[dict[str, Any]],
                 summary: str | None = None) -> None:
        super().__init__(message)
        self.request = request
        self.nearest = nearest
        self._summary = summary

    @property
    def summary(self) -> str:
        return self._summary if self._summary is not None else super().summary


class ImpossibleFiguresError(GoReliableError):
    """An SLO's events break an invariant (a negative minute, good above total, a window that is not the sum of its
    days): the run fails (exit code 1) before any page shows a figure built on them."""


class StackError(GoReliableError):
    """The local stack could not be started or stopped."""
