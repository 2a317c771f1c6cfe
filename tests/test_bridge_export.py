"""Export: the ONNX actor + contract equal SB3's deterministic MaskablePPO on real env observations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from adascale_rl import __version__
from adascale_rl.cli import main
from adascale_rl.envs.contract import DecisionContract
from adascale_rl.hardware_bridge.export import export_policy, load_model, read_run, rollout_observations, verify_export
from adascale_rl.hardware_bridge.policy_file import ContractError, read_contract
from adascale_rl.hardware_bridge.testing import train_tiny_run
from adascale_rl.scenario import get_scenario


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A tiny MaskablePPO run in the training layout (shared with the other bridge test modules)."""
    return train_tiny_run(tmp_path_factory.getbasetemp() / "bridge_pixel4" / "run", "pixel4")


@pytest.fixture(scope="module")
def exported(run_dir, tmp_path_factory):
    return export_policy(run_dir, tmp_path_factory.mktemp("export") / "policy", verify_n=10_000, seed=0)


def test_export_agrees_with_sb3_on_10000_env_observations(exported) -> None:
    report = exported.verification
    assert report.n >= 10_000
    assert report.agree == report.n, report.mismatches
    doc = json.loads(exported.contract_path.read_text())
    assert doc["verification"]["agree"] == doc["verification"]["n"] == report.n


def test_export_agrees_on_other_observations_with_varied_masks(exported, run_dir) -> None:
    """A second, independent check: other rollouts plus random observations under random masks, so that
    many different actions are compared (a barely trained policy picks few actions on env data)."""
    scenario = get_scenario("pixel4")
    obs, masks = rollout_observations(scenario, 5_000, seed=7)
    rng = np.random.default_rng(3)
    random_obs = rng.random((5_000, obs.shape[1]), dtype=np.float32)
    random_masks = rng.random((5_000, masks.shape[1])) < 0.5
    random_masks[np.arange(5_000), rng.integers(0, masks.shape[1], 5_000)] = True
    report = verify_export(exported.out_dir, run_dir=run_dir,
                           observations=(np.concatenate([obs, random_obs]), np.concatenate([masks, random_masks])))
    assert report.n == 10_000 and report.agree == report.n, report.mismatches
    assert report.n_unique_actions >= 5


def test_onnx_graph_has_masked_argmax_inside(exported) -> None:
    assert sorted(p.name for p in exported.out_dir.iterdir()) == ["policy.json", "policy.onnx"]
    model = onnx.load(str(exported.onnx_path))
    onnx.checker.check_model(model)
    ops = [node.op_type for node in model.graph.node]
    assert "ArgMax" in ops and "Where" in ops
    # the dynamo exporter (onnxscript) wrote it: default-domain opset 18, not the TorchScript exporter's 17
    assert {o.domain: o.version for o in model.opset_import}[""] == 18
    assert [i.name for i in model.graph.input] == ["observation", "action_mask"]
    assert [o.name for o in model.graph.output] == ["action"]
    assert model.graph.input[1].type.tensor_type.elem_type == onnx.TensorProto.BOOL


def test_contract_describes_scenario_observation_and_actions(exported) -> None:
    scenario = get_scenario("pixel4")
    contract = DecisionContract(scenario)
    policy = read_contract(exported.out_dir)
    doc = policy.doc
    assert policy.scenario_name == "pixel4" and policy.scenario_digest == scenario.digest()
    assert doc["package_version"] == __version__
    assert policy.n_obs == contract.n_obs and policy.n_actions == contract.n_actions
    assert [f["name"] for f in doc["observation"]["fields"]] == list(contract.field_names)
    assert all(f["low"] == 0.0 and f["high"] == 1.0 for f in doc["observation"]["fields"])
    assert len(doc["actions"]) == int(contract.exists.sum())
    first = doc["actions"][0]
    assert first == {"action": first["action"], **contract.describe(first["action"])}
    assert len(doc["onnx"]["sha256"]) == 64
    assert doc["onnx"]["opset"] == 18 and doc["onnx"]["exporter"].startswith("torch.onnx.export(dynamo=True)")
    assert doc["fallback_action"] == contract.fallback_action


def test_export_refuses_run_trained_on_a_different_scenario(run_dir, tmp_path) -> None:
    info = json.loads((run_dir / "run.json").read_text())
    bad = tmp_path / "run"
    bad.mkdir()
    (bad / "best_model.zip").write_bytes((run_dir / "best_model.zip").read_bytes())
    (bad / "run.json").write_text(json.dumps({**info, "scenario_digest": "0" * 64}))
    with pytest.raises(ValueError, match="digest"):
        export_policy(bad, tmp_path / "out", verify_n=0)


def test_read_run_needs_model_and_run_json(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"best_model\.zip"):
        read_run(tmp_path)
    (tmp_path / "model.zip").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"run\.json"):
        read_run(tmp_path)


def test_policy_loader_does_not_unpickle(run_dir) -> None:
    """Export uses the agents package's safe loader (rebuilds pickled entries from the contract)."""
    model = load_model(read_run(run_dir).model_path, DecisionContract(get_scenario("pixel4")))
    assert model.policy.action_space.n == DecisionContract(get_scenario("pixel4")).n_actions


def test_cli_export_verifies_and_writes(run_dir, tmp_path, capsys) -> None:
    out = tmp_path / "cli_policy"
    assert main(["export", "--policy", str(run_dir), "--out", str(out), "--verify-n", "2000"]) == 0
    text = capsys.readouterr().out
    assert "2000/2000" in text
    assert (out / "policy.onnx").is_file() and (out / "policy.json").is_file()


def test_cli_help() -> None:
    for argv in (["export", "--help"], ["bridge", "--help"], ["bridge", "run", "--help"],
                 ["bridge", "serve", "--help"], ["bridge", "report", "--help"]):
        assert main(argv) == 0


def test_read_contract_rejects_garbage(tmp_path) -> None:
    with pytest.raises(ContractError, match="no policy contract"):
        read_contract(tmp_path)
    (tmp_path / "policy.json").write_text("{not json")
    with pytest.raises(ContractError, match="not valid JSON"):
        read_contract(tmp_path)
    (tmp_path / "policy.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ContractError, match="missing"):
        read_contract(tmp_path)
