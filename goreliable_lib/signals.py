"""SIGTERM handled like Ctrl-C.

Kubernetes stops a pod (a CronJob past its deadline, a node drain) with SIGTERM, then SIGKILL after the grace
period. Python's default for SIGTERM is to die on the spot: the kernel would be orphaned and the run left
half-written. `stop_on_sigterm` makes SIGTERM raise `Terminated`, a KeyboardInterrupt, where the program is, so
a run stops the way an interrupted run does: kept, marked failed, exit 1, the last good run untouched.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType


class Terminated(KeyboardInterrupt):
    """Raised by SIGTERM once `stop_on_sigterm` is installed."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up the first started
    raise Terminated("terminated (SIGTERM)")


def stop_on_sigterm() -> None:
    """Make SIGTERM raise `Terminated` in this process (signals can only be set from the main thread: no-op
    elsewhere, e.g. when the runner is used from a thread in JupyterLab)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


def describe_interruption(exc: KeyboardInterrupt) -> str:
    """'terminated (SIGTERM)' or 'interrupted (Ctrl-C / SIGINT)'."""
    return "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted (Ctrl-C / SIGINT)"
