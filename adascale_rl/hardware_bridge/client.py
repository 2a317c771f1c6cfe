"""``DecisionClient``: a small Python client for the decision server (stdlib ``http.client``, keep-alive).

Device runtimes in other languages speak the same JSON (see :mod:`~adascale_rl.hardware_bridge.protocol`);
this client is for Python device loops, tests and the latency benchmark::

    client = DecisionClient("127.0.0.1", 8765, client_id="phone-1")
    decision = client.decide({"cpu_freq_frac": 0.9, "cpu_bg_util": 0.4, "mem_avail_frac": 0.6})
    decision["variant_id"]
"""

from __future__ import annotations

import http.client
import json
import math
from dataclasses import asdict, is_dataclass
from typing import Any

from adascale_rl.sim.stats import EpochStats

SAMPLE_KEYS = ("cpu_freq_frac", "cpu_bg_util", "mem_avail_frac", "temp_c", "battery_frac")


class DecisionError(Exception):
    """The server refused a request (4xx) or failed (5xx); ``error`` is its JSON error object."""

    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(f"HTTP {status}: {error.get('message', error)}")
        self.status = status
        self.error = error


def _json_number(value: Any) -> Any:
    """NaN (the package's 'unknown') becomes JSON null; JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def sample_to_json(sample: Any) -> dict[str, Any]:
    """A :class:`~adascale_rl.envs.contract.Reading` (or any object/dict with its fields) as request JSON."""
    if isinstance(sample, dict):
        return {key: _json_number(value) for key, value in sample.items()}
    return {key: _json_number(float(getattr(sample, key))) for key in SAMPLE_KEYS if hasattr(sample, key)}


def epoch_to_json(stats: EpochStats | dict[str, Any]) -> dict[str, Any]:
    data = asdict(stats) if is_dataclass(stats) else dict(stats)
    return {key: _json_number(value) for key, value in data.items()}


class DecisionClient:
    """Talks to one decision server over a persistent connection (reconnects once if it was dropped)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8765, *, token: str | None = None,
                 client_id: str | None = None, timeout_s: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.token = token
        self.client_id = client_id
        self.timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        return self._conn

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """Send one request; returns (status, decoded JSON)."""
        all_headers = dict(headers or {})
        if self.token is not None:
            all_headers.setdefault("Authorization", f"Bearer {self.token}")
        if body is not None:
            all_headers.setdefault("Content-Type", "application/json")
        for attempt in range(2):
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=all_headers)
                response = conn.getresponse()
                payload = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.close()
                return response.status, json.loads(payload) if payload else None
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _checked(self, method: str, path: str, body: bytes | None = None) -> Any:
        status, payload = self.request(method, path, body)
        if status != 200:
            raise DecisionError(status, (payload or {}).get("error", {}) if isinstance(payload, dict) else {})
        return payload

    def decide(self, sample: Any, last_epoch: EpochStats | dict[str, Any] | None = None,
               current_action: int | None = None, bg_history: list[float] | None = None) -> dict[str, Any]:
        """Ask for the next action; raises :class:`DecisionError` if the server refuses the request."""
        document: dict[str, Any] = {"sample": sample_to_json(sample)}
        if last_epoch is not None:
            document["last_epoch"] = epoch_to_json(last_epoch)
        if current_action is not None:
            document["current_action"] = int(current_action)
        if self.client_id is not None:
            document["client_id"] = self.client_id
        if bg_history is not None:
            document["bg_history"] = [float(v) for v in bg_history]
        return self._checked("POST", "/decide", json.dumps(document).encode())

    def health(self) -> dict[str, Any]:
        return self._checked("GET", "/health")

    def contract(self) -> dict[str, Any]:
        return self._checked("GET", "/contract")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> DecisionClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
