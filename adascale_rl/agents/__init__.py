"""Controllers: the ``Controller`` protocol, PPO training, baselines, the hindsight oracle, evaluation."""

from adascale_rl.agents.controller import Controller

__all__ = ["Controller"]
