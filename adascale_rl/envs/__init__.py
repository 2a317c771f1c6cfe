"""Gymnasium environment(s) and the decision contract shared with the hardware bridge.

``adascale_rl/AdaScale-v0`` is registered when ``adascale_rl`` is imported; keyword ``scenario``
selects the scenario (default ``pixel4``)."""

from adascale_rl import ENV_ID
from adascale_rl.envs.adascale_env import AdaScaleEnv
from adascale_rl.envs.contract import DecisionContract, Reading
from adascale_rl.envs.vector import AdaScaleVectorEnv

__all__ = ["ENV_ID", "AdaScaleEnv", "AdaScaleVectorEnv", "DecisionContract", "Reading"]
