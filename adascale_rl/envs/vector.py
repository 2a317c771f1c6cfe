"""``AdaScaleVectorEnv``: N simulators stepped in one process, as one Gymnasium vector environment.

Each sub-environment is an :class:`~adascale_rl.envs.AdaScaleEnv` with its own SimPy simulator and its
own random numbers, so sub-environment ``i`` reset with seed ``s + i`` plays exactly what a lone
``AdaScaleEnv`` reset with ``s + i`` plays. What they share is what does not change while they run: the
scenario, the resampled traces (one :class:`~adascale_rl.envs.trace_source.TraceSource`) and the
simulator's per-situation lookups (one :class:`~adascale_rl.sim.situations.SituationTable`, so a device
state met by any of them is computed once for all). Compared with Gymnasium's ``SyncVectorEnv`` it
writes observations, rewards and masks straight into batch arrays and builds no per-key info arrays.

Autoreset is *same-step* (``metadata["autoreset_mode"]``): when a sub-environment's episode ends, the
step returns the first observation of its next episode, with the final observation and info in
``infos["final_obs"]``/``infos["final_info"]`` (and the ``_final_obs``/``_final_info`` masks) — what
stable-baselines3 expects, see :class:`~adascale_rl.agents.vec_env.SB3VecEnv`.

``infos["action_mask"]`` is always present: the (N, n_actions) allowed actions for the returned
observations (also :meth:`action_masks`). With ``full_info`` (default in eval mode) the sub-environments'
step infos are also collected, Gymnasium style (a value array and a ``_key`` mask per key).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from adascale_rl.envs.adascale_env import AdaScaleEnv
from adascale_rl.envs.trace_source import TraceSource
from adascale_rl.scenario import Scenario, get_scenario
from adascale_rl.sim.situations import SituationTable
from adascale_rl.traces import Trace


class AdaScaleVectorEnv(VectorEnv):
    """``num_envs`` AdaScale environments stepped together (see module docstring).

    Arguments as :class:`~adascale_rl.envs.AdaScaleEnv` (``scenario``, ``split``, ``mode``,
    ``episode_epochs``, ``traces``, ``full_info``, ``randomize``), shared by every sub-environment."""

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}  # noqa: RUF012

    def __init__(self, num_envs: int, scenario: str | Scenario = "pixel4", *, split: str | None = None,
                 mode: str = "train", episode_epochs: int | None = None, traces: list[Trace] | None = None,
                 full_info: bool | None = None, randomize: bool | None = None) -> None:
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs!r}")
        scenario = scenario if isinstance(scenario, Scenario) else get_scenario(scenario)
        first = AdaScaleEnv(scenario, split=split, mode=mode, episode_epochs=episode_epochs, traces=traces,
                            full_info=full_info, randomize=randomize)
        shared: dict[str, Any] = {"source": first.source, "situations": first.sim.situations, "randomize": randomize}
        self.envs = [first] + [AdaScaleEnv(scenario, mode=mode, episode_epochs=episode_epochs, full_info=full_info,
                                           **shared) for _ in range(int(num_envs) - 1)]
        self.num_envs = len(self.envs)
        self.scenario = scenario
        self.full_info = first.full_info
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(first.observation_space, self.num_envs)
        self.action_space = batch_space(first.action_space, self.num_envs)
        self._observations = np.zeros((self.num_envs, first.contract.n_obs), dtype=np.float32)
        self._masks = np.zeros((self.num_envs, first.contract.n_actions), dtype=bool)
        self._all = np.ones(self.num_envs, dtype=bool)
        self.reset_infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]  # last reset's, per env
        self._infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]  # last step's, per env

    @property
    def source(self) -> TraceSource:
        """The traces every sub-environment plays (shared)."""
        return self.envs[0].source

    @property
    def situations(self) -> SituationTable:
        """The simulators' shared per-situation memo."""
        return self.envs[0].sim.situations

    def reset(self, *, seed: int | list[int | None] | None = None,
              options: dict[str, Any] | list[dict[str, Any] | None] | None = None):
        """Reset every sub-environment: ``seed`` ``s`` seeds sub-environment ``i`` with ``s + i`` (a list
        gives one seed each); ``options`` go to every sub-environment (a list: one dict each)."""
        seeds = self._per_env(seed, "seeds") if isinstance(seed, list | tuple) else self._seeds(seed)
        per_env_options = (self._per_env(options, "options") if isinstance(options, list | tuple)
                           else [options] * self.num_envs)
        infos: dict[str, Any] = {}
        for i, (env, env_seed, env_options) in enumerate(zip(self.envs, seeds, per_env_options, strict=True)):
            self._observations[i], info = env.reset(seed=env_seed, options=env_options or None)
            self._masks[i] = info.pop("action_mask")
            self.reset_infos[i] = dict(info)
            if self.full_info:
                infos = self._add_info(infos, info, i)
        infos["action_mask"] = self._masks.copy()
        infos["_action_mask"] = self._all.copy()
        return self._observations.copy(), infos

    def step(self, actions):
        """Step every sub-environment with its action; same-step autoreset (see module docstring)."""
        rewards, terminations, truncations, finished = self.step_envs(actions)
        infos: dict[str, Any] = {}
        for i, (final_obs, final_info) in finished.items():
            infos = self._add_info(infos, {"final_obs": final_obs, "final_info": final_info}, i)
        if self.full_info:
            for i, info in enumerate(self._infos):
                infos = self._add_info(infos, info, i)
        infos["action_mask"] = self._masks.copy()
        infos["_action_mask"] = self._all.copy()
        return (self._observations.copy(), np.array(rewards), np.array(terminations), np.array(truncations),
                infos)

    def step_envs(self, actions) -> tuple[list[float], list[bool], list[bool], dict[int, tuple[np.ndarray, dict]]]:
        """Step every sub-environment and reset those whose episode ended — the one stepping loop behind
        :meth:`step` and the SB3 adapter. The new observations and masks are left in
        :attr:`observations` and :attr:`masks` (overwritten by the next call); returns the rewards,
        terminated and truncated flags, and ``{index: (final observation, final info)}`` of the
        sub-environments that were reset."""
        actions = actions.tolist() if isinstance(actions, np.ndarray) else list(actions)
        if len(actions) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} actions, got {len(actions)}")
        observations, masks, infos = self._observations, self._masks, self._infos
        rewards, terminations, truncations = [], [], []
        finished: dict[int, tuple[np.ndarray, dict]] = {}
        for i, (env, action) in enumerate(zip(self.envs, actions, strict=True)):
            observation, reward, terminated, truncated, info = env.step(action)
            rewards.append(reward)
            terminations.append(terminated)
            truncations.append(truncated)
            if terminated or truncated:
                finished[i] = (observation, info)
                observation, info = env.reset()
                self.reset_infos[i] = {key: value for key, value in info.items() if key != "action_mask"}
            observations[i] = observation
            masks[i] = info.pop("action_mask")
            infos[i] = info
        return rewards, terminations, truncations, finished

    @property
    def observations(self) -> np.ndarray:
        """(num_envs, n_obs) the last observations (a buffer the next step overwrites)."""
        return self._observations

    @property
    def masks(self) -> np.ndarray:
        """(num_envs, n_actions) their allowed actions (a buffer the next step overwrites)."""
        return self._masks

    def action_masks(self) -> np.ndarray:
        """(num_envs, n_actions) allowed actions for the current observations."""
        return self._masks.copy()

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call a method (or read an attribute) of every sub-environment, like ``SyncVectorEnv.call``."""
        results = []
        for env in self.envs:
            attribute = getattr(env, name)
            results.append(attribute(*args, **kwargs) if callable(attribute) else attribute)
        return tuple(results)

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """An attribute of every sub-environment."""
        return tuple(getattr(env, name) for env in self.envs)

    def close_extras(self, **kwargs: Any) -> None:
        for env in getattr(self, "envs", ()):  # gymnasium's __del__ closes even when __init__ failed
            env.close()

    def _seeds(self, seed: int | None) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        return [int(seed) + i for i in range(self.num_envs)]

    def _per_env(self, values: list | tuple, what: str) -> list:
        if len(values) != self.num_envs:
            raise ValueError(f"got {len(values)} {what} for {self.num_envs} environments")
        return list(values)

