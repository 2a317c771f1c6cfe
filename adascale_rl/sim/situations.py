"""What the simulator derives from one epoch's device state, computed once and shared.

A *situation* is one epoch's (background load, CPU frequency, temperature). From it follow the
background placement (:mod:`adascale_rl.sim.placement`), the slow-down factor, and — for every variant
at once — the configuration the runtime picks with its service time, lognormal spread and power
(:func:`~adascale_rl.sim.latency_model.choose_config`). Traces hold each recorded sample for several
epochs and a policy revisits variants, so the same situations recur: :class:`SituationTable` memoises
them, and one table can be shared by every simulator of a scenario (a batched vector env steps N
simulators over the same traces, so each situation is computed once for all of them).

Values are exactly what the simulator computed per epoch before the memo (the memo only skips
recomputing them), so results are bit-identical with or without it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from adascale_rl.catalog import DeviceProfile, VariantTable
from adascale_rl.sim.latency_model import (
    choose_config,
    condition_factor,
    config_core_counts,
    service_ms,
    share_factors,
)
from adascale_rl.sim.placement import Placement, cluster_fill_order, place_background

MAX_ENTRIES = 50_000  # situations kept before the memo starts over (~1 KB each)


class Situation(NamedTuple):
    """One epoch's device state as the simulator uses it."""

    held: tuple[int, ...]  # cores held by background, per cluster
    freq_frac: float  # CPU frequency fraction (NaN read as nominal, 1.0)
    choices: np.ndarray  # (n_variants, 3): service ms, log-sigma, power W of the chosen configuration
    load_power_w: float  # power of the core a model load runs on


class SituationTable:
    """Memo of :class:`Situation` per (background, frequency, temperature) for one device and catalog."""

    def __init__(self, profile: DeviceProfile, table: VariantTable, latency_budget_ms: float) -> None:
        self.profile = profile
        self.table = table
        self.latency_budget_ms = latency_budget_ms
        self._counts = config_core_counts(profile, table.configs)
        self._fill_order = cluster_fill_order(profile)
        self._cores = np.array([cluster.cores for cluster in profile.clusters])
        self._load_cluster = max(profile.clusters, key=lambda cluster: cluster.max_mhz)  # loads run on the fastest core
        # lognormal spread of one service: the catalog's measured spread plus the serving overhead's
        total = table.latency_ms + profile.request_overhead_ms
        variance = np.square(table.latency_sd_ms) + profile.request_overhead_sd_ms**2
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio_sq = np.where(np.isfinite(total), variance / np.square(total), 0.0)
        self._log_sigma = np.sqrt(np.log1p(ratio_sq))
        self._rows = np.arange(len(table))
        self._throttle_c = profile.throttle_c
        self._situations: dict[tuple, Situation] = {}
        self._placements: dict[float, Placement] = {}
        self._power: dict[float, tuple[np.ndarray, float]] = {}

    def __len__(self) -> int:
        return len(self._situations)

    def get(self, cpu_bg_util: float, cpu_freq_frac: float, temp_c: float) -> Situation:
        """The situation of one epoch (NaN frequency or temperature: unknown, see the latency model).

        Keyed by what the lookups depend on — background load, clock and the slow-down factor — so
        temperatures below the throttle point, which change nothing, do not split situations."""
        freq_frac = 1.0 if math.isnan(cpu_freq_frac) else cpu_freq_frac
        condition = condition_factor(cpu_freq_frac, temp_c, self._throttle_c)
        key = (cpu_bg_util, freq_frac, condition)
        situation = self._situations.get(key)
        if situation is None:
            if len(self._situations) >= MAX_ENTRIES:
                self._situations.clear()
                self._placements.clear()
                self._power.clear()
            situation = self._situations[key] = self._compute(cpu_bg_util, freq_frac, condition)
        return situation

    def placement(self, cpu_bg_util: float) -> Placement:
        """The background placement for a utilisation (memoised)."""
        placement = self._placements.get(cpu_bg_util)
        if placement is None:
            placement = self._placements[cpu_bg_util] = place_background(self.profile, cpu_bg_util, self._fill_order)
        return placement

    def _compute(self, cpu_bg_util: float, freq_frac: float, condition: float) -> Situation:
        placement = self.placement(cpu_bg_util)
        free = self._cores - np.array(placement.held)
        share = share_factors(self._counts, free, np.array(placement.rho))
        latency = service_ms(self.table.latency_ms, share, condition, self.profile.request_overhead_ms)
        power, load_power_w = self._config_power(freq_frac)
        configs = choose_config(latency, power, self.latency_budget_ms)
        choices = np.stack([latency[self._rows, configs], self._log_sigma[self._rows, configs], power[configs]], axis=1)
        return Situation(placement.held, freq_frac, choices, load_power_w)

    def _config_power(self, freq_frac: float) -> tuple[np.ndarray, float]:
        """Active power (W) of every configuration's cores, and of the load core, at a frequency fraction."""
        power = self._power.get(freq_frac)
        if power is None:
            per_config = np.array([self.profile.active_power_w(cfg, freq_frac) for cfg in self.table.configs])
            power = self._power[freq_frac] = (per_config, self._load_cluster.core_power_w(True, freq_frac))
        return power
