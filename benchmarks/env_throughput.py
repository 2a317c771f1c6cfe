"""Environment throughput and PPO training speed on the default scenario, side by side with CartPole.

Measures, in one process pinned to one thread:
1. ``AdaScaleEnv`` steps/s with a fixed action and with random allowed actions (goal ≥ 10,000);
2. MaskablePPO training steps/s on ``AdaScaleEnv`` vs on ``CartPole-v1`` with the same hyperparameters,
   interleaved in rounds so machine noise hits both alike (goal: ratio ≥ 0.8).

Usage: ``python benchmarks/env_throughput.py [--steps 20000] [--ppo-steps 8192] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import gymnasium as gym
import numpy as np
import torch

from adascale_rl.envs import AdaScaleEnv


def env_steps_per_s(env: AdaScaleEnv, steps: int, random_actions: bool, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    allowed = np.flatnonzero(env.contract.exists)
    fixed = env.contract.fallback_action
    env.reset(seed=seed)
    started = time.perf_counter()
    for _ in range(steps):
        action = int(rng.choice(allowed)) if random_actions else fixed
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - started)


def ppo_fps(make_env, steps: int, seed: int = 0) -> float:
    from sb3_contrib import MaskablePPO

    model = MaskablePPO("MlpPolicy", make_env(), n_steps=1024, batch_size=256, n_epochs=10, seed=seed, verbose=0,
                        policy_kwargs={"net_arch": [64, 64]})
    started = time.perf_counter()
    model.learn(steps)
    return steps / (time.perf_counter() - started)


def make_cartpole() -> gym.Env:
    """CartPole with an all-true mask, so MaskablePPO does the same masking work on both envs."""
    from sb3_contrib.common.wrappers import ActionMasker

    return ActionMasker(gym.make("CartPole-v1"), lambda env: np.ones(2, dtype=bool))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--ppo-steps", type=int, default=8192)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    env = AdaScaleEnv("pixel4")
    fixed = [env_steps_per_s(env, args.steps, False) for _ in range(args.rounds)]
    randomised = [env_steps_per_s(env, args.steps, True) for _ in range(args.rounds)]
    ours, cartpole = [], []
    for _ in range(args.rounds):
        ours.append(ppo_fps(lambda: AdaScaleEnv("pixel4"), args.ppo_steps))
        cartpole.append(ppo_fps(make_cartpole, args.ppo_steps))
    result = {
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()} "
                   f"torch {torch.__version__} (1 thread)".strip(),
        "date": time.strftime("%Y-%m-%d"),
        "env_steps_per_s_fixed_action": round(float(np.median(fixed)), 1),
        "env_steps_per_s_random_actions": round(float(np.median(randomised)), 1),
        "ppo_fps_adascale": round(float(np.median(ours)), 1),
        "ppo_fps_cartpole": round(float(np.median(cartpole)), 1),
        "ppo_fps_ratio": round(float(np.median(np.array(ours) / np.array(cartpole))), 3),
        "rounds": args.rounds,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
