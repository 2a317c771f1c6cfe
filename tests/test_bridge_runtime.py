"""PolicyRuntime: numpy + onnxruntime only, refuses mismatched contracts, falls back safely, and behaves
like the env's controller loop."""

from __future__ import annotations

import json
import logging
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from adascale_rl.agents.controller import Controller
from adascale_rl.envs import AdaScaleEnv
from adascale_rl.envs.contract import Reading
from adascale_rl.hardware_bridge.devices.sim import SimDevice
from adascale_rl.hardware_bridge.loop import run_loop
from adascale_rl.hardware_bridge.policy_file import ContractError, sha256_file
from adascale_rl.hardware_bridge.runtime import PolicyRuntime, ReadingDecider
from adascale_rl.hardware_bridge.testing import exported_tiny_policy
from adascale_rl.scenario import get_scenario
from adascale_rl.traces import load_split

GOOD = Reading(cpu_freq_frac=0.8, cpu_bg_util=0.3, mem_avail_frac=0.6, temp_c=45.0, battery_frac=0.7)


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory) -> Path:
    return exported_tiny_policy(tmp_path_factory.getbasetemp() / "bridge_pixel4")


@pytest.fixture
def runtime(policy_dir) -> PolicyRuntime:
    return PolicyRuntime(policy_dir)


