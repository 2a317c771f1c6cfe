"""Decision server end to end on loopback: valid requests, every kind of bad request, auth, and a fuzz."""

from __future__ import annotations

import http.client
import json
import socket
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adascale_rl.envs.contract import Reading
from adascale_rl.hardware_bridge.client import DecisionClient, DecisionError
from adascale_rl.hardware_bridge.protocol import MAX_BODY_BYTES
from adascale_rl.hardware_bridge.runtime import PolicyRuntime
from adascale_rl.hardware_bridge.server import DecisionServer, check_bind
from adascale_rl.hardware_bridge.testing import exported_tiny_policy
from adascale_rl.sim.stats import EpochStats

SAMPLE = {"cpu_freq_frac": 0.9, "cpu_bg_util": 0.35, "mem_avail_frac": 0.6, "temp_c": 41.5, "battery_frac": 0.8}
LAST = {"latency_p95_ms": 12.5, "miss_frac": 0.1, "energy_j": 0.4, "queue_len": 1, "completed": 9}
TOKEN = "s3cret-token-0123456789"


@pytest.fixture(scope="module")
def runtime(tmp_path_factory) -> PolicyRuntime:
    return PolicyRuntime(exported_tiny_policy(tmp_path_factory.getbasetemp() / "bridge_pixel4"))


@pytest.fixture(scope="module")
def server(runtime):
    with DecisionServer(runtime, host="127.0.0.1", port=0) as srv:
        yield srv


@pytest.fixture(scope="module")
def secured(runtime):
    with DecisionServer(runtime, host="127.0.0.1", port=0, token=TOKEN) as srv:
        yield srv


