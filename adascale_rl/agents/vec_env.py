"""stable-baselines3 vectorised environments for AdaScale training, with action masks at no extra cost.

sb3-contrib's ``MaskablePPO`` asks the vectorised env for masks every step through
``env_method("action_masks")``; with SB3's ``DummyVecEnv`` that is a Python call per sub-environment,
with ``SubprocVecEnv`` a pipe round trip per worker. Both envs here answer it from masks they already
have (the env puts each observation's mask in its info):

- :class:`SB3VecEnv` — a thin ``VecEnv`` over the batched :class:`~adascale_rl.envs.AdaScaleVectorEnv`
  (N simulators in this process, sharing traces and simulator lookups). It turns the vector env's
  same-step autoreset into SB3's format — ``terminal_observation`` and ``TimeLimit.truncated`` in the
  info, float32 rewards — and keeps ``Monitor``'s episode record (``info["episode"]`` with ``r`` =
  ``round(sum(rewards), 6)``, ``l``, ``t``), without a wrapper call, an info deep copy or a mask query
  per sub-environment per step. Step infos hold only those SB3 keys.
- :class:`MaskedSubprocVecEnv` — SB3's ``SubprocVecEnv`` (one process per sub-environment, each wrapped
  in ``Monitor`` by :func:`make_env_fns`), with masks taken from the step infos and rewards as float32
  like ``DummyVecEnv`` (plain ``SubprocVecEnv`` returns float64 rewards, which changes how PPO adds the
  bootstrapped value of a truncated episode in the last bits).

With the same seed, both produce exactly the observations, rewards, dones and infos PPO reads from
``make_vec_env(AdaScaleEnv, ...)``, so training is the same run (tested).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import SubprocVecEnv, VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvStepReturn

from adascale_rl.envs.adascale_env import AdaScaleEnv
from adascale_rl.envs.vector import AdaScaleVectorEnv

MASK_METHOD = "action_masks"


class SB3VecEnv(VecEnv):
    """SB3 ``VecEnv`` over a batched :class:`AdaScaleVectorEnv` (see module docstring)."""

    def __init__(self, venv: AdaScaleVectorEnv) -> None:
        self.venv = venv
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._actions: np.ndarray | None = None
        self._masks = venv.action_masks()
        self._episode_rewards: list[list[float]] = [[] for _ in range(venv.num_envs)]  # as Monitor keeps them
        self._t_start = time.time()

    # -- VecEnv API ------------------------------------------------------------------------------------
    def reset(self) -> np.ndarray:
        """Reset every sub-environment with the seeds and options set by ``seed``/``set_options``
        (used once, as SB3 does)."""
        observations, infos = self.venv.reset(seed=list(self._seeds), options=[dict(o) for o in self._options])
        self._masks = infos["action_mask"]
        self.reset_infos = [dict(info) for info in self.venv.reset_infos]
        self._episode_rewards = [[] for _ in range(self.num_envs)]
        self._reset_seeds()
        self._reset_options()
        return observations

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        rewards, terminations, truncations, finished = self.venv.step_envs(self._actions)
        self._masks = self.venv.masks.copy()
        infos: list[dict[str, Any]] = []
        for i, (reward, terminated, truncated) in enumerate(zip(rewards, terminations, truncations, strict=True)):
            episode = self._episode_rewards[i]
            episode.append(float(reward))
            info: dict[str, Any] = {"TimeLimit.truncated": truncated and not terminated}
            if i in finished:
                info["episode"] = {"r": round(sum(episode), 6), "l": len(episode),
                                   "t": round(time.time() - self._t_start, 6)}  # what Monitor records
                info["terminal_observation"] = finished[i][0]
                self.reset_infos[i] = dict(self.venv.reset_infos[i])
                self._episode_rewards[i] = []
            infos.append(info)
        dones = np.array([i in finished for i in range(self.num_envs)])
        return self.venv.observations.copy(), np.array(rewards, dtype=np.float32), dones, infos

    def action_masks(self) -> np.ndarray:
        """(num_envs, n_actions) allowed actions for the last observations."""
        return self._masks.copy()

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self.venv.envs[i], attr_name) for i in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        for i in self._get_indices(indices):
            setattr(self.venv.envs[i], attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        """Call a sub-environment method; ``action_masks`` is answered from the masks already held."""
        if method_name == MASK_METHOD and not method_args and not method_kwargs:
            # MaskablePPO asks every step for all of them and stacks them back into (n, n_actions)
            return list(self._masks if indices is None else self._masks[list(self._get_indices(indices))])
        return [getattr(self.venv.envs[i], method_name)(*method_args, **method_kwargs)
                for i in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        """True for ``Monitor``: this env records episodes exactly as ``Monitor`` does (so SB3's
        evaluation reads ``info["episode"]`` here as it would from ``make_vec_env``); False otherwise."""
        return [wrapper_class is Monitor for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [env.render() for env in self.venv.envs]



class MaskedSubprocVecEnv(SubprocVecEnv):
    """SB3's ``SubprocVecEnv`` with masks from the infos and float32 rewards (see module docstring)."""

    def __init__(self, env_fns: list[Callable[[], Any]], start_method: str | None = None) -> None:
        super().__init__(env_fns, start_method=start_method)
        self._masks: np.ndarray | None = None

    def reset(self) -> np.ndarray:
        observations = super().reset()
        self._masks = np.stack([info["action_mask"] for info in self.reset_infos])
        return observations

    def step_wait(self) -> VecEnvStepReturn:
        observations, rewards, dones, infos = super().step_wait()
        self._masks = np.stack([reset_info["action_mask"] if done else info["action_mask"]
                                for done, info, reset_info in zip(dones, infos, self.reset_infos, strict=True)])
        return observations, rewards.astype(np.float32), dones, infos

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        """``action_masks`` from the masks of the last step; anything else goes to the workers."""
        if method_name == MASK_METHOD and not method_args and not method_kwargs and self._masks is not None:
            return list(self._masks[list(self._get_indices(indices))])
        return super().env_method(method_name, *method_args, indices=indices, **method_kwargs)


