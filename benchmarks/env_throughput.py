"""Environment throughput, PPO training speed and memory on the default scenario, side by side with CartPole.

Measured in one run (one process, one torch thread; memory in fresh subprocesses):

1. steps/s of ``AdaScaleEnv`` (pixel4) and of ``CartPole-v1`` with the same loop: a fixed action on the
   unwrapped env, and random allowed actions (``rng.choice`` over the allowed actions — ours from the
   step info's ``action_mask``, CartPole's both actions) on the unwrapped env and through ``gym.make``;
   plus the batched ``AdaScaleVectorEnv`` (8 simulators) per simulated epoch. Rounds interleave the envs.
2. MaskablePPO training fps on AdaScale vs CartPole with the same hyperparameters (``n_steps`` 1024 per
   env, batch 256, 10 epochs, 64-64 MLP), interleaved round by round: AdaScale through
   :class:`~adascale_rl.agents.vec_env.SB3VecEnv` (what ``train()`` uses) and through SB3's default
   wrapping (``DummyVecEnv`` + ``Monitor``, masks through ``env_method``); CartPole through SB3's default
   wrapping with an all-true ``ActionMasker``; and a zero-cost env of AdaScale's shapes (44 observations,
   32 actions), which bounds the ratio any AdaScale env could reach with these hyperparameters.
3. resident memory (RSS) after 20,000 steps of one env, of 8 batched envs and of 8 separate envs (what
   SB3's ``make_vec_env`` builds), each in a fresh process, and over that process once it had imported
   the modules and loaded the train traces.

Usage: ``python benchmarks/env_throughput.py [--steps 20000] [--ppo-steps 8192] [--rounds 3] [--n-envs 1]
[--baseline-src DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import gymnasium as gym
import numpy as np
import torch

import adascale_rl
from adascale_rl.envs import AdaScaleEnv  # only this at import: the baseline probe imports this module too

if TYPE_CHECKING:
    from adascale_rl.envs import AdaScaleVectorEnv

MEMORY_PROBE = """
import json, sys, psutil
from adascale_rl.envs import AdaScaleEnv
from adascale_rl.scenario import get_scenario
from adascale_rl.traces import load_split
scenario = get_scenario("pixel4")
traces = load_split(scenario.train_split)  # as train() passes them: each env resamples its own unless shared
process = psutil.Process()
base = process.memory_info().rss
kind, steps = sys.argv[1], 20_000
if kind == "vector8":
    from adascale_rl.envs import AdaScaleVectorEnv

    envs = AdaScaleVectorEnv(8, scenario, traces=traces)
    envs.reset(seed=0)
    for _ in range(steps // 8):
        envs.step(envs.action_masks().argmax(axis=1))
else:
    singles = [AdaScaleEnv(scenario, traces=traces) for _ in range(1 if kind == "single" else 8)]
    for env in singles:
        env.reset(seed=0)
        for _ in range(steps // len(singles)):
            _, _, _, truncated, _ = env.step(env.contract.fallback_action)
            if truncated:
                env.reset()
print(json.dumps({"base_mb": base / 2**20, "rss_mb": process.memory_info().rss / 2**20}))
"""


def steps_per_s(env: gym.Env, steps: int, policy: str, seed: int = 0) -> tuple[float, float]:
    """(wall, CPU) steps/s with ``policy`` ``fixed`` (action 0 of the allowed ones at reset, kept) or ``random``
    (``rng.choice`` over the allowed actions every step; all actions when the env gives no mask)."""
    rng = np.random.default_rng(seed)
    _, info = env.reset(seed=seed)
    everything = np.arange(env.action_space.n)
    fixed = int(np.flatnonzero(info["action_mask"])[0]) if "action_mask" in info else 0
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        if policy == "fixed":
            action = fixed
        else:
            mask = info.get("action_mask")
            action = int(rng.choice(everything if mask is None else np.flatnonzero(mask)))
        _, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            _, info = env.reset()
    return steps / (time.perf_counter() - started), steps / (time.process_time() - cpu)


def vector_steps_per_s(envs: AdaScaleVectorEnv, steps: int, seed: int = 0) -> tuple[float, float]:
    """(wall, CPU) simulated epochs/s of the batched env with random allowed actions."""
    rng = np.random.default_rng(seed)
    _, infos = envs.reset(seed=seed)
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps // envs.num_envs):
        masks = infos["action_mask"]
        actions = np.array([rng.choice(np.flatnonzero(row)) for row in masks])
        _, _, _, _, infos = envs.step(actions)
    done = (steps // envs.num_envs) * envs.num_envs
    return done / (time.perf_counter() - started), done / (time.process_time() - cpu)


def ppo_fps(make_env: Callable, steps: int, n_envs: int, seed: int = 0) -> tuple[float, float]:
    """Training steps per wall second and per CPU second of this process."""
    from sb3_contrib import MaskablePPO

    model = MaskablePPO("MlpPolicy", make_env(n_envs), n_steps=1024, batch_size=256, n_epochs=10, seed=seed,
                        verbose=0, policy_kwargs={"net_arch": [64, 64]})
    started, cpu = time.perf_counter(), time.process_time()
    model.learn(steps)
    return steps / (time.perf_counter() - started), steps / (time.process_time() - cpu)


def make_cartpole(n_envs: int):
    """CartPole with an all-true mask, so MaskablePPO does the same masking work on both envs."""
    from sb3_contrib.common.wrappers import ActionMasker
    from stable_baselines3.common.env_util import make_vec_env

    return make_vec_env(lambda: ActionMasker(gym.make("CartPole-v1"), lambda env: np.ones(2, dtype=bool)),
                        n_envs=n_envs)


class NullEnv(gym.Env):
    """An env of AdaScale's shapes (44 observations, 32 actions, all allowed) that costs nothing to step:
    PPO on it measures what the policy's size alone costs relative to CartPole's 4 inputs and 2 actions."""

    def __init__(self) -> None:
        contract = AdaScaleEnv("pixel4").contract
        self.observation_space, self.action_space = contract.observation_space, contract.action_space
        self._obs = np.full(contract.n_obs, 0.5, dtype=np.float32)
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self._obs, {}

    def step(self, action):
        self._t += 1
        return self._obs, 0.5, False, self._t >= 256, {}


def make_null(n_envs: int):
    from sb3_contrib.common.wrappers import ActionMasker
    from stable_baselines3.common.env_util import make_vec_env

    n_actions = AdaScaleEnv("pixel4").contract.n_actions
    return make_vec_env(lambda: ActionMasker(NullEnv(), lambda env: np.ones(n_actions, dtype=bool)), n_envs=n_envs)


def make_adascale_batched(n_envs: int):
    from adascale_rl.agents.vec_env import SB3VecEnv
    from adascale_rl.envs import AdaScaleVectorEnv

    return SB3VecEnv(AdaScaleVectorEnv(n_envs, "pixel4"))


def make_adascale_sb3_default(n_envs: int):
    from stable_baselines3.common.env_util import make_vec_env

    return make_vec_env(AdaScaleEnv, n_envs=n_envs, env_kwargs={"scenario": "pixel4"})


def memory(kind: str, pythonpath: str | None = None) -> dict:
    """RSS of :data:`MEMORY_PROBE` in a fresh process (``pythonpath``: another checkout's code first)."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, kind], check=True, capture_output=True, text=True,
                         env=env, cwd=tempfile.gettempdir())
    return json.loads(out.stdout)


CLOCKS = ("wall", "cpu")  # per wall second, and per CPU second of this process (less hit by other load)


BASELINE_PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from env_throughput import steps_per_s
from adascale_rl.envs import AdaScaleEnv
env = AdaScaleEnv("pixel4")
print(json.dumps({policy: steps_per_s(env, int(sys.argv[2]), policy) for policy in ("fixed", "random")}))
"""


def versus_baseline(baseline_src: str, steps: int, rounds: int) -> dict:
    """AdaScaleEnv steps/s (unwrapped, fixed and random actions) of the baseline's code and of this
    checkout's, each in a fresh process, alternating; medians and the speed-up per clock."""
    runs: dict[str, list[dict]] = {"baseline": [], "new": []}
    for index in range(rounds):
        order = [("baseline", baseline_src), ("new", None)]
        for name, path in order if index % 2 == 0 else order[::-1]:
            env = dict(os.environ)
            if path is not None:
                env["PYTHONPATH"] = path
            out = subprocess.run([sys.executable, "-c", BASELINE_PROBE, os.path.dirname(__file__), str(steps)],
                                 check=True, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
            runs[name].append(json.loads(out.stdout))
    summary: dict = {}
    for k, clock in enumerate(CLOCKS):
        for policy in ("fixed", "random"):
            old = median([run[policy][k] for run in runs["baseline"]])
            new = median([run[policy][k] for run in runs["new"]])
            summary[f"{clock}_{policy}"] = {"baseline": old, "new": new, "speedup": round(new / old, 2)}
    return summary


def median(values: list[float]) -> float:
    return round(float(np.median(values)), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--ppo-steps", type=int, default=8192)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n-envs", type=int, default=1, help="environments per PPO run (both envs)")
    parser.add_argument("--baseline-src", default=None,
                        help="folder holding another revision's adascale_rl (e.g. `git archive main adascale_rl`): "
                             "its env steps/s and memory are measured too, in fresh processes alternating with "
                             "this checkout's")
    args = parser.parse_args()
    from adascale_rl.envs import AdaScaleVectorEnv

    torch.set_num_threads(1)
    load_before = os.getloadavg()
    ours = AdaScaleEnv("pixel4")
    ours_made = gym.make(adascale_rl.ENV_ID, scenario="pixel4")
    cartpole_made = gym.make("CartPole-v1")
    vector = AdaScaleVectorEnv(8, "pixel4")
    env_runs: dict[str, list[tuple[float, float]]] = {name: [] for name in (
        "adascale_unwrapped_fixed", "adascale_unwrapped_random", "adascale_make_random", "adascale_vector8_random",
        "cartpole_unwrapped_fixed", "cartpole_unwrapped_random", "cartpole_make_random")}
    for _ in range(args.rounds):
        env_runs["adascale_unwrapped_fixed"].append(steps_per_s(ours, args.steps, "fixed"))
        env_runs["cartpole_unwrapped_fixed"].append(steps_per_s(cartpole_made.unwrapped, args.steps, "fixed"))
        env_runs["adascale_unwrapped_random"].append(steps_per_s(ours, args.steps, "random"))
        env_runs["cartpole_unwrapped_random"].append(steps_per_s(cartpole_made.unwrapped, args.steps, "random"))
        env_runs["adascale_make_random"].append(steps_per_s(ours_made, args.steps, "random"))
        env_runs["cartpole_make_random"].append(steps_per_s(cartpole_made, args.steps, "random"))
        env_runs["adascale_vector8_random"].append(vector_steps_per_s(vector, args.steps))
    ppo_runs: dict[str, list[tuple[float, float]]] = {
        name: [] for name in ("adascale_batched", "adascale_sb3_default", "cartpole", "null_same_shapes")}
    for _ in range(args.rounds):
        ppo_runs["adascale_batched"].append(ppo_fps(make_adascale_batched, args.ppo_steps, args.n_envs))
        ppo_runs["cartpole"].append(ppo_fps(make_cartpole, args.ppo_steps, args.n_envs))
        ppo_runs["adascale_sb3_default"].append(ppo_fps(make_adascale_sb3_default, args.ppo_steps, args.n_envs))
        ppo_runs["null_same_shapes"].append(ppo_fps(make_null, args.ppo_steps, args.n_envs))
    env = {clock: {name: median([run[k] for run in values]) for name, values in env_runs.items()}
           for k, clock in enumerate(CLOCKS)}
    memory_mb = {kind: memory(kind) for kind in ("single", "vector8", "separate8")}
    if args.baseline_src:
        memory_mb.update({f"baseline_{kind}": memory(kind, args.baseline_src) for kind in ("single", "separate8")})
    result = {
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()} "
                   f"torch {torch.__version__} (1 thread)".strip(),
        "date": time.strftime("%Y-%m-%d"),
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "env_steps_per_s": env,
        "env_ratios": {clock: {
            "unwrapped_fixed_vs_cartpole_make_random": round(e["adascale_unwrapped_fixed"]
                                                             / e["cartpole_make_random"], 3),
            "unwrapped_fixed_vs_cartpole_unwrapped_fixed": round(e["adascale_unwrapped_fixed"]
                                                                 / e["cartpole_unwrapped_fixed"], 3),
            "make_random_vs_cartpole_make_random": round(e["adascale_make_random"] / e["cartpole_make_random"], 3),
        } for clock, e in env.items()},
        "ppo_n_envs": args.n_envs,
        "ppo_fps": {clock: {name: median([run[k] for run in values]) for name, values in ppo_runs.items()}
                    for k, clock in enumerate(CLOCKS)},
        "ppo_fps_ratio_vs_cartpole": {clock: {
            name: round(float(np.median([run[k] / cart[k] for run, cart in zip(values, ppo_runs["cartpole"],
                                                                                strict=True)])), 3)
            for name, values in ppo_runs.items() if name != "cartpole"} for k, clock in enumerate(CLOCKS)},
        "memory_mb": {kind: {"rss": round(m["rss_mb"], 1), "over_imports": round(m["rss_mb"] - m["base_mb"], 1)}
                      for kind, m in memory_mb.items()},
        "rounds": args.rounds,
    }
    if args.baseline_src:
        result["vs_baseline"] = versus_baseline(args.baseline_src, args.steps, args.rounds)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
