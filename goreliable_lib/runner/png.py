"""Figures as PNG (figures/NAME.png) through kaleido 1.x and a headless Chromium, bounded in time.

One Chromium serves every PNG of a run (kaleido's sync server: about 0.5 s a figure instead of about 5 s with a
browser per figure); it starts with the first PNG, or earlier with `start_browser` (a report whose notebook writes
PNGs: its run calls it as it begins, and Chromium starts while the data is fetched), and stops at the run's end
(`stop_browser`, runner/context.py `end_of_run`) or when the process exits. The browser is runner/shared.py's
`find_browser` (the one report.pdf is printed with, runner/pdf.py); kaleido runs it headless with --no-sandbox
(choreographer's default), so it works as root in a container. kaleido bounds a render but not Chromium's start-up,
and an unattended report must not hang on a picture: a render gets `timeout` seconds, then it is given up (the
caller says so as a warning). kaleido itself (with choreographer and asyncio: 0.1 s of imports) is loaded by name
with the run's first PNG or `start_browser`: most reports write none, and every report's kernel imports this module.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import threading
import warnings
from typing import Any

from goreliable_lib.runner.shared import find_browser

#: The longest a figure's PNG may take (Chromium's start-up included; a render takes ~0.5 s once it runs).
PNG_TIMEOUT_SECONDS = 120.0

#: The PNG library, loaded when the run's Chromium starts (`_ensure_server`).
KALEIDO = "kaleido"

_server_lock = threading.Lock()
_server_started = False


class PngTimeout(TimeoutError):
    """No image from kaleido/Chromium within the time allowed."""


def stop_browser() -> None:
    """Stop the run's Chromium, if it runs (also done at the process's exit); a later PNG starts it again."""
    global _server_started
    with _server_lock:
        if not _server_started:
            return
        _server_started = False
        with contextlib.suppress(Exception):  # already stopped, or never started (no browser found)
            importlib.import_module(KALEIDO).stop_sync_server(silence_warnings=True)


def _ensure_server() -> None:
    """Start kaleido's sync server once per process (nothing when no browser is found: each render then fails
    with kaleido's own message, which the caller turns into a warning)."""
    global _server_started
    with _server_lock:
        if _server_started:
            return
        _server_started = True
        browser = find_browser()
        if browser is None:
            return
        warnings.filterwarnings("ignore", message="The kopts argument is ignored", category=UserWarning)
        try:
            importlib.import_module(KALEIDO).start_sync_server(path=browser, silence_warnings=True)
        except Exception:  # a broken browser: write_image reports it per figure
            return


atexit.register(stop_browser)


def start_browser() -> None:
    """Start the run's Chromium now, in the background (kaleido's server starts it in its own thread): the first
    PNG then need not wait for it."""
    _ensure_server()


def render_png(fig: Any, timeout: float = PNG_TIMEOUT_SECONDS) -> bytes:
    """The figure as PNG bytes; PngTimeout after `timeout` seconds, or kaleido's error."""
    _ensure_server()
    outcome: dict[str, Any] = {}

    def render() -> None:
        try:
            outcome["png"] = fig.to_image(format="png")
        except Exception as exc:  # kaleido needs Chrome/Chromium: the caller says so
            outcome["error"] = exc

    worker = threading.Thread(target=render, name="png-render", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise PngTimeout(f"no image from kaleido/Chromium within {timeout:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["png"]
