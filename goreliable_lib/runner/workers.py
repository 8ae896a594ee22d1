"""`report all`'s worker processes: forked from multiprocessing's forkserver, which imports the suite
(runner/suite.py) once, rather than a fresh interpreter each (and no fork of the command's own process, which may
hold threads or sockets). Nothing heavy is imported here, so the command can start that server first
(`start_worker_server`), before it loads the suite and the reports' specs itself: the two sets of imports overlap.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
import threading

#: What the workers' server imports once, for every worker it forks.
WORKER_SERVER_PRELOAD = ("goreliable_lib.runner.suite",)


def worker_context() -> multiprocessing.context.ForkServerContext:
    """The context of `report all`'s worker processes (the server imports `WORKER_SERVER_PRELOAD`)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(WORKER_SERVER_PRELOAD))
    return context  # type: ignore[return-value]


def _first_worker() -> None:
    worker = worker_context().Process(target=os.getpid)  # starting one starts the server (its imports: ~0.9 s)
    worker.start()
    worker.join()


def start_worker_server() -> threading.Thread:
    """Start the workers' server now, in a thread (a process start waits for the server's imports), while the
    command loads the runner and checks the requests; the suite's pool then forks from it."""
    thread = threading.Thread(target=_first_worker, name="goreliable-worker-server", daemon=True)
    thread.start()
    return thread