def _copy(policy_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "policy"
    shutil.copytree(policy_dir, target)
    return target


def _edit(policy: Path, change) -> None:
    doc = json.loads((policy / "policy.json").read_text())
    change(doc)
    (policy / "policy.json").write_text(json.dumps(doc))


def test_runtime_is_a_controller(runtime) -> None:
    assert isinstance(runtime, Controller)
    assert runtime.scenario.name == "pixel4"


def test_runtime_imports_neither_torch_nor_sb3(policy_dir) -> None:
    code = ("import sys\n"
            "from adascale_rl.hardware_bridge.runtime import PolicyRuntime\n"
            "from adascale_rl.envs.contract import Reading\n"
            f"rt = PolicyRuntime({str(policy_dir)!r})\n"
            "d = rt.step(Reading(0.9, 0.3, 0.6))\n"
            "assert not d.fallback, d\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'stable_baselines3', 'sb3_contrib'))\n"
            "print('HEAVY', bad)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout


@pytest.mark.parametrize("change, message", [
    (lambda d: d["scenario"].update(digest="f" * 64), "digest"),
    (lambda d: d.update(n_obs=d["n_obs"] + 1), "n_obs"),
    (lambda d: d.update(n_actions=d["n_actions"] - 1), "n_actions"),
    (lambda d: d.update(package_version="99.0.0"), "major version"),
    (lambda d: d["onnx"].update(sha256="0" * 64), "sha256"),
    (lambda d: d.update(format_version=2), "format_version"),
    (lambda d: d["actions"][0].update(variant_id="something|else"), "action → variant"),
])
def test_runtime_refuses_mismatched_contract(policy_dir, tmp_path, change, message) -> None:
    policy = _copy(policy_dir, tmp_path)
    _edit(policy, change)
    with pytest.raises(ContractError, match=message):
        PolicyRuntime(policy)


def test_runtime_refuses_another_scenario(policy_dir) -> None:
    with pytest.raises(ContractError, match="digest"):
        PolicyRuntime(policy_dir, get_scenario("s10"))


def test_runtime_refuses_missing_onnx(policy_dir, tmp_path) -> None:
    policy = _copy(policy_dir, tmp_path)
    (policy / "policy.onnx").unlink()
    with pytest.raises(ContractError, match="missing"):
        PolicyRuntime(policy)


@pytest.mark.parametrize("reading, why", [
    (Reading(0.8, math.nan, 0.6), "cpu_bg_util is unreadable"),
    (Reading(0.8, 0.3, math.nan), "mem_avail_frac is unreadable"),
    (Reading(1.7, 0.3, 0.6), "cpu_freq_frac=1.7 outside"),
    (Reading(0.8, -0.1, 0.6), "cpu_bg_util=-0.1 outside"),
    (Reading(0.8, 0.3, 0.6, temp_c=500.0), "temp_c=500.0 outside"),
    (Reading(0.8, 0.3, 0.6, battery_frac=math.inf), "battery_frac=inf outside"),
    (Reading(0.8, None, 0.6), "cpu_bg_util is unreadable"),  # type: ignore[arg-type]
    (Reading(0.8, "0.3", 0.6), "not a number"),  # type: ignore[arg-type]
])
def test_runtime_falls_back_on_unreadable_sample(runtime, caplog, reading, why) -> None:
    with caplog.at_level(logging.WARNING, logger="adascale_rl.hardware_bridge.runtime"):
        decision = runtime.step(reading)
    assert decision.fallback and decision.action == runtime.contract.fallback_action
    assert why in decision.reason
    assert any(why in record.getMessage() for record in caplog.records)


def test_unknown_optional_sensors_are_not_a_fallback(runtime) -> None:
    decision = runtime.step(Reading(math.nan, 0.3, 0.6))  # VM: no cpufreq, no thermal zone, no battery
    assert not decision.fallback


def test_runtime_falls_back_on_bad_observation_or_mask(runtime) -> None:
    n_obs, n_actions = runtime.contract.n_obs, runtime.contract.n_actions
    mask = np.ones(n_actions, dtype=bool)
    assert runtime.decide_with_reason(np.full(n_obs, np.nan, np.float32), mask)[1].startswith("observation")
    assert runtime.decide_with_reason(np.zeros(n_obs + 1, np.float32), mask)[1].startswith("observation/mask")
    assert runtime.decide_with_reason(np.zeros(n_obs, np.float32), np.zeros(n_actions, bool))[1] == \
        "action mask allows nothing"


def _broken_policy(policy_dir: Path, tmp_path: Path) -> Path:
    """A real ONNX graph with the policy's inputs that onnxruntime loads but cannot run: it reshapes the
    observation to a shape its size does not divide into, which fails inside session.run."""
    policy = _copy(policy_dir, tmp_path)
    contract = json.loads((policy / "policy.json").read_text())
    n_obs, n_actions = contract["n_obs"], contract["n_actions"]
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [7, -1])
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["observation", "shape"], ["reshaped"]),
         helper.make_node("ArgMax", ["reshaped"], ["action"], axis=1, keepdims=0)],
        "broken",
        [helper.make_tensor_value_info("observation", TensorProto.FLOAT, [None, n_obs]),
         helper.make_tensor_value_info("action_mask", TensorProto.BOOL, [None, n_actions])],
        [helper.make_tensor_value_info("action", TensorProto.INT64, [None])],
        initializer=[shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.save(model, str(policy / "policy.onnx"))
    _edit(policy, lambda d: d["onnx"].update(sha256=sha256_file(policy / "policy.onnx")))
    return policy


def test_runtime_falls_back_when_onnxruntime_fails(policy_dir, tmp_path, caplog) -> None:
    runtime = PolicyRuntime(_broken_policy(policy_dir, tmp_path))
    with caplog.at_level(logging.WARNING, logger="adascale_rl.hardware_bridge.runtime"):
        decision = runtime.step(GOOD)
    assert decision.fallback and decision.action == runtime.contract.fallback_action
    assert "onnxruntime failed" in decision.reason
    assert any("onnxruntime failed" in r.getMessage() for r in caplog.records)
    assert runtime.n_fallbacks == 1


def test_runtime_matches_the_env_loop_exactly(runtime) -> None:
    """The same policy through the env (observations built by the env) and through SimDevice + runtime.step
    (observations built from readings, history and last stats by the runtime) takes the same actions and
    gets the same stats: the bridge uses the one decision contract the env does."""
    scenario = runtime.scenario
    trace = load_split("test")[0]
    env = AdaScaleEnv(scenario, traces=[trace], mode="eval")
    obs, _ = env.reset(seed=11, options={"trace_index": 0, "start": 500, "length": 60})
    env_actions, env_p95 = [], []
    for _ in range(60):
        action = runtime.decide(obs, env.action_masks())
        obs, _, _, _, info = env.step(action)
        env_actions.append(action)
        env_p95.append(info["stats"].latency_p95_ms)
    device = SimDevice(scenario, trace, start_epoch=500, seed=env.episode.sim_seed)
    runtime.reset()
    frame = run_loop(device, runtime, epochs=60, epoch_s=scenario.epoch_s)
    assert frame["action"].tolist() == env_actions
    assert np.allclose(frame["latency_p95_ms"], env_p95)
    assert not frame["fallback"].any()


def test_reading_decider_drives_any_controller(runtime) -> None:
    class Fixed:
        name = "fixed"

        def decide(self, observation, action_mask) -> int:
            return int(np.flatnonzero(action_mask)[-1])

        def reset(self) -> None:
            pass

    decider = ReadingDecider(Fixed(), runtime.contract)
    decision = decider.step(GOOD)
    assert decision.action == int(np.flatnonzero(runtime.contract.action_mask(GOOD))[-1])
    assert decider.step(Reading(0.8, math.nan, 0.6)).fallback
