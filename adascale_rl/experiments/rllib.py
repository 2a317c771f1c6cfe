"""The AdaScale environment for RLlib users: ``register_rllib_env()`` registers it with Ray's registry.

RLlib builds environments from a creator registered under a name (``ray.tune.registry.register_env``);
the creator here receives RLlib's ``env_config`` (an ``EnvContext`` dict) and passes it on as
:class:`~adascale_rl.envs.adascale_env.AdaScaleEnv` keyword arguments, so
``env_config={"scenario": "pixel4"}`` selects the scenario. RLlib's PPO does not read
``action_masks()``: every action of the bundled scenarios' grids is a real variant, and a variant that
does not fit memory is allowed but penalised by the env, so the policy learns to avoid it.
``examples/rllib_ppo.py`` trains RLlib PPO for a few iterations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adascale_rl import ENV_ID
from adascale_rl.envs.adascale_env import AdaScaleEnv
from adascale_rl.experiments.backends import import_ray


def make_env(config: Mapping[str, Any]) -> AdaScaleEnv:
    """RLlib env creator: ``env_config`` keys are ``AdaScaleEnv`` arguments (``scenario``, ``mode`` …)."""
    return AdaScaleEnv(**dict(config))


def register_rllib_env(name: str = ENV_ID) -> str:
    """Register the env with Ray under ``name`` (default ``adascale_rl/AdaScale-v0``); returns the name."""
    import_ray()
    from ray.tune.registry import register_env

    register_env(name, make_env)
    return name
