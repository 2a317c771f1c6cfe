"""A long loop of ``AdaScaleEnv.step`` with random valid actions, for a profiler to attach to.

The flame graphs in docs/ were recorded with (after the loop had warmed up)::

    python benchmarks/env_step_loop.py 400000 & sleep 6
    py-spy record -r 1000 --duration 15 --pid $! -o docs/flame_env_step.svg

(``flame_env_step_main.svg``: the same with main's ``adascale_rl`` first on ``PYTHONPATH``, run from outside
the checkout.) Prints steps/s when it finishes.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from adascale_rl.envs import AdaScaleEnv


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    env = AdaScaleEnv("pixel4")
    actions = np.flatnonzero(env.contract.exists)[np.random.default_rng(0).integers(env.contract.exists.sum(),
                                                                                     size=steps)].tolist()
    env.reset(seed=0)
    started = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    print(f"{steps / (time.perf_counter() - started):.0f} steps/s")


if __name__ == "__main__":
    main()
