"""Decision server: the exported policy over HTTP, for device runtimes that cannot embed Python.

Endpoints (JSON in and out; request format and validation in :mod:`~adascale_rl.hardware_bridge.protocol`):

- ``POST /decide`` → ``{"action", "variant_id", "branch", "compression", "fallback", "reason", "decision_us"}``
- ``GET /health`` → ``{"status": "ok", "scenario", "n_actions", "uptime_s", "decisions", "fallbacks"}``
- ``GET /contract`` → the policy's ``policy.json``

Errors are JSON ``{"error": {"status", "code", "message", "field"?, "expected"?}}``: 400 malformed JSON,
wrong types, missing/unknown fields; 401 missing or wrong bearer token; 404 unknown path; 405 wrong
method; 411 no ``Content-Length`` (chunked bodies are refused); 413 body over 16 KiB (not read);
415 content type not ``application/json``; 422 numbers out of range or actions that name no variant;
500 only for a bug (a test fuzzes the server to show it does not happen).

Safety: binds ``127.0.0.1`` by default; any non-loopback host is refused unless a token is given, and
then every request needs ``Authorization: Bearer TOKEN`` (compared in constant time). Each connection has
a socket timeout (a slow or stalled client cannot hold a thread forever), bodies are size-limited
before they are read, and the threads are daemons. Stdlib ``http.server`` keeps the dependency list
short; the server is meant for a device on the same host or LAN, not the open internet (no TLS).
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from adascale_rl.envs.contract import HISTORY
from adascale_rl.hardware_bridge.protocol import MAX_BODY_BYTES, DecideRequest, RequestError, parse_decide
from adascale_rl.hardware_bridge.runtime import PolicyRuntime
from adascale_rl.scenario import Scenario

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
SOCKET_TIMEOUT_S = 5.0
MAX_CLIENTS = 1024
MIN_TOKEN_CHARS = 16


@dataclass
class _ClientState:
    """One client's background history (newest first) and the last action the server gave it."""

    history: np.ndarray | None = None
    current: int | None = None


class DecisionService:
    """The policy plus per-client state; thread-safe (onnxruntime sessions are, and state is locked)."""

    def __init__(self, runtime: PolicyRuntime, max_clients: int = MAX_CLIENTS) -> None:
        self.runtime = runtime
        self.contract = runtime.contract
        self.max_clients = max_clients
        self._clients: OrderedDict[str, _ClientState] = OrderedDict()
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self.decisions = 0
        self.fallbacks = 0

    def decide(self, request: DecideRequest) -> dict[str, Any]:
        state = None
        if request.client_id is not None:
            with self._lock:
                state = self._clients.pop(request.client_id, None) or _ClientState()
                self._clients[request.client_id] = state
                while len(self._clients) > self.max_clients:
                    self._clients.popitem(last=False)
        history = request.bg_history
        current = request.current_action
        if state is not None:
            history = state.history
            current = current if current is not None else state.current
        decision = self.runtime.decide_reading(request.sample, request.last_epoch, history, current)
        if state is not None:
            with self._lock:
                bg = request.sample.cpu_bg_util
                if bg is not None and not decision.reason.startswith("unreadable"):
                    old = state.history if state.history is not None else np.full(HISTORY, bg)
                    new = np.empty(HISTORY)
                    new[1:] = old[:-1]
                    new[0] = bg
                    state.history = new
                state.current = decision.action
        with self._lock:
            self.decisions += 1
            self.fallbacks += decision.fallback
        return decision.to_dict()

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "scenario": self.runtime.scenario.name, "n_actions": self.contract.n_actions,
                "uptime_s": round(time.monotonic() - self.started, 3), "decisions": self.decisions,
                "fallbacks": self.fallbacks, "clients": len(self._clients)}


