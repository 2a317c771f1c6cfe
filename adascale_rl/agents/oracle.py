"""The hindsight oracle: the upper bound controller scores are measured against.

What it assumes (and no real controller can have):

- it sees the whole trace segment ahead (every epoch's frequency, background load, memory, heat);
- it sees the requests ahead: the simulator draws each epoch's arrivals and service noise from
  ``(episode seed, epoch)`` (common random numbers), and the oracle gets the episode's seed;
- epochs are independent given the variant: each candidate epoch is simulated from an empty queue
  (requests still queued at an epoch boundary are ignored when planning; with short service times the
  queue is almost always empty there, and the plan is then evaluated in the full simulator like every
  other controller).

Planning: for every epoch ``t`` and allowed action ``a`` the simulator runs epoch ``t`` twice from an
empty queue — once with ``a`` already loaded (``stay``) and once switching into ``a`` (paying the load
and the switch penalty) — and dynamic programming over epochs × actions picks the sequence that
maximises total reward: ``V[t, a] = max(V[t−1, a] + stay[t, a], max_{b≠a} V[t−1, b] + switch[t, a])``.
Cost: 2 × epochs × actions one-epoch simulations.
"""

from __future__ import annotations

import numpy as np

from adascale_rl.envs.adascale_env import AdaScaleEnv
from adascale_rl.sim.simulator import ContentionSim, EpochConditions


def epoch_rewards(env: AdaScaleEnv) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(stay, switch, allowed), each (length, n_actions), for the env's current episode."""
    contract = env.contract
    episode = env.episode
    sim = ContentionSim(env.scenario.profile, env.scenario.table, env.sim.config)
    actions = np.flatnonzero(contract.exists)
    stay = np.full((episode.length, contract.n_actions), -np.inf)
    switch = np.full_like(stay, -np.inf)
    allowed = np.zeros_like(stay, dtype=bool)
    for t in range(episode.length):
        index = episode.start + t
        conditions = EpochConditions.from_trace(episode.trace, index)
        allowed[t] = env.contract.action_mask(env.reading(index))
        for action in actions[allowed[t][actions]]:
            variant = contract.action_to_variant(action)
            sim.reset(episode.sim_seed, variant, start_epoch=t)
            stay[t, action] = contract.reward(sim.step(variant, conditions))
            other = contract.action_to_variant(actions[0] if action != actions[0] else actions[-1])
            sim.reset(episode.sim_seed, other, start_epoch=t)
            switch[t, action] = contract.reward(sim.step(variant, conditions))
    return stay, switch, allowed


def best_plan(stay: np.ndarray, switch: np.ndarray, initial_action: int) -> tuple[list[int], float]:
    """Dynamic programming over epochs × actions; returns the action sequence and its planned reward."""
    length, n_actions = stay.shape
    value = np.full(n_actions, -np.inf)
    value[initial_action] = 0.0
    came_from = np.zeros((length, n_actions), dtype=np.int64)
    columns = np.arange(n_actions)
    for t in range(length):
        order = np.argsort(value)[::-1]
        best, second = order[0], order[1] if n_actions > 1 else order[0]
        best_other = np.where(columns == best, second, best)  # argmax over b != a
        keep = value + stay[t]
        move = value[best_other] + switch[t]
        came_from[t] = np.where(keep >= move, columns, best_other)
        value = np.maximum(keep, move)
    plan = [int(np.argmax(value))]
    for t in range(length - 1, 0, -1):
        plan.append(int(came_from[t, plan[-1]]))
    plan.reverse()
    return plan, float(np.max(value))


class OracleController:
    """Plays the hindsight-optimal plan of the env's current episode (call :meth:`plan` after reset)."""

    name = "oracle"

    def __init__(self) -> None:
        self._plan: list[int] = []
        self._t = 0
        self.planned_reward = float("nan")

    def plan(self, env: AdaScaleEnv) -> None:
        """Compute the plan for the episode ``env`` has just been reset to."""
        stay, switch, _ = epoch_rewards(env)
        self._plan, self.planned_reward = best_plan(stay, switch, env.contract.fallback_action)
        self._t = 0

    def decide(self, observation: np.ndarray, action_mask: np.ndarray) -> int:
        if self._t >= len(self._plan):
            raise RuntimeError("the oracle has no plan for this epoch: call plan(env) after every reset")
        action = self._plan[self._t]
        self._t += 1
        return action

    def reset(self) -> None:
        self._t = 0
