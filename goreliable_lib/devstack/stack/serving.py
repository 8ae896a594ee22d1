"""A WSGI app served by werkzeug on 127.0.0.1 (the Kubecost server and the fault proxy share it)."""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class QuietHandler(WSGIRequestHandler):
    """No access log on stderr (tests and the stack make hundreds of requests)."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class LoopbackServer:
    """`app` on 127.0.0.1:`port` (0 = a free port), in a daemon thread (`start`) or in the foreground (`serve`)."""

    def __init__(self, app: Any, *, port: int = 0, name: str = "wsgi-server") -> None:
        self._server: BaseWSGIServer = make_server("127.0.0.1", port, app, threaded=True,
                                                   request_handler=QuietHandler)
        self._thread: threading.Thread | None = None
        self._name = name

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def start(self) -> LoopbackServer:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, name=self._name, daemon=True)
        self._thread.start()
        return self

    def serve(self) -> None:
        """Serve in this thread until interrupted."""
        self._server.serve_forever()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None
