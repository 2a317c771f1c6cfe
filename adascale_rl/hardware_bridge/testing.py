"""Helpers for the bridge's tests and benchmarks: a tiny trained run in the training layout, exported.

The tiny run is a few hundred PPO steps: enough to export and check equivalence, not a good controller.
Real evaluations use the bundled policies (``adascale_rl/data/policies``) or a properly trained run.
"""

from __future__ import annotations

import json
from pathlib import Path


def train_tiny_run(run_dir: str | Path, scenario: str = "pixel4", *, steps: int = 512, seed: int = 0,
                   episode_epochs: int = 32) -> Path:
    """Train a few hundred MaskablePPO steps and save ``model.zip``, ``best_model.zip`` and ``run.json``
    in the layout of the project's training runs (``runs/NAME``). Skips the work if the run exists."""
    from sb3_contrib import MaskablePPO

    from adascale_rl.envs import AdaScaleEnv

    run_dir = Path(run_dir)
    if (run_dir / "run.json").is_file() and (run_dir / "best_model.zip").is_file():
        return run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    env = AdaScaleEnv(scenario, episode_epochs=episode_epochs)
    model = MaskablePPO("MlpPolicy", env, n_steps=128, batch_size=64, n_epochs=4, seed=seed, device="cpu", verbose=0)
    model.learn(steps)
    model.save(str(run_dir / "model.zip"))
    model.save(str(run_dir / "best_model.zip"))
    (run_dir / "run.json").write_text(json.dumps({"scenario": scenario, "scenario_digest": env.scenario.digest(),
                                                  "algorithm": "MaskablePPO", "timesteps": steps, "seed": seed},
                                                 indent=2))
    return run_dir


def exported_tiny_policy(base_dir: str | Path, scenario: str = "pixel4", *, steps: int = 512,
                         verify_n: int = 0) -> Path:
    """Train (if needed) a tiny run for ``scenario`` under ``base_dir/run`` and export it to
    ``base_dir/policy``; returns the policy folder. Reuses what is already there."""
    from adascale_rl.hardware_bridge.export import export_policy

    base = Path(base_dir)
    policy = base / "policy"
    if (policy / "policy.json").is_file() and (policy / "policy.onnx").is_file():
        return policy
    run = train_tiny_run(base / "run", scenario, steps=steps)
    export_policy(run, policy, verify_n=verify_n)
    return policy
