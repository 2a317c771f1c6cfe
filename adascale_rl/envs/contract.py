"""The decision contract: ONE implementation of observation, action decoding, masking and reward,
used by the simulator environment and by the hardware bridge on real devices alike.

Observation (float32, every field normalised to [0, 1] from a fixed physical range — no running
statistics, so an exported policy needs nothing else on a device):

====  ========================  =============================================================  =================
idx   field                     physical quantity → normalisation                              unknown (NaN) as
====  ========================  =============================================================  =================
0     ``cpu_freq_frac``         CPU frequency / max, already in [0, 1]                         1 (nominal)
1     ``cpu_bg_util``           background share of CPU capacity, [0, 1]                       —
2     ``mem_avail_frac``        available RAM share, [0, 1]                                    —
3     ``temp``                  (temp_c − 20 °C) / 80 °C, clipped                              0 (cool)
4     ``battery_frac``          battery charge, [0, 1]                                         1 (mains power)
5     ``last_p95_ratio``        last epoch's p95 latency / budget / 4, clipped                 0 (no epoch yet)
6     ``last_miss_frac``        last epoch's budget-miss fraction, [0, 1]                      0
7     ``last_energy``           last epoch's energy per request / energy_ref_mj / 4, clipped   0
8     ``queue``                 requests waiting at the end of the last epoch / queue_limit    0
9..   ``bg_util_lag1..lagH``    background share in the H previous epochs                      current value
..    ``current_action``        one-hot of the action currently applied (n_actions entries)    —
====  ========================  =============================================================  =================

Action: ``Discrete(n_branches × n_compressions)``; action ``a`` means branch ``a // n_compressions`` and
compression ``a % n_compressions`` (branches and compressions in catalog order). Grid cells with no
variant in the catalog are always masked.

Mask: a variant is allowed when it exists and fits in usable memory
(``mem_avail_frac × ram_mb − mem_reserve_mb``). If nothing fits, the variant with the smallest memory
footprint stays allowed (fail-safe) so the mask is never empty.

Reward per epoch (weights from the scenario's ``[reward]`` table)::

    r = w_acc · accuracy − w_lat · miss_frac − w_energy · (energy per resolved request / energy_ref_mj)
        − w_switch · switched − w_fail · out_of_memory

``accuracy`` is the mean top-1 accuracy over requests resolved in the epoch (dropped and failed
requests count 0), ``miss_frac`` the share resolved past the latency budget, dropped or failed. With
the default weights the reward lies roughly in [−2.5, 1].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from adascale_rl.scenario import Scenario
from adascale_rl.sim.stats import EpochStats

HISTORY = 3
TEMP_LOW_C, TEMP_SPAN_C = 20.0, 80.0
RATIO_SPAN = 4.0

BASE_FIELDS: tuple[tuple[str, str], ...] = (
    ("cpu_freq_frac", "CPU frequency / device max, [0, 1]; NaN -> 1"),
    ("cpu_bg_util", "background share of CPU capacity, [0, 1]"),
    ("mem_avail_frac", "available RAM share, [0, 1]"),
    ("temp", "(temp_c - 20) / 80 clipped to [0, 1]; NaN -> 0"),
    ("battery_frac", "battery charge, [0, 1]; NaN -> 1"),
    ("last_p95_ratio", "last epoch p95 latency / budget / 4, clipped to [0, 1]"),
    ("last_miss_frac", "last epoch budget-miss fraction, [0, 1]"),
    ("last_energy", "last epoch energy per request / energy_ref_mj / 4, clipped to [0, 1]"),
    ("queue", "requests waiting / queue_limit, clipped to [0, 1]"),
)


_ONE_HOT = len(BASE_FIELDS) + HISTORY  # index of the first action one-hot entry
_NO_EPOCH = [0.0, 0.0, 0.0, 0.0]  # last-epoch fields before the first epoch


@dataclass(frozen=True)
class Reading:
    """What the controller reads from the device before deciding (a ResourceSample without time)."""

    cpu_freq_frac: float
    cpu_bg_util: float
    mem_avail_frac: float
    temp_c: float = float("nan")
    battery_frac: float = float("nan")


class DecisionContract:
    """Observation/mask/reward/action mapping for one scenario (see module docstring)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        table = scenario.table
        self.table = table
        self.branches = table.branches
        self.compressions = table.compressions
        n_comp = len(self.compressions)
        self.n_actions = len(self.branches) * n_comp
        branch_index = {b: i for i, b in enumerate(self.branches)}
        comp_index = {c: i for i, c in enumerate(self.compressions)}
        self.action_variant = np.full(self.n_actions, -1, dtype=np.int64)
        self.variant_action = np.empty(len(table), dtype=np.int64)
        for variant, (branch, comp) in enumerate(zip(table.branch, table.compression, strict=True)):
            action = branch_index[branch] * n_comp + comp_index[comp]
            if self.action_variant[action] >= 0:
                raise ValueError(f"catalog {table.device!r} has two variants for branch {branch!r} and "
                                 f"compression {comp!r}: {table.variant_id[self.action_variant[action]]!r} "
                                 f"and {table.variant_id[variant]!r}")
            self.action_variant[action] = variant
            self.variant_action[variant] = action
        self.exists = self.action_variant >= 0
        self._variants: list[int] = self.action_variant.tolist()  # list lookup: the per-step decode
        self._mem_mb = np.where(self.exists, table.mem_mb[np.maximum(self.action_variant, 0)], np.inf)
        self._fallback_action = int(np.argmin(self._mem_mb))
        self.field_names = (*(name for name, _ in BASE_FIELDS),
                            *(f"bg_util_lag{i + 1}" for i in range(HISTORY)),
                            *(f"action_{a}" for a in range(self.n_actions)))
        self.n_obs = len(self.field_names)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(self.n_obs,), dtype=np.float32)
        self.action_space = spaces.Discrete(self.n_actions)

    # -- actions -------------------------------------------------------------------------------------
    def action_to_variant(self, action: int) -> int:
        """Catalog row of an action; ``ValueError`` for an action outside the grid or an empty cell."""
        action = int(action)
        variant = self._variants[action] if 0 <= action < self.n_actions else -1
        if variant < 0:
            raise ValueError(f"action {action} does not name a variant (valid: grid cells with a variant, "
                             f"0..{self.n_actions - 1})")
        return variant

    def describe(self, action: int) -> dict[str, str]:
        """Names of an action's variant, branch and compression."""
        variant = self.action_to_variant(action)
        return {"variant_id": str(self.table.variant_id[variant]), "branch": str(self.table.branch[variant]),
                "compression": str(self.table.compression[variant])}

    def action_mask(self, reading: Reading) -> np.ndarray:
        """Allowed actions under this reading (never all False)."""
        return self.action_masks_for(np.array([reading.mem_avail_frac]))[0]

    def action_masks_for(self, mem_avail_frac: np.ndarray) -> np.ndarray:
        """(n, n_actions) allowed actions for n readings' available-memory fractions at once (the env
        computes a whole episode's masks at reset); no row is all False."""
        ram_mb, reserve_mb = self.scenario.profile.ram_mb, self.scenario.mem_reserve_mb
        usable = np.asarray(mem_avail_frac, dtype=np.float64) * ram_mb - reserve_mb
        masks = self._mem_mb[None, :] <= usable[:, None]
        masks[~masks.any(axis=1), self._fallback_action] = True
        return masks

    def safe_action(self, mask: np.ndarray) -> int:
        """The allowed action with the smallest memory footprint (the fallback under a given mask)."""
        allowed = np.where(mask & self.exists, self._mem_mb, np.inf)
        return int(np.argmin(allowed)) if np.isfinite(allowed).any() else self._fallback_action

    @property
    def fallback_action(self) -> int:
        """The action with the smallest memory footprint: the safe choice when nothing else is known."""
        return self._fallback_action

    # -- observation ---------------------------------------------------------------------------------
    def observation(self, reading: Reading, last: EpochStats | None, bg_history: Sequence[float],
                    current_action: int) -> np.ndarray:
        """Build the observation vector (see module docstring). ``bg_history``: newest first, HISTORY long."""
        return self.observation_values(reading.cpu_freq_frac, reading.cpu_bg_util, reading.mem_avail_frac,
                                       reading.temp_c, reading.battery_frac, last, bg_history, current_action)

    def observation_values(self, cpu_freq_frac: float, cpu_bg_util: float, mem_avail_frac: float, temp_c: float,
                           battery_frac: float, last: EpochStats | None, bg_history: Sequence[float],
                           current_action: int) -> np.ndarray:
        """:meth:`observation` from the reading's fields as plain floats (the env's hot path).

        Fields are clipped as float64 before the float32 cast, which gives the same float32 values as
        casting first (rounding is monotone and 0 and 1 are exact)."""
        values = [1.0 if math.isnan(cpu_freq_frac) else cpu_freq_frac, cpu_bg_util, mem_avail_frac,
                  0.0 if math.isnan(temp_c) else (temp_c - TEMP_LOW_C) / TEMP_SPAN_C,
                  1.0 if math.isnan(battery_frac) else battery_frac]
        if last is not None:
            values += [last.latency_p95_ms / self.scenario.latency_budget_ms / RATIO_SPAN, last.miss_frac,
                       last.energy_j * 1000.0 / max(1, last.resolved) / self.scenario.reward.energy_ref_mj / RATIO_SPAN,
                       last.queue_len / self.scenario.queue_limit]
        else:
            values += _NO_EPOCH
        values.extend(bg_history[:HISTORY])
        for i, value in enumerate(values):
            if value != value:
                raise ValueError(f"non-finite observation field {self.field_names[i]!r} from reading "
                                 f"{(cpu_freq_frac, cpu_bg_util, mem_avail_frac, temp_c, battery_frac)} "
                                 f"and stats {last}")
            if not 0.0 <= value <= 1.0:
                values[i] = 0.0 if value < 0.0 else 1.0
        obs = np.zeros(self.n_obs, dtype=np.float32)
        obs[:_ONE_HOT] = values
        obs[_ONE_HOT + int(current_action)] = 1.0
        return obs

    # -- reward --------------------------------------------------------------------------------------
    def reward(self, stats: EpochStats) -> float:
        """Reward of one epoch (formula in the module docstring)."""
        w = self.scenario.reward
        energy_mj = stats.energy_j * 1000.0 / max(1, stats.resolved)
        value = (w.accuracy * stats.accuracy - w.latency * stats.miss_frac
                 - w.energy * energy_mj / w.energy_ref_mj - w.switch * float(stats.switched)
                 - w.failure * float(stats.out_of_memory))
        if not math.isfinite(value):
            raise ValueError(f"non-finite reward from stats {stats}")
        return float(value)

    def observation_fields(self) -> list[dict[str, object]]:
        """Field names, ranges and meanings (for exported policy contracts)."""
        meanings = dict(BASE_FIELDS)
        fields = []
        for name in self.field_names:
            if name.startswith("bg_util_lag"):
                meaning = "background share of CPU capacity N epochs ago, [0, 1]"
            elif name.startswith("action_"):
                meaning = "one-hot: this action is currently applied"
            else:
                meaning = meanings[name]
            fields.append({"name": name, "low": 0.0, "high": 1.0, "meaning": meaning})
        return fields
