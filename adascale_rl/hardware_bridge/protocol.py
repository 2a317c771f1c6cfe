"""The decision server's request format and its strict validation (no sockets here, so every rule is unit
testable and the server's handler stays small).

``POST /decide`` body (JSON object; unknown keys anywhere are errors)::

    {"sample": {"cpu_freq_frac": 0.8 | null, "cpu_bg_util": 0.3 | null, "mem_avail_frac": 0.6 | null,
                "temp_c": 41.0 | null, "battery_frac": 0.9 | null},          # last two optional
     "last_epoch": {EpochStats fields} | null,                                # optional
     "current_action": 5 | null,                                              # optional
     "client_id": "phone-1",                                                  # optional
     "bg_history": [0.3, 0.2, 0.4]}                                           # optional, newest first

- ``sample`` numbers must lie in their physical range (``cpu_freq_frac`` (0, 1], ``cpu_bg_util`` and
  ``mem_avail_frac`` [0, 1], ``temp_c`` [-40, 150] °C, ``battery_frac`` [0, 1]); ``null`` means *the
  device could not read it*: unknown for the optional ones and ``cpu_freq_frac`` (the contract's
  defaults apply), and for ``cpu_bg_util`` / ``mem_avail_frac`` the answer is the safe fallback variant
  (``"fallback": true``) — a 200, because the device must still be told what to run.
- ``last_epoch``: required ``latency_p95_ms``, ``miss_frac``, ``energy_j``, ``queue_len``, ``completed``;
  optional ``requests``, ``dropped``, ``failed``, ``latency_p50_ms``, ``latency_max_ms``, ``load_ms``,
  ``accuracy``, ``switched``, ``out_of_memory`` (defaults 0 / false).
- ``current_action``: an integer naming a variant (default: the client's last decision, else the
  fallback action — the env's start state).
- State: with ``client_id`` the server keeps that client's background history and last action (bounded,
  least recently used evicted); with ``bg_history`` the client sends the history itself (stateless);
  without either the current background is repeated (like the first epoch of an episode). Giving both
  is an error.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from adascale_rl.envs.contract import HISTORY
from adascale_rl.sim.stats import EpochStats

MAX_BODY_BYTES = 16 * 1024
CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

# name -> (low, high, low_inclusive, required)
SAMPLE_FIELDS: dict[str, tuple[float, float, bool, bool]] = {
    "cpu_freq_frac": (0.0, 1.0, False, True),
    "cpu_bg_util": (0.0, 1.0, True, True),
    "mem_avail_frac": (0.0, 1.0, True, True),
    "temp_c": (-40.0, 150.0, True, False),
    "battery_frac": (0.0, 1.0, True, False),
}
# name -> (kind, low, high, required); kind: "int", "float", "bool"
EPOCH_FIELDS: dict[str, tuple[str, float, float, bool]] = {
    "latency_p95_ms": ("float", 0.0, 1e7, True),
    "miss_frac": ("float", 0.0, 1.0, True),
    "energy_j": ("float", 0.0, 1e6, True),
    "queue_len": ("int", 0, 1e9, True),
    "completed": ("int", 0, 1e9, True),
    "requests": ("int", 0, 1e9, False),
    "dropped": ("int", 0, 1e9, False),
    "failed": ("int", 0, 1e9, False),
    "latency_p50_ms": ("float", 0.0, 1e7, False),
    "latency_max_ms": ("float", 0.0, 1e7, False),
    "load_ms": ("float", 0.0, 1e7, False),
    "accuracy": ("float", 0.0, 1.0, False),
    "switched": ("bool", 0, 1, False),
    "out_of_memory": ("bool", 0, 1, False),
}
TOP_FIELDS = ("sample", "last_epoch", "current_action", "client_id", "bg_history")


class RequestError(Exception):
    """A request the server refuses: HTTP status, machine-readable code, the field and what was expected."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 expected: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.expected = expected

    def to_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {"status": self.status, "code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        if self.expected is not None:
            error["expected"] = self.expected
        return {"error": error}


@dataclass(frozen=True)
class SampleIn:
    """A validated sample (None = the device could not read that sensor)."""

    cpu_freq_frac: float | None
    cpu_bg_util: float | None
    mem_avail_frac: float | None
    temp_c: float | None = None
    battery_frac: float | None = None


@dataclass(frozen=True)
class DecideRequest:
    sample: SampleIn
    last_epoch: EpochStats | None
    current_action: int | None
    client_id: str | None
    bg_history: list[float] | None


def _reject_constant(name: str) -> float:
    raise RequestError(400, "invalid_json", f"{name} is not a JSON number", expected="finite numbers only")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise RequestError(400, "invalid_json", f"key {key!r} appears twice in one object", field=key)
        result[key] = value
    return result


def parse_json(body: bytes) -> Any:
    """Strict JSON: UTF-8, no NaN/Infinity, no duplicate keys, bounded nesting."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(400, "invalid_json", f"body is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except RequestError:
        raise
    except RecursionError:
        raise RequestError(400, "invalid_json", "JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise RequestError(400, "invalid_json", f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                           expected="a JSON object") from None
    except ValueError as exc:  # e.g. an integer literal longer than Python's 4,300-digit conversion limit
        raise RequestError(400, "invalid_json", f"unreadable JSON value ({str(exc)[:80]})") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: Any, field: str, low: float, high: float, low_inclusive: bool = True) -> float:
    left = "[" if low_inclusive else "("
    expected = f"a number in {left}{low:g}, {high:g}]"
    if not _is_number(value):
        raise RequestError(400, "invalid_type", f"{field} must be a number, got {type(value).__name__}",
                           field=field, expected=expected)
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float is out of every range
        number = math.inf
    if not math.isfinite(number) or number > high or number < low or (not low_inclusive and number == low):
        raise RequestError(422, "out_of_range", f"{field}={value!r} is outside its range", field=field,
                           expected=expected)
    return number


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RequestError(400, "invalid_type", f"{field} must be a JSON object, got {type(value).__name__}",
                           field=field, expected="a JSON object")
    return value


def _unknown(obj: dict[str, Any], known, prefix: str) -> None:
    extra = sorted(set(obj) - set(known))
    if extra:
        field = f"{prefix}{extra[0]}"
        raise RequestError(400, "unknown_field", f"unknown field {field!r}", field=field,
                           expected=f"only {', '.join(known)}")


def parse_sample(value: Any) -> SampleIn:
    obj = _object(value, "sample")
    _unknown(obj, SAMPLE_FIELDS, "sample.")
    values: dict[str, float | None] = {}
    for name, (low, high, inclusive, required) in SAMPLE_FIELDS.items():
        field = f"sample.{name}"
        if name not in obj:
            if required:
                raise RequestError(400, "missing_field", f"{field} is required (null if it could not be read)",
                                   field=field, expected="a number or null")
            values[name] = None
            continue
        values[name] = None if obj[name] is None else _number(obj[name], field, low, high, inclusive)
    return SampleIn(**values)


def parse_last_epoch(value: Any) -> EpochStats | None:
    if value is None:
        return None
    obj = _object(value, "last_epoch")
    _unknown(obj, EPOCH_FIELDS, "last_epoch.")
    parsed: dict[str, Any] = {}
    for name, (kind, low, high, required) in EPOCH_FIELDS.items():
        field = f"last_epoch.{name}"
        if name not in obj:
            if required:
                raise RequestError(400, "missing_field", f"{field} is required", field=field)
            parsed[name] = False if kind == "bool" else 0
            continue
        item = obj[name]
        if kind == "bool":
            if not isinstance(item, bool):
                raise RequestError(400, "invalid_type", f"{field} must be true or false", field=field,
                                   expected="a boolean")
            parsed[name] = item
        elif kind == "int":
            if not isinstance(item, int) or isinstance(item, bool):
                raise RequestError(400, "invalid_type", f"{field} must be an integer", field=field,
                                   expected=f"an integer in [{low:g}, {high:g}]")
            parsed[name] = int(_number(item, field, low, high))
        else:
            parsed[name] = _number(item, field, low, high)
    for name in ("requests", "completed", "dropped", "failed", "queue_len"):
        parsed[name] = int(parsed[name])
    return EpochStats(**parsed)


def parse_decide(body: bytes, n_actions: int, exists) -> DecideRequest:
    """Validate a ``POST /decide`` body (see the module docstring); raises :class:`RequestError`."""
    doc = parse_json(body)
    if not isinstance(doc, dict):
        raise RequestError(400, "invalid_type", f"the body must be a JSON object, got {type(doc).__name__}",
                           expected="a JSON object with a 'sample' field")
    _unknown(doc, TOP_FIELDS, "")
    if "sample" not in doc:
        raise RequestError(400, "missing_field", "sample is required", field="sample",
                           expected="an object with cpu_freq_frac, cpu_bg_util, mem_avail_frac")
    sample = parse_sample(doc["sample"])
    last = parse_last_epoch(doc.get("last_epoch"))
    current = doc.get("current_action")
    if current is not None:
        if not isinstance(current, int) or isinstance(current, bool):
            raise RequestError(400, "invalid_type", "current_action must be an integer", field="current_action",
                               expected=f"an integer action in [0, {n_actions - 1}] that names a variant")
        if not 0 <= current < n_actions or not exists[current]:
            raise RequestError(422, "out_of_range", f"current_action {current} does not name a variant",
                               field="current_action",
                               expected=f"an integer action in [0, {n_actions - 1}] that names a variant")
    client_id = doc.get("client_id")
    if client_id is not None and (not isinstance(client_id, str) or not CLIENT_ID.match(client_id)):
        raise RequestError(400, "invalid_type", "client_id must be 1-64 characters of A-Z a-z 0-9 _ . : -",
                           field="client_id", expected="a short identifier string")
    history = doc.get("bg_history")
    if history is not None:
        if client_id is not None:
            raise RequestError(400, "conflicting_fields", "give client_id (server keeps history) or bg_history "
                               "(you send it), not both", field="bg_history")
        if not isinstance(history, list) or len(history) != HISTORY:
            raise RequestError(400, "invalid_type", f"bg_history must be a list of {HISTORY} numbers",
                               field="bg_history", expected=f"{HISTORY} numbers in [0, 1], newest first")
        history = [_number(v, f"bg_history[{i}]", 0.0, 1.0) for i, v in enumerate(history)]
    return DecideRequest(sample, last, current, client_id, history)
