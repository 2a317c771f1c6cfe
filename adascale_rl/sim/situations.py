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

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from adascale_rl.catalog import DeviceProfile, VariantTable
from adascale_rl.sim.latency_model import (
    choose_config,
    condition_factor,
    config_core_counts,
    service_ms,
    serving_overhead,
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
        self._overhead_ms, overhead_sd_ms = serving_overhead(profile, table)
        total = table.latency_ms + self._overhead_ms
        variance = np.square(table.latency_sd_ms) + np.square(overhead_sd_ms)
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
        """The situation of one epoch (NaN frequency or temperature: unknown, see the latency model)."""
        return self.segment([cpu_bg_util], [cpu_freq_frac], [temp_c])[0]

    def segment(self, cpu_bg_util: Sequence[float], cpu_freq_frac: Sequence[float],
                temp_c: Sequence[float]) -> list[Situation]:
        """The situations of consecutive epochs, the ones not memoised yet computed in one vectorised pass
        (an episode's segment at reset: a transformed or unseen trace costs one numpy pass, not one per
        new situation).

        Keyed by what the lookups depend on — background load, clock and the slow-down factor — so
        temperatures below the throttle point, which change nothing, do not split situations."""
        freq = np.asarray(cpu_freq_frac, dtype=np.float64)
        condition = condition_factor(freq, np.asarray(temp_c, dtype=np.float64), self._throttle_c)
        keys = list(zip(cpu_bg_util, np.where(np.isnan(freq), 1.0, freq).tolist(),
                        np.atleast_1d(condition).tolist(), strict=True))
        known = self._situations
        missing = list(dict.fromkeys(key for key in keys if key not in known))
        if missing:
            if len(known) + len(missing) > MAX_ENTRIES:
                known.clear()
                self._placements.clear()
                self._power.clear()
                missing = list(dict.fromkeys(keys))
            known.update(zip(missing, self._compute(missing), strict=True))
        return [known[key] for key in keys]

    def placement(self, cpu_bg_util: float) -> Placement:
        """The background placement for a utilisation (memoised)."""
        placement = self._placements.get(cpu_bg_util)
        if placement is None:
            placement = self._placements[cpu_bg_util] = place_background(self.profile, cpu_bg_util, self._fill_order)
        return placement

    def _compute(self, keys: list[tuple[float, float, float]]) -> list[Situation]:
        """Situations for (background, frequency fraction, slow-down) keys, all variants, in one pass.

        Element for element the same arithmetic as one situation at a time (broadcasting only adds axes),
        so results do not depend on how situations were batched."""
        placements = [self.placement(bg) for bg, _, _ in keys]
        free = self._cores - np.array([placement.held for placement in placements])  # (B, clusters)
        share = share_factors(self._counts, free, np.array([placement.rho for placement in placements]))
        condition = np.array([key[2] for key in keys])[:, None, None]
        latency = service_ms(self.table.latency_ms, share[:, None, :], condition,
                             self._overhead_ms)  # (B, variants, configs)
        powers = [self._config_power(freq) for _, freq, _ in keys]
        power = np.array([per_config for per_config, _ in powers])  # (B, configs)
        configs = choose_config(latency, power[:, None, :], self.latency_budget_ms)  # (B, variants)
        service = np.take_along_axis(latency, configs[..., None], axis=-1)[..., 0]
        sigma = self._log_sigma[self._rows, configs]
        watts = np.take_along_axis(power, configs, axis=-1)
        choices = np.stack([service, sigma, watts], axis=-1)  # (B, variants, 3)
        return [Situation(placement.held, key[1], rows, load_w)
                for placement, key, rows, (_, load_w) in zip(placements, keys, choices, powers, strict=True)]

    def _config_power(self, freq_frac: float) -> tuple[np.ndarray, float]:
        """Active power (W) of every configuration's cores, and of the load core, at a frequency fraction."""
        power = self._power.get(freq_frac)
        if power is None:
            per_config = np.array([self.profile.active_power_w(cfg, freq_frac) for cfg in self.table.configs])
            power = self._power[freq_frac] = (per_config, self._load_cluster.core_power_w(True, freq_frac))
        return power