class _Handler(BaseHTTPRequestHandler):
    """One HTTP/1.1 connection (keep-alive). Configured through the server attributes."""

    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT_S
    # Headers and body go out in two writes; with Nagle on, the second waits for the client's delayed ACK
    # (~40 ms per keep-alive request on Linux). TCP_NODELAY sends both at once.
    disable_nagle_algorithm = True
    server_version = "adascale-rl-bridge"
    sys_version = ""
    server: _Server

    # -- plumbing --------------------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, payload: dict[str, Any], *, close: bool = False,
              headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def _error(self, error: RequestError, *, close: bool = False, headers: dict[str, str] | None = None) -> None:
        self._send(error.status, error.to_dict(), close=close, headers=headers)

    def _authorised(self) -> bool:
        token = self.server.token
        if token is None:
            return True
        header = self.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
        # The body (if any) is not read: close the connection so it is not parsed as the next request.
        self._error(RequestError(401, "unauthorized", "missing or wrong bearer token",
                                 expected="header 'Authorization: Bearer TOKEN'"),
                    close=True, headers={"WWW-Authenticate": 'Bearer realm="adascale-rl"'})
        return False

    def _route(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        routes = {"/decide": "POST", "/health": "GET", "/contract": "GET"}
        if path not in routes:
            self._error(RequestError(404, "not_found", f"no endpoint {path!r}",
                                     expected="POST /decide, GET /health or GET /contract"), close=method == "POST")
            return
        if routes[path] != method:
            self._error(RequestError(405, "method_not_allowed", f"{method} is not allowed on {path}",
                                     expected=f"{routes[path]} {path}"), close=method == "POST",
                        headers={"Allow": routes[path]})
            return
        if not self._authorised():
            return
        self._body_read = False
        try:
            if path == "/health":
                self._send(200, self.server.service.health())
            elif path == "/contract":
                self._send(200, self.server.service.runtime.policy.doc)
            else:
                self._decide()
        except RequestError as error:
            # An unread body would be parsed as the next request on this connection: close it instead.
            self._error(error, close=method == "POST" and not self._body_read)
        except (TimeoutError, ConnectionError):
            self.close_connection = True
        except Exception:  # a bug: answer 500 rather than drop the connection, and log it
            log.exception("decision server error on %s %s", method, path)
            self._error(RequestError(500, "internal_error", "internal server error"), close=True)

    def _decide(self) -> None:
        content_type = self.headers.get("Content-Type", "")
        media, _, params = content_type.partition(";")
        charset = params.strip().lower()
        if media.strip().lower() != "application/json" or (charset and charset not in ("charset=utf-8",)):
            raise RequestError(415, "unsupported_media_type", f"content type {content_type!r} is not JSON",
                               field="Content-Type", expected="application/json (UTF-8)")
        if self.headers.get("Transfer-Encoding"):
            raise RequestError(411, "length_required", "chunked transfer encoding is not accepted",
                               field="Transfer-Encoding", expected="a Content-Length header")
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            raise RequestError(411, "length_required", "Content-Length is required", field="Content-Length")
        try:
            length = int(length_header)
        except ValueError:
            raise RequestError(400, "bad_header", f"Content-Length {length_header!r} is not an integer",
                               field="Content-Length") from None
        if length < 0:
            raise RequestError(400, "bad_header", "Content-Length is negative", field="Content-Length")
        if length > MAX_BODY_BYTES:
            raise RequestError(413, "body_too_large", f"body of {length} bytes exceeds {MAX_BODY_BYTES} bytes",
                               field="Content-Length", expected=f"at most {MAX_BODY_BYTES} bytes")
        body = self.rfile.read(length)
        self._body_read = True
        if len(body) != length:
            self.close_connection = True  # the client went away mid-body
            return
        service = self.server.service
        request = parse_decide(body, service.contract.n_actions, service.contract.exists)
        self._send(200, service.decide(request))

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_DELETE(self) -> None:
        self._route("DELETE")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    service: DecisionService
    token: str | None


class _Server6(_Server):
    address_family = socket.AF_INET6


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback bind without a token, and a token too short to resist guessing."""
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ValueError(f"token must be at least {MIN_TOKEN_CHARS} characters")
    if host not in LOOPBACK_HOSTS and token is None:
        raise ValueError(f"refusing to serve on {host!r} without a token: only loopback "
                         f"({', '.join(LOOPBACK_HOSTS)}) may be served unauthenticated; pass --token")


class DecisionServer:
    """The HTTP server around a :class:`DecisionService` (``port=0`` picks a free port)."""

    def __init__(self, runtime: PolicyRuntime, host: str = "127.0.0.1", port: int = 8765,
                 token: str | None = None, socket_timeout_s: float = SOCKET_TIMEOUT_S) -> None:
        check_bind(host, token)
        self.service = DecisionService(runtime)
        cls = _Server6 if ":" in host else _Server
        handler = type("_TimedHandler", (_Handler,), {"timeout": socket_timeout_s})
        self.httpd = cls((host, port), handler)
        self.httpd.service = self.service
        self.httpd.token = token
        self.host = host
        self.port = int(self.httpd.server_address[1])
        self._thread: threading.Thread | None = None

    @classmethod
    def from_policy(cls, policy_dir: str | Path, scenario: str | Scenario | None = None, **kwargs) -> DecisionServer:
        return cls(PolicyRuntime(policy_dir, scenario), **kwargs)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> DecisionServer:
        """Serve in a background thread (tests, benchmarks, embedding)."""
        self._thread = threading.Thread(target=self.serve_forever, name="decision-server", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(5.0)
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> DecisionServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
