"""SIGTERM handled like Ctrl-C.

Kubernetes stops a pod (a CronJob past its deadline, a node drain) with SIGTERM, then SIGKILL after the grace
period. Python's default for SIGTERM is to die on the spot: the kernel would be orphaned and the run left
half-written. `stop_on_sigterm` makes SIGTERM raise `Terminated`, a KeyboardInterrupt, where the program is, so
a run stops the way an interrupted run does: kept, marked failed, exit 1, the last good run untouched.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def deferred_interruption() -> Iterator[None]:
    """Hold SIGTERM and SIGINT while the block runs (imports), then raise `Terminated` or KeyboardInterrupt.

    An exception raised by a signal handler in the middle of an import can surface as another error (Python wraps
    one raised inside a class body's `__set_name__` in a RuntimeError), so a stop would read as a crash. A no-op
    outside the main thread, where no handler runs anyway.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    for number in previous:
        signal.signal(number, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if signal.SIGTERM in received and previous[signal.SIGTERM] is not signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # as `_raise_terminated`: the clean-up is not cut short
        raise Terminated("terminated (SIGTERM)")
    if signal.SIGINT in received and previous[signal.SIGINT] is not signal.SIG_IGN:
        raise KeyboardInterrupt


def describe_interruption(exc: KeyboardInterrupt) -> str:
    """'terminated (SIGTERM)' or 'interrupted (Ctrl-C / SIGINT)'."""
    return "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted (Ctrl-C / SIGINT)"
