"""Helpers for the bridge's tests and benchmarks: a tiny trained run in the training layout, and a quick
locally measured scenario for :class:`~.devices.local.LocalDevice` runs.

Neither is a substitute for the real thing: the tiny run is a few hundred PPO steps (enough to export and
check equivalence, not a good controller), and the quick scenario's catalog times a handful of supernet
variants on this machine with a few dozen runs each (accuracy: the supernet bundle's recorded test
accuracy when there is a bundle, otherwise a *placeholder*, labelled so in the catalog's provenance).
Real evaluations use the ``local`` scenario built by the supernet profiler and a properly trained policy.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from adascale_rl.scenario import Scenario, get_scenario

QUICK_VARIANTS = ("exit1|w0.25", "exit1|w0.5", "exit1|none", "exit2|w0.25", "exit2|w0.5", "exit2|none",
                  "exit3|w0.25", "exit3|w0.5", "exit3|none")
# Placeholder accuracies (not measured): deeper and wider is better, roughly like the supernet's exits.
_PLACEHOLDER_ACC = {"exit1": 0.90, "exit2": 0.95, "exit3": 0.97}
_WIDTH_PENALTY = {"w0.25": 0.05, "w0.5": 0.02, "none": 0.0}


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


def quick_local_scenario(out_dir: str | Path, *, variants: tuple[str, ...] = QUICK_VARIANTS, runs: int = 24,
                         request_rate_hz: float = 100.0, latency_budget_ms: float = 4.0) -> Path:
    """Time ``variants`` (untrained supernet modules) on this machine at every ``local`` compute
    configuration and write ``quick_local.csv`` + ``quick_local.toml`` into ``out_dir``; returns the
    TOML path. Skips the measurement if the files exist."""
    import torch

    from adascale_rl.catalog import bundled_profile
    from adascale_rl.hardware_bridge.devices.variants import default_provider, sample_inputs

    out = Path(out_dir)
    toml_path, csv_path = out / "quick_local.toml", out / "quick_local.csv"
    if toml_path.is_file() and csv_path.is_file():
        return toml_path
    out.mkdir(parents=True, exist_ok=True)
    profile = bundled_profile("local")
    provider = default_provider()
    accuracies = _bundle_accuracies() if "bundle" in provider.weights else {}
    x = sample_inputs(8)[:1]
    configs = profile.config_names
    modules = {vid: provider.build(vid) for vid in variants}
    times: dict[tuple[str, str], list[float]] = {(vid, cfg): [] for vid in variants for cfg in configs}
    threads_before = torch.get_num_threads()
    rounds = 4  # interleaved: a burst of load from another process hits every variant alike
    try:
        with torch.inference_mode():
            for _ in range(rounds):
                for vid in variants:
                    for cfg in configs:
                        torch.set_num_threads(profile.config(cfg).n_cores)
                        for i in range(runs // rounds + 3):
                            start = time.perf_counter()
                            modules[vid](x)
                            if i >= 3:
                                times[(vid, cfg)].append((time.perf_counter() - start) * 1000.0)
    finally:
        torch.set_num_threads(threads_before)
    rows = []
    for vid in variants:
        module = modules[vid]
        n_params = sum(p.numel() for p in module.parameters())
        model_bytes = max(1, sum(p.numel() * p.element_size() for p in module.parameters()))
        branch, _, compression = vid.partition("|")
        if vid in accuracies:
            accuracy, acc_note = accuracies[vid], "accuracy: recorded test accuracy of the supernet bundle"
        else:
            accuracy = _PLACEHOLDER_ACC[branch] - _WIDTH_PENALTY.get(compression, 0.0)
            acc_note = "accuracy: placeholder, NOT measured (bridge smoke tests only)"
        row = {"variant_id": vid, "branch": branch, "compression": compression, "accuracy": accuracy,
               "params": n_params, "flops": 0, "model_bytes": model_bytes,
               "mem_mb": round(model_bytes / 1e6 + 1.0, 6),
               "provenance": f"latency: measured on this machine by adascale_rl.hardware_bridge.testing (median "
                             f"of {runs} interleaved runs; modules: {provider.weights}); {acc_note}; "
                             "energy: modelled (local.toml); flops: not computed; bridge smoke tests only"}
        for cfg in configs:
            values = np.asarray(times[(vid, cfg)])
            median = float(np.median(values))
            row[f"lat_ms@{cfg}"] = round(median, 6)
            row[f"lat_sd_ms@{cfg}"] = round(float(1.4826 * np.median(np.abs(values - median))), 6)
            row[f"energy_mj@{cfg}"] = round(profile.energy_per_inference_mj(cfg, median), 6)
        rows.append(row)
    import pandas as pd

    from adascale_rl.catalog import VariantTable

    VariantTable.from_frame(pd.DataFrame(rows), "local", csv_path).save(csv_path)
    toml_path.write_text(
        'name = "quick_local"\n'
        'description = "bridge smoke tests: this machine, untrained supernet variants timed quickly, '
        'placeholder accuracies"\n'
        'device = "local"\ncatalog = "quick_local.csv"\ntrain_split = "train"\ntest_split = "test"\n'
        f"epoch_s = 1.0\nepisode_epochs = 64\nrequest_rate_hz = {request_rate_hz}\n"
        f"latency_budget_ms = {latency_budget_ms}\nqueue_limit = 8\nmem_reserve_mb = 512.0\n\n"
        "[reward]\naccuracy = 1.0\nlatency = 1.0\nenergy = 0.1\nswitch = 0.01\nfailure = 1.0\n"
        "energy_ref_mj = 5.0\n", encoding="utf-8")
    return toml_path


def _bundle_accuracies() -> dict[str, float]:
    try:
        from adascale_rl.supernet.bundle import load_bundle

        return {key: float(value) for key, value in load_bundle().accuracies.items()}
    except (ImportError, FileNotFoundError, ValueError):
        return {}


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


def load_quick_local(out_dir: str | Path) -> Scenario:
    """The quick scenario written by :func:`quick_local_scenario` (measured if missing)."""
    return get_scenario(quick_local_scenario(out_dir))
