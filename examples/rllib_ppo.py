"""Train RLlib's PPO on the AdaScale environment for a few iterations (needs `pip install adascale-rl[ray]`).

    python examples/rllib_ppo.py --iterations 3

RLlib finds the env by the name ``register_rllib_env`` registers; ``env_config`` is passed to
``AdaScaleEnv`` (here: the pixel4 scenario, 300-epoch training episodes from its train traces).
"""

from __future__ import annotations

import argparse

import ray
from ray.rllib.algorithms.ppo import PPOConfig

from adascale_rl.experiments.rllib import register_rllib_env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--scenario", default="pixel4")
    args = parser.parse_args()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    config = (
        PPOConfig()
        .environment(register_rllib_env(), env_config={"scenario": args.scenario})
        .env_runners(num_env_runners=0)  # sample in the driver: enough for a 2-core machine
        .training(train_batch_size_per_learner=600, minibatch_size=150, num_epochs=4, lr=1e-3, gamma=0.9)
    )
    algo = config.build_algo()
    for iteration in range(1, args.iterations + 1):
        result = algo.train()
        runners = result["env_runners"]
        print(f"iteration {iteration}: {runners['num_env_steps_sampled_lifetime']} env steps, "
              f"mean episode return {runners.get('episode_return_mean', float('nan')):.2f}")
    algo.stop()
    ray.shutdown()


if __name__ == "__main__":
    main()
