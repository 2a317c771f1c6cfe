"""How long one inference takes under the current device state (used by the simulator and by the
profile-based greedy controller, so both predict latency the same way).

``service_ms = table_ms[variant, config] × freq_factor × thermal_factor × share_factor + overhead_ms``
where

- ``freq_factor = 1 / max(cpu_freq_frac, 0.05)``: inference is compute-bound, so time scales inversely
  with clock (an unknown frequency, NaN, counts as nominal);
- ``thermal_factor = 1 + THERMAL_SLOPE × max(0, temp_c − throttle_c)``: above the profile's throttle
  temperature the governor caps clocks further than the trace shows (NaN temperature: no throttling);
- ``share_factor = 1 / (1 − rho_max / 2)``: a thread sharing a core whose background share is ``rho``
  gets ``1 − rho/2`` of it (CFS between the inference thread and the background threads), and a
  multi-threaded inference moves at the pace of its slowest core.

- ``overhead_ms`` is the measured per-request serving overhead of that variant on that configuration
  (waking the serving thread and running on cold caches, which a back-to-back latency benchmark such as
  the catalog's does not see): the catalog's ``overhead_ms@CFG`` column where it has one, else the device
  profile's single ``request_overhead_ms`` for every variant (0 where not measured) — see
  :func:`serving_overhead`.

A configuration is usable only if the cores it needs are not held by background (see
:mod:`adascale_rl.sim.placement`): it takes unshared free cores first, then the shared one.

Which configuration runs (:func:`choose_config`) is the runtime's energy-aware rule: among usable
configurations whose service time leaves at least half the budget for queueing
(``service ≤ SERVICE_SHARE × budget``), the one with the least energy per inference; if none does, the
fastest. Both the simulator and the greedy controller's predictions use it.
"""

from __future__ import annotations

import numpy as np

from adascale_rl.catalog import DeviceProfile, VariantTable
from adascale_rl.sim.placement import Placement

SERVICE_SHARE = 0.5  # share of the latency budget one inference may take (the rest is for queueing)
THERMAL_SLOPE = 0.03  # +3 % service time per °C above the throttle temperature (estimated)
MIN_FREQ_FRAC = 0.05


def config_core_counts(profile: DeviceProfile, configs: tuple[str, ...]) -> np.ndarray:
    """(n_configs, n_clusters) cores each configuration uses from each cluster."""
    index = {cluster.name: i for i, cluster in enumerate(profile.clusters)}
    counts = np.zeros((len(configs), len(profile.clusters)), dtype=np.int64)
    for row, name in enumerate(configs):
        for cluster, count in profile.config(name).cores.items():
            counts[row, index[cluster]] = count
    return counts


def condition_factor(freq_frac: float | np.ndarray, temp_c: float | np.ndarray,
                     throttle_c: float) -> float | np.ndarray:
    """Slow-down from clock frequency and heat (1.0 at nominal frequency below the throttle point);
    element-wise over arrays (a float for scalars)."""
    freq = np.where(np.isnan(freq_frac), 1.0, np.maximum(freq_frac, MIN_FREQ_FRAC))
    heat = np.where(np.isnan(temp_c), 0.0, np.maximum(0.0, np.subtract(temp_c, throttle_c)))
    factor = (1.0 + THERMAL_SLOPE * heat) / freq
    return float(factor) if np.ndim(factor) == 0 else factor


def serving_overhead(profile: DeviceProfile, table: VariantTable) -> tuple[np.ndarray, np.ndarray]:
    """(n_variants, n_configs) per-request serving overhead and its SD (ms): the catalog's own measured
    columns when it has them — the overhead differs per variant, 0.3 ms for a small float network and
    about 1 ms for an int8 one on the ``local`` VM — else the profile's one constant everywhere."""
    if table.overhead_ms is not None and table.overhead_sd_ms is not None:
        return table.overhead_ms, table.overhead_sd_ms
    shape = table.latency_ms.shape
    return np.full(shape, profile.request_overhead_ms), np.full(shape, profile.request_overhead_sd_ms)


def service_ms(table_latency_ms: np.ndarray, share: np.ndarray, condition: float,
               overhead_ms: float | np.ndarray) -> np.ndarray:
    """Predicted service time (see module docstring); ``inf`` stays ``inf``. ``overhead_ms`` broadcasts
    against ``table_latency_ms`` (a row or matrix of :func:`serving_overhead`, or one number)."""
    return table_latency_ms * share * condition + overhead_ms


def share_factors(counts: np.ndarray, free: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Per configuration: slow-down from sharing cores with background, ``inf`` if it cannot be placed.

    ``counts``: (n_configs, n_clusters) cores each configuration needs; ``free``: cores per cluster not
    held by background; ``rho``: background share on the partially loaded core of each cluster. ``free``
    and ``rho`` may carry leading batch axes, (..., n_clusters) → (..., n_configs).
    """
    free = np.asarray(free)[..., None, :]
    rho = np.asarray(rho)[..., None, :]
    unshared = free - (rho > 0)
    fits = (counts <= free).all(axis=-1)
    rho_max = ((counts > unshared) * rho).max(axis=-1)  # rho of the shared core where a config needs it
    return np.where(fits, 1.0 / (1.0 - rho_max / 2.0), np.inf)


def placement_share_factors(profile: DeviceProfile, counts: np.ndarray, placement: Placement) -> np.ndarray:
    """:func:`share_factors` for a placement (free cores = cluster size − held)."""
    cores = np.array([cluster.cores for cluster in profile.clusters])
    return share_factors(counts, cores - np.array(placement.held), np.array(placement.rho))


def choose_config(latency_ms: np.ndarray, power_w: np.ndarray, budget_ms: float) -> np.ndarray:
    """Index of the configuration the runtime uses (see module docstring), along the last axis.

    ``latency_ms``: (..., n_configs), may hold ``inf``; ``power_w``: (n_configs,) active power, or any
    shape that broadcasts against ``latency_ms``."""
    within = latency_ms <= SERVICE_SHARE * budget_ms
    frugal = np.argmin(np.where(within, latency_ms * power_w, np.inf), axis=-1)
    fastest = np.argmin(latency_ms, axis=-1)
    return np.where(within.any(axis=-1), frugal, fastest)
