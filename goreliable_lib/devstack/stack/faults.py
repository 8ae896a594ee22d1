"""A small programmable HTTP proxy for fault tests (Prometheus, Kubecost, anything over HTTP).

    with FaultProxy(prometheus_url) as proxy:
        proxy.respond(503, {"status": "error", "errorType": "timeout", "error": "query timed out"}, times=2)
        source = PrometheusSource(proxy.url)
        ...                                  # the first two requests fail, the third reaches upstream
        assert proxy.requests[0].path == "/api/v1/query_range"

Faults are kept in a list; each request takes the first fault whose `path` (substring) matches and
that still has `times` left (`times=None` = forever). Without a matching fault the request is forwarded
unchanged. Everything runs on 127.0.0.1 on a free port, in a daemon thread.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import requests
from werkzeug.wrappers import Request, Response

from goreliable_lib.devstack.stack.serving import LoopbackServer

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
               "transfer-encoding", "upgrade", "host", "content-length", "content-encoding"}


@dataclass
class Fault:
    """One programmed misbehaviour (see the FaultProxy methods)."""

    kind: str  # "respond" | "delay" | "malformed" | "warnings" | "close"
    times: int | None = 1
    path: str | None = None
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


@dataclass
class SeenRequest:
    """A request as the proxy received it (for assertions: method, path, query args, form, headers)."""

    method: str
    path: str
    args: dict[str, list[str]]
    form: dict[str, list[str]]
    headers: dict[str, str]
    fault: str | None


def refused_url() -> str:
    """An http://127.0.0.1:PORT URL where nothing listens (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _json_body(body: bytes | str | dict[str, Any] | list[Any]) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return orjson.dumps(body)


class FaultProxy:
    """An HTTP proxy in front of `upstream` that misbehaves on demand."""

    def __init__(self, upstream: str | None, *, timeout: float = 120.0) -> None:
        self.upstream = upstream.rstrip("/") if upstream else None
        self.timeout = timeout
        self.requests: list[SeenRequest] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._session = requests.Session()
        self._server: LoopbackServer | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        self._server = LoopbackServer(self._app, name="fault-proxy").start()
        return self

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FaultProxy is not started")
        return f"http://127.0.0.1:{self._server.port}"

    def stop(self) -> None:
        """Stop serving and close the upstream session."""
        if self._server is not None:
            self._server.stop(timeout=5)
            self._server = None
        self._session.close()

    def __enter__(self) -> FaultProxy:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- programming faults -------------------------------------------------------------------
    def _add(self, fault: Fault) -> FaultProxy:
        with self._lock:
            self._faults.append(fault)
        return self

    def respond(self, status: int, body: bytes | str | dict[str, Any] | list[Any] = b"", *,
                headers: dict[str, str] | None = None, times: int | None = 1, path: str | None = None) -> FaultProxy:
        """Answer with `status` and `body` (dicts/lists as JSON) instead of forwarding, e.g. 429 + Retry-After."""
        merged = {"Content-Type": "application/json", **(headers or {})}
        return self._add(Fault("respond", times, path, status=status, body=_json_body(body), headers=merged))

    def delay(self, seconds: float, *, times: int | None = 1, path: str | None = None) -> FaultProxy:
        """Wait `seconds` before forwarding."""
        return self._add(Fault("delay", times, path, seconds=seconds))

    def malformed(self, body: bytes = b'{"status":"success","data":{"resultType":"matrix","result":[{"metr',
                  *, status: int = 200, times: int | None = 1, path: str | None = None) -> FaultProxy:
        """Answer with a body that is not valid JSON (by default a truncated success response)."""
        return self.respond(status, body, times=times, path=path)

    def inject_warnings(self, warnings: list[str], *, times: int | None = None,
                        path: str | None = None) -> FaultProxy:
        """Forward, then add `warnings` to the JSON response (like a Thanos partial response)."""
        return self._add(Fault("warnings", times, path, warnings=list(warnings)))

    def close_connection(self, *, times: int | None = 1, path: str | None = None) -> FaultProxy:
        """Close the connection without answering."""
        return self._add(Fault("close", times, path))

    def clear(self) -> None:
        """Forget all faults and seen requests."""
        with self._lock:
            self._faults.clear()
            self.requests.clear()

    def _take(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if (fault.times is None or fault.times > 0) and (fault.path is None or fault.path in path):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    # -- serving ------------------------------------------------------------------------------
    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data(cache=True)
        fault = self._take(request.path)
        with self._lock:
            self.requests.append(SeenRequest(
                request.method, request.path, request.args.to_dict(flat=False),
                request.form.to_dict(flat=False), dict(request.headers), fault.kind if fault else None))
        if fault is not None and fault.kind == "close":
            connection = environ.get("werkzeug.socket")
            if connection is not None:
                connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            return Response(b"", status=500)(environ, start_response)
        if fault is not None and fault.kind == "respond":
            return Response(fault.body, status=fault.status, headers=fault.headers)(environ, start_response)
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
        response = self._forward(request, body)
        if fault is not None and fault.kind == "warnings" and response.status_code == 200:
            document = orjson.loads(response.get_data())
            document["warnings"] = [*document.get("warnings", []), *fault.warnings]
            response.set_data(orjson.dumps(document))
        return response(environ, start_response)

    def _forward(self, request: Request, body: bytes) -> Response:
        if self.upstream is None:
            return Response(b'{"status":"error","errorType":"unavailable","error":"no upstream"}', status=502,
                            content_type="application/json")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        try:
            upstream = self._session.request(request.method, self.upstream + request.full_path.rstrip("?"),
                                             data=body or None, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            return Response(f"upstream unreachable: {type(exc).__name__}".encode(), status=502)
        out_headers = [(k, v) for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP]
        return Response(upstream.content, status=upstream.status_code, headers=out_headers)
