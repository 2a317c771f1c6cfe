"""Ray Tune search and RLlib registration (need the `ray` extra; the RLlib run is slow-marked)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from adascale_rl.agents.ppo import PPO_KEYS, RUN_KEYS, load_hyperparams
from adascale_rl.cli import main
from adascale_rl.experiments.tune import NET_ARCHS, params_from_config, write_hyperparams
from adascale_rl.traces import split_entries

ROOT = Path(__file__).resolve().parents[1]


def test_tuned_configuration_is_a_hyperparameter_file_train_reads(tmp_path):
    base = load_hyperparams("pixel4")
    base.pop("n_timesteps")
    params = params_from_config(base, {"learning_rate": 3e-4, "gamma": 0.95, "net_arch": "128x128", "n_steps": 128,
                                       "batch_size": 64})
    assert params["policy_kwargs"] == {"net_arch": NET_ARCHS["128x128"]} and params["n_envs"] == base["n_envs"]
    path = write_hyperparams(tmp_path / "best.yml", "pixel4", params, 256, comment="tuned\nby a test")
    assert path.read_text().startswith("# tuned\n# by a test\npixel4:")
    loaded = load_hyperparams("pixel4", path)
    assert set(loaded) <= set(PPO_KEYS + RUN_KEYS) and loaded["learning_rate"] == 3e-4
    run = tmp_path / "run"
    assert main(["train", "--hyperparams", str(path), "--n-envs", "1", "--eval-freq", "10000", "--out", str(run)]) == 0
    record = json.loads((run / "run.json").read_text())
    assert record["timesteps"] == 256 and record["hyperparams"]["gamma"] == 0.95
    assert record["traces"] == [entry.name for entry in split_entries("train")]
    assert yaml.safe_load((run / "hyperparams.yml").read_text())["pixel4"]["policy_kwargs"]["net_arch"] == [128, 128]


def test_tune_searches_and_writes_the_best_configuration(tmp_path):
    if not os.environ.get("CI"):  # CI installs the ray extra: there a missing ray is a failure, not a skip
        pytest.importorskip("ray")
    out = tmp_path / "best.yml"
    assert main(["tune", "--samples", "2", "--timesteps", "512", "--report-every", "256", "--val-episodes", "1",
                 "--val-epochs", "16", "--out", str(out)]) == 0
    params = load_hyperparams("pixel4", out)
    assert params["n_timesteps"] == 512
    assert "validation score" in out.read_text().splitlines()[0]
    assert any((tmp_path / "ray_tune").iterdir())


@pytest.mark.slow
def test_rllib_example_trains_ppo_on_the_registered_env():
    pytest.importorskip("ray.rllib")
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "rllib_ppo.py"), "--iterations", "2"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("iteration")]
    assert len(lines) == 2 and "1200.0 env steps" in lines[1]
