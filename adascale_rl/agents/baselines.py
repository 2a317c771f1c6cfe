"""Non-learning controllers: static (one fixed variant), greedy (the profile-based AdaScale loop) and
random. Each decides from the observation and mask alone, so it runs unchanged on a real device."""

from __future__ import annotations

import numpy as np

from adascale_rl.envs.contract import TEMP_LOW_C, TEMP_SPAN_C, DecisionContract
from adascale_rl.sim.latency_model import (
    MIN_FREQ_FRAC,
    choose_config,
    condition_factor,
    config_core_counts,
    placement_share_factors,
    service_ms,
    serving_overhead,
)
from adascale_rl.sim.placement import place_background


class StaticController:
    """Always the same action (the smallest allowed variant when that action is masked)."""

    def __init__(self, contract: DecisionContract, action: int, name: str = "static") -> None:
        contract.action_to_variant(action)  # validates
        self.contract = contract
        self.action = int(action)
        self.name = name

    def decide(self, observation: np.ndarray, action_mask: np.ndarray) -> int:
        return self.action if action_mask[self.action] else self.contract.safe_action(action_mask)

    def reset(self) -> None:
        """Stateless."""


def most_accurate_action(contract: DecisionContract) -> int:
    """The action of the most accurate variant (``static-full``); the faster one wins a tie."""
    table = contract.table
    order = np.lexsort((table.latency_ms.min(axis=1), -table.accuracy))
    return int(contract.variant_action[order[0]])


class GreedyController:
    """Profile-based rule: predict every variant's latency from the catalog and the current reading,
    take the most accurate variant predicted to meet the budget; among variants within ``tie_tol`` of
    that accuracy take the one with the least predicted energy. If none meets the budget, the fastest.

    The reading is decoded from the observation (frequency, background load, temperature), and the
    prediction uses the simulator's own latency model (:mod:`adascale_rl.sim.latency_model`): this is
    the non-learning AdaScale loop, an upper bound on what a profile-driven rule can do with a perfect
    latency model but no foresight of queueing.
    """

    name = "greedy"

    def __init__(self, contract: DecisionContract, margin: float = 1.0, tie_tol: float = 0.005) -> None:
        self.contract = contract
        scenario = contract.scenario
        self.profile = scenario.profile
        self.table = contract.table
        self.budget_ms = scenario.latency_budget_ms * margin
        self.tie_tol = tie_tol
        self._counts = config_core_counts(self.profile, self.table.configs)
        self._overhead_ms = serving_overhead(self.profile, self.table)[0]
        self._budget_for_config = scenario.latency_budget_ms

    def predict(self, observation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per variant: predicted latency (ms) and energy (mJ) on the configuration the runtime picks now."""
        freq, bg, temp = float(observation[0]), float(observation[1]), float(observation[3])
        temp_c = temp * TEMP_SPAN_C + TEMP_LOW_C if temp > 0 else float("nan")
        share = placement_share_factors(self.profile, self._counts, place_background(self.profile, bg))
        latency = service_ms(self.table.latency_ms, share, condition_factor(freq, temp_c, self.profile.throttle_c),
                             self._overhead_ms)
        power = np.array([self.profile.active_power_w(cfg, max(freq, MIN_FREQ_FRAC)) for cfg in self.table.configs])
        chosen = choose_config(latency, power, self._budget_for_config)
        rows = np.arange(len(self.table))
        return latency[rows, chosen], latency[rows, chosen] * power[chosen]

    def decide(self, observation: np.ndarray, action_mask: np.ndarray) -> int:
        latency, energy = self.predict(observation)
        variants = self.contract.action_variant
        allowed = np.flatnonzero(action_mask & self.contract.exists)
        rows = variants[allowed]
        meets = latency[rows] <= self.budget_ms
        if not meets.any():
            return int(allowed[np.argmin(latency[rows])])
        candidates, rows = allowed[meets], rows[meets]
        accuracy = self.table.accuracy[rows]
        close = accuracy >= accuracy.max() - self.tie_tol
        return int(candidates[close][np.argmin(energy[rows[close]])])

    def reset(self) -> None:
        """Stateless."""


class RandomController:
    """Uniformly random among allowed actions (seeded): the score's zero point."""

    name = "random"

    def __init__(self, contract: DecisionContract, seed: int = 0) -> None:
        self.contract = contract
        self.seed = seed
        self.reset()

    def decide(self, observation: np.ndarray, action_mask: np.ndarray) -> int:
        return int(self.rng.choice(np.flatnonzero(action_mask & self.contract.exists)))

    def reset(self) -> None:
        self.rng = np.random.default_rng(self.seed)