def raw(server, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """One request on a fresh connection; returns (status, parsed JSON or None, headers)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else None), dict(response.getheaders())
    finally:
        conn.close()


def post(server, document, content_type: str = "application/json", extra: dict | None = None):
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return raw(server, "POST", "/decide", body, {"Content-Type": content_type, **(extra or {})})


def test_valid_request(server, runtime) -> None:
    status, doc, _ = post(server, {"sample": SAMPLE, "last_epoch": LAST, "current_action": runtime.fallback_action})
    assert status == 200
    assert set(doc) == {"action", "variant_id", "branch", "compression", "fallback", "reason", "decision_us"}
    assert doc["fallback"] is False
    expected = runtime.decide_reading(Reading(**SAMPLE), EpochStats(
        requests=0, completed=9, dropped=0, failed=0, latency_p50_ms=0.0, latency_p95_ms=12.5, latency_max_ms=0.0,
        miss_frac=0.1, energy_j=0.4, accuracy=0.0, switched=False, out_of_memory=False, load_ms=0.0, queue_len=1),
        None, runtime.fallback_action)
    assert doc["action"] == expected.action and doc["variant_id"] == expected.variant_id


def test_health_and_contract(server, runtime) -> None:
    status, doc, _ = raw(server, "GET", "/health")
    assert status == 200 and doc["status"] == "ok" and doc["scenario"] == "pixel4"
    status, doc, _ = raw(server, "GET", "/contract")
    assert status == 200 and doc["scenario"]["digest"] == runtime.scenario.digest()


def test_null_sensor_means_unreadable_and_gives_the_fallback(server, runtime) -> None:
    status, doc, _ = post(server, {"sample": {**SAMPLE, "cpu_bg_util": None}})
    assert status == 200 and doc["fallback"] is True and doc["action"] == runtime.fallback_action
    status, doc, _ = post(server, {"sample": {**SAMPLE, "cpu_freq_frac": None, "temp_c": None}})
    assert status == 200 and doc["fallback"] is False  # unknown frequency/temperature: contract defaults


@pytest.mark.parametrize("document, status, code, field", [
    ({"sample": {**SAMPLE, "cpu_bg_util": "0.3"}}, 400, "invalid_type", "sample.cpu_bg_util"),
    ({"sample": {**SAMPLE, "cpu_bg_util": True}}, 400, "invalid_type", "sample.cpu_bg_util"),
    ({"sample": [0.9, 0.3, 0.6]}, 400, "invalid_type", "sample"),
    ({"sample": SAMPLE, "current_action": 1.0}, 400, "invalid_type", "current_action"),
    ({"sample": SAMPLE, "last_epoch": {**LAST, "completed": 9.5}}, 400, "invalid_type", "last_epoch.completed"),
    ({"sample": SAMPLE, "last_epoch": {**LAST, "switched": 1}}, 400, "invalid_type", "last_epoch.switched"),
    ({"sample": {"cpu_bg_util": 0.3, "mem_avail_frac": 0.6}}, 400, "missing_field", "sample.cpu_freq_frac"),
    ({}, 400, "missing_field", "sample"),
    ({"sample": SAMPLE, "last_epoch": {"miss_frac": 0.1}}, 400, "missing_field", "last_epoch.latency_p95_ms"),
    ({"sample": {**SAMPLE, "gpu": 1.0}}, 400, "unknown_field", "sample.gpu"),
    ({"sample": SAMPLE, "extra": 1}, 400, "unknown_field", "extra"),
    ({"sample": SAMPLE, "last_epoch": {**LAST, "joules": 1}}, 400, "unknown_field", "last_epoch.joules"),
    ({"sample": {**SAMPLE, "cpu_bg_util": 1.5}}, 422, "out_of_range", "sample.cpu_bg_util"),
    ({"sample": {**SAMPLE, "cpu_freq_frac": 0.0}}, 422, "out_of_range", "sample.cpu_freq_frac"),
    ({"sample": {**SAMPLE, "temp_c": -273.0}}, 422, "out_of_range", "sample.temp_c"),
    ({"sample": {**SAMPLE, "temp_c": 10**400}}, 422, "out_of_range", "sample.temp_c"),
    ({"sample": SAMPLE, "last_epoch": {**LAST, "completed": 10**400}}, 422, "out_of_range",
     "last_epoch.completed"),
    ({"sample": SAMPLE, "current_action": 10_000}, 422, "out_of_range", "current_action"),
    ({"sample": SAMPLE, "last_epoch": {**LAST, "miss_frac": 2}}, 422, "out_of_range", "last_epoch.miss_frac"),
    ({"sample": SAMPLE, "client_id": "a b"}, 400, "invalid_type", "client_id"),
    ({"sample": SAMPLE, "bg_history": [0.1]}, 400, "invalid_type", "bg_history"),
    ({"sample": SAMPLE, "bg_history": [0.1, 0.2, 0.3], "client_id": "x"}, 400, "conflicting_fields", "bg_history"),
    ([SAMPLE], 400, "invalid_type", None),
])
def test_invalid_requests_name_the_field(server, document, status, code, field) -> None:
    got, doc, _ = post(server, document)
    assert got == status, doc
    assert doc["error"]["code"] == code
    assert doc["error"].get("field") == field
    assert doc["error"]["message"]


@pytest.mark.parametrize("body, fragment", [
    (b'{"sample": {', "malformed JSON"),
    (b'{"sample": {"cpu_freq_frac": NaN, "cpu_bg_util": 0.3, "mem_avail_frac": 0.6}}', "NaN is not a JSON number"),
    (b'{"sample": {"cpu_freq_frac": Infinity, "cpu_bg_util": 0.3, "mem_avail_frac": 0.6}}', "Infinity"),
    (b'{"sample": {}, "sample": {}}', "appears twice"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
    (b"", "malformed JSON"),
    (b'{"sample": {"cpu_freq_frac": ' + b"9" * 5000 + b"}}", "unreadable JSON value"),
])
def test_malformed_json(server, body, fragment) -> None:
    status, doc, _ = post(server, body)
    assert status == 400 and doc["error"]["code"] == "invalid_json"
    assert fragment in doc["error"]["message"]


def test_oversized_body_is_refused_unread(server) -> None:
    body = json.dumps({"sample": SAMPLE, "pad": "x" * (MAX_BODY_BYTES + 10)}).encode()
    status, doc, headers = post(server, body)
    assert status == 413 and doc["error"]["code"] == "body_too_large"
    assert headers.get("Connection") == "close"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "application/json; charset=latin-1", ""])
def test_wrong_content_type(server, content_type) -> None:
    status, doc, _ = post(server, {"sample": SAMPLE}, content_type=content_type)
    assert status == 415 and doc["error"]["field"] == "Content-Type"


def test_chunked_body_and_missing_length(server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /decide HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
        reply = sock.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 411")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST /decide HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n")
        reply = sock.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 411")


def test_unknown_path_and_wrong_method(server) -> None:
    assert raw(server, "GET", "/nope")[0] == 404
    status, _, headers = raw(server, "GET", "/decide")
    assert status == 405 and headers.get("Allow") == "POST"
    assert raw(server, "POST", "/health", b"{}", {"Content-Type": "application/json"})[0] == 405


def test_stalled_client_is_disconnected(runtime) -> None:
    """A client that sends half a request and stops is dropped after the socket timeout."""
    with DecisionServer(runtime, port=0, socket_timeout_s=0.5) as server, \
            socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /decide HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 50\r\n\r\n{")
        started = time.monotonic()
        data = sock.recv(4096)
        assert data == b"" and time.monotonic() - started < 5
        assert raw(server, "GET", "/health")[0] == 200


def test_non_loopback_without_token_is_refused() -> None:
    with pytest.raises(ValueError, match="without a token"):
        check_bind("0.0.0.0", None)
    with pytest.raises(ValueError, match="without a token"):
        check_bind("192.168.1.20", None)
    with pytest.raises(ValueError, match="at least 16"):
        check_bind("0.0.0.0", "short")
    check_bind("0.0.0.0", TOKEN)  # allowed with a token (not bound here: tests stay on loopback)
    check_bind("127.0.0.1", None)


def test_token_is_required_when_configured(secured) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN},
                    {"Authorization": f"Basic {TOKEN}"}):
        status, doc, response_headers = raw(secured, "GET", "/health", headers=headers)
        assert status == 401 and doc["error"]["code"] == "unauthorized"
        assert response_headers.get("WWW-Authenticate", "").startswith("Bearer")
    status, doc, _ = post(secured, {"sample": SAMPLE}, extra={"Authorization": "Bearer nope"})
    assert status == 401
    assert raw(secured, "GET", "/health", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
    with DecisionClient("127.0.0.1", secured.port, token=TOKEN) as client:
        assert client.decide(SAMPLE)["fallback"] is False


def test_client_keeps_state_per_client_id(server, runtime) -> None:
    """With client_id the server keeps the background history and last action like runtime.step does."""
    readings = [Reading(0.9, bg, 0.6) for bg in (0.1, 0.5, 0.9, 0.2, 0.7)]
    runtime.reset()
    expected = [runtime.step(r).action for r in readings]
    with DecisionClient("127.0.0.1", server.port, client_id="phone-7") as client:
        got = [client.decide(r)["action"] for r in readings]
    assert got == expected
    # Stateless: the client sends the history (newest first) and the action it runs now.
    with DecisionClient("127.0.0.1", server.port) as client:
        doc = client.decide(readings[-1], current_action=expected[-2], bg_history=[0.2, 0.9, 0.5])
    assert doc["action"] == expected[-1]


def test_client_raises_decision_error(server) -> None:
    with DecisionClient("127.0.0.1", server.port) as client, pytest.raises(DecisionError) as info:
        client.decide({"cpu_freq_frac": 0.9, "cpu_bg_util": 3.0, "mem_avail_frac": 0.5})
    assert info.value.status == 422 and info.value.error["field"] == "sample.cpu_bg_util"


# -- fuzz ---------------------------------------------------------------------------------------------

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.integers(min_value=10**300),
                      st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                             st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                          max_leaves=12)
near_number = st.one_of(st.floats(-2, 200, allow_nan=False), st.integers(-5, 5), st.none(), st.text(max_size=3),
                        st.booleans())
sample_like = st.fixed_dictionaries({}, optional={k: near_number for k in SAMPLE} | {"junk": json_value})
epoch_like = st.fixed_dictionaries({}, optional={k: near_number for k in
                                                 (*LAST, "requests", "switched", "accuracy")} | {"junk": json_value})
document = st.fixed_dictionaries({}, optional={"sample": st.one_of(sample_like, json_value),
                                               "last_epoch": st.one_of(epoch_like, json_value),
                                               "current_action": st.one_of(st.integers(-3, 40), json_value),
                                               "client_id": st.one_of(st.text(max_size=70), json_value),
                                               "bg_history": st.one_of(st.lists(near_number, max_size=4), json_value)})
body = st.one_of(document.map(lambda d: json.dumps(d).encode()), json_value.map(lambda v: json.dumps(v).encode()),
                 st.binary(max_size=200))


@pytest.fixture(scope="module")
def fuzz_client(server):
    with DecisionClient("127.0.0.1", server.port, timeout_s=10) as client:
        yield client


@settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(payload=body)
def test_fuzz_never_5xx(fuzz_client, payload: bytes) -> None:
    status, doc = fuzz_client.request("POST", "/decide", payload, {"Content-Type": "application/json"})
    assert status < 500, doc
    assert status == 200 or ("error" in doc and doc["error"]["status"] == status)


def test_server_alive_after_fuzz(server) -> None:
    status, doc, _ = raw(server, "GET", "/health")
    assert status == 200 and doc["decisions"] > 0


def test_serve_cli_refuses_public_host_without_token(tmp_path_factory) -> None:
    from adascale_rl.cli import main

    policy = exported_tiny_policy(tmp_path_factory.getbasetemp() / "bridge_pixel4")
    assert main(["bridge", "serve", "--policy", str(Path(policy)), "--host", "0.0.0.0", "--port", "0"]) == 2