def make_env_fns(n_envs: int, **env_kwargs: Any) -> list[Callable[[], Monitor]]:
    """Factories of ``Monitor``-wrapped :class:`AdaScaleEnv` (what ``make_vec_env`` builds per worker)."""

    def factory() -> Monitor:
        return Monitor(AdaScaleEnv(**env_kwargs))

    return [factory for _ in range(n_envs)]


VEC_ENV_KINDS = ("batched", "subproc", "dummy")


def make_training_vec_env(kind: str, n_envs: int, seed: int, **env_kwargs: Any) -> VecEnv:
    """A seeded SB3 vectorised env of ``n_envs`` AdaScale environments.

    ``kind``: ``batched`` (:class:`SB3VecEnv`, one process), ``subproc`` (:class:`MaskedSubprocVecEnv`,
    a process per sub-environment) or ``dummy`` (SB3's own ``make_vec_env`` with ``DummyVecEnv`` and
    ``Monitor``, the reference the others reproduce)."""
    if kind == "batched":
        vec: VecEnv = SB3VecEnv(AdaScaleVectorEnv(n_envs, **env_kwargs))
    elif kind == "subproc":
        vec = MaskedSubprocVecEnv(make_env_fns(n_envs, **env_kwargs))
    elif kind == "dummy":
        from stable_baselines3.common.env_util import make_vec_env

        return make_vec_env(AdaScaleEnv, n_envs=n_envs, seed=seed, env_kwargs=env_kwargs)
    else:
        raise ValueError(f"vec_env must be one of {', '.join(VEC_ENV_KINDS)}, got {kind!r}")
    vec.seed(seed)
    return vec
