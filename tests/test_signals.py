"""SIGTERM and Ctrl-C held while the runner imports its stages (goreliable_lib/signals.py).

The CI failure this guards: `report all` got SIGTERM while a worker imported papermill; the handler's
`Terminated` was raised inside a class body (jsonschema's FQDN, a cached_property's __set_name__), Python wrapped
it in a RuntimeError, and the run crashed with a traceback instead of stopping cleanly.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from functools import cached_property

import pytest

from goreliable_lib.signals import Terminated, deferred_interruption, stop_on_sigterm


@pytest.fixture(autouse=True)
def ctrl_c_raises() -> Iterator[None]:
    """SIGINT as Python sets it in a terminal (KeyboardInterrupt), even when the tests were started in the background
    by a shell without job control, which ignores SIGINT for all it starts."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture()
def sigterm_raises() -> Iterator[None]:
    previous = signal.getsignal(signal.SIGTERM)
    stop_on_sigterm()
    yield
    signal.signal(signal.SIGTERM, previous)


def test_sigterm_inside_a_class_body_is_otherwise_wrapped_in_a_runtime_error(sigterm_raises: None) -> None:
    """The failure itself, without the deferral: what a stop during an import looks like."""
    class Raising:
        def __set_name__(self, owner: type, name: str) -> None:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(RuntimeError) as caught:
        type("Imported", (), {"attribute": Raising()})
    assert isinstance(caught.value.__cause__, Terminated)


def test_sigterm_during_the_block_is_raised_after_it_whole(sigterm_raises: None) -> None:
    finished = []

    class Raising:
        def __set_name__(self, owner: type, name: str) -> None:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(Terminated), deferred_interruption():
        type("Imported", (), {"attribute": Raising(), "valid": cached_property(lambda self: True)})
        finished.append("class built")
    assert finished == ["class built"]
    # a second SIGTERM must not cut the clean-up the first started (as the handler itself does)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN


def test_ctrl_c_during_the_block_is_raised_after_it() -> None:
    finished = []
    with pytest.raises(KeyboardInterrupt) as caught, deferred_interruption():
        os.kill(os.getpid(), signal.SIGINT)
        finished.append("done")
    assert finished == ["done"]
    assert not isinstance(caught.value, Terminated)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_no_signal_leaves_the_handlers_as_they_were(sigterm_raises: None) -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with deferred_interruption():
        pass
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_an_ignored_sigterm_stays_ignored() -> None:
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with deferred_interruption():
            os.kill(os.getpid(), signal.SIGTERM)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)
