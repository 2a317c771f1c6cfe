"""Merge what a device measured while serving (a *live profile*) into its variant catalog.

A live profile is what the hardware bridge's online profiler
(:mod:`adascale_rl.hardware_bridge.online_profile`) writes at the end of ``bridge run`` — and what the
serving-overhead profiler writes for every variant: one row per (variant, configuration) it served.

Live-profile CSV: first line ``# device: NAME`` (the catalog's device), then these columns:

=====================  ======  ====================================================================
column                 unit    meaning
=====================  ======  ====================================================================
``variant_id``         —       a variant of the catalog
``config``             —       the compute configuration it ran on
``count``              —       requests served there
``service_count``      —       of which entered the service estimate (placeable configurations)
``service_p25_ms``     ms      robust running p25 of the *nominal-equivalent* service time (below)
``service_p50_ms``     ms      … its p50
``service_p75_ms``     ms      … its p75
``service_p95_ms``     ms      … its p95
``latency_p50_ms``     ms      running p50 of arrival → result (queueing included), for reference
``latency_p95_ms``     ms      … its p95
``energy_mj``          mJ      running mean energy per request (modelled on devices without a sensor)
``slowdown_mean``      1       mean contention slow-down the latency model assigned while serving
``catalog_lat_ms``     ms      the catalog's ``lat_ms`` for the cell when it was measured
=====================  ======  ====================================================================

*Service time* is what the simulator calls service: from the moment the server could start the
request (its arrival, or the end of the previous one) to its result — wake-up, cold caches and the
inference itself. *Nominal-equivalent* removes the part the latency model already attributes to
contention: ``service − lat_ms × (slowdown − 1)`` with ``slowdown`` = sharing × frequency × heat factor
(:mod:`adascale_rl.sim.latency_model`), so the remainder is what the catalog's ``lat_ms`` +
``overhead_ms`` must explain.

**Calibration** (:func:`calibrate_table`): for every cell with at least ``min_count`` service samples the
simulator's per-request service distribution — ``(lat_ms + overhead_ms) × exp(σZ − σ²/2)``, a
lognormal with mean ``lat + overhead`` and ``σ² = ln(1 + (lat_sd² + overhead_sd²) / (lat + overhead)²)`` —
is matched to the measured median ``m`` and a spread ``σ``: ``spread="tail"`` (live runs: the device's
real tail is what the sim-vs-real p95 is about) takes ``σ = ln(p95/m) / 1.645``; ``spread="robust"``
(profiling an otherwise idle machine, like the catalog's MAD-based ``lat_sd_ms``) takes the interquartile
``σ = ln(p75/p25) / 1.349``, which another process's stalls barely move. ``σ`` is capped at
:data:`MAX_SIGMA` (p95 = 5.2 × median): beyond that the mean ``T = m·exp(σ²/2)`` — the simulator's
service time, which also drives its choice of configuration — would be dominated by a few stalls. Then
``overhead_ms = max(0, T − lat_ms)`` and ``overhead_sd_ms = sqrt(max(0, T²(e^{σ²} − 1) − lat_sd²))``.
``lat_ms`` (back-to-back, idle machine) stays as profiled.

**Unmeasured configurations of a measured variant** (``transfer=True``, the default) are scaled with it:
a live run serves a variant on the configuration the runtime picked, so its other configurations get no
samples. Left at their profiled (idle) cost, they would look cheaper than the measured cell merely for not
having been measured, and the runtime — which picks among a variant's configurations by cost — would move
to them on the next run, onto numbers nobody checked (seen on this VM: greedy's variant moved from 1 to 2
threads after calibration and ran 24 % slower at 3× the energy). Instead each such cell's mean service
``lat + overhead`` and its spread are multiplied by the ratio the measured configuration(s) showed
(calibrated over catalog mean service, sample-weighted): the device's measured slow-down for that variant,
assumed at every configuration, so the runtime's choice among them stays what it was. Other cells with
fewer samples keep their overhead (the table's columns, else the profile's constant). Several live
profiles of one device combine per cell, their quantiles weighted by sample count (an approximation:
quantiles do not average exactly).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from adascale_rl.catalog.device_profile import DeviceProfile
from adascale_rl.catalog.variant_table import VariantTable, read_device_csv, write_device_csv
from adascale_rl.errors import DataError

LIVE_PROFILE_COLUMNS = ("variant_id", "config", "count", "service_count", "service_p25_ms", "service_p50_ms",
                        "service_p75_ms", "service_p95_ms", "latency_p50_ms", "latency_p95_ms", "energy_mj",
                        "slowdown_mean", "catalog_lat_ms")
Z95 = 1.6448536269514722  # standard normal 95th percentile
IQR_Z = 1.3489795003921634  # interquartile range of a standard normal
MAX_SIGMA = 1.0
SPREADS = ("tail", "robust")
DEFAULT_MIN_COUNT = 100
CHANGE_COLUMNS = ("variant_id", "config", "source", "samples", "overhead_ms_before", "overhead_ms",
                  "overhead_sd_ms_before", "overhead_sd_ms", "service_p50_ms", "service_p95_ms")
OVERHEAD_NOTE = "; serving overhead: "


@dataclass(frozen=True)
class LiveProfile:
    """Per (variant, configuration) serving estimates measured on one device (see module docstring)."""

    device: str
    frame: pd.DataFrame  # LIVE_PROFILE_COLUMNS
    source: str = "live profile"

    def save(self, path: str | Path) -> Path:
        return write_device_csv(path, self.device, self.frame, float_format="%.6g")

    @classmethod
    def load(cls, path: str | Path) -> LiveProfile:
        """Read and check a live-profile CSV; errors name the file, line, column and value."""
        path = Path(path)
        device, frame = read_device_csv(path, "a live-profile CSV written by `bridge run`")
        missing = [c for c in LIVE_PROFILE_COLUMNS if c not in frame.columns]
        if missing:
            raise DataError(path, f"missing column(s) {', '.join(missing)}", expected=", ".join(LIVE_PROFILE_COLUMNS))
        numeric = {}
        for column in LIVE_PROFILE_COLUMNS[2:]:
            values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
            bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
            if bad.size:
                i = int(bad[0])
                raise DataError(path, "bad value", row=i + 3, column=column, value=frame[column].iloc[i],
                                expected="a finite non-negative number")
            numeric[column] = values
        frame = frame[list(LIVE_PROFILE_COLUMNS)].copy()
        for column, values in numeric.items():
            frame[column] = values
        frame[["count", "service_count"]] = frame[["count", "service_count"]].astype(np.int64)
        return cls(device, frame, str(path))

    def check_against(self, table: VariantTable) -> None:
        """Refuse a profile of another device, or naming variants/configurations ``table`` lacks."""
        if self.device != table.device:
            raise DataError(self.source, f"live profile of device '{self.device}' does not match the catalog's "
                            f"device '{table.device}'", expected=f"a live profile measured on '{table.device}'")
        known = set(table.variant_id.tolist())
        for i, (variant_id, config) in enumerate(zip(self.frame["variant_id"], self.frame["config"], strict=True)):
            if variant_id not in known:
                raise DataError(self.source, f"variant not in the '{table.device}' catalog", row=i + 3,
                                column="variant_id", value=variant_id, expected="variants of the catalog")
            if config not in table.configs:
                raise DataError(self.source, f"configuration not in the '{table.device}' catalog", row=i + 3,
                                column="config", value=config, expected=", ".join(table.configs))


@dataclass(frozen=True)
class Calibration:
    """The calibrated catalog and what changed, cell by cell."""

    table: VariantTable
    changes: pd.DataFrame  # variant_id, config, samples, overhead/sd before and after


def lognormal_sigma(row, spread: str) -> float:
    """The log-spread of a live cell (``service_p*`` fields): from its p95 (``tail``) or its IQR (``robust``),
    capped at :data:`MAX_SIGMA`."""
    if spread == "tail":
        sigma = math.log(max(row.service_p95_ms, row.service_p50_ms) / row.service_p50_ms) / Z95
    elif spread == "robust":
        sigma = math.log(max(row.service_p75_ms, row.service_p25_ms) / max(row.service_p25_ms, 1e-9)) / IQR_Z
    else:
        raise ValueError(f"spread must be one of {', '.join(SPREADS)}, got {spread!r}")
    return min(sigma, MAX_SIGMA)


def lognormal_overhead(median_ms: float, sigma: float, lat_ms: float, lat_sd_ms: float) -> tuple[float, float]:
    """(overhead_ms, overhead_sd_ms) that make the simulator's service distribution a lognormal with this
    median and log-spread for a cell with back-to-back latency ``lat_ms`` ± ``lat_sd_ms`` (module docstring)."""
    mean = median_ms * math.exp(sigma * sigma / 2.0)
    variance = mean * mean * math.expm1(sigma * sigma)
    return max(0.0, mean - lat_ms), math.sqrt(max(0.0, variance - lat_sd_ms * lat_sd_ms))


def combine(profiles: list[LiveProfile]) -> pd.DataFrame:
    """One row per (variant, config) over several live profiles: counts added, quantiles weighted by samples."""
    frame = pd.concat([p.frame for p in profiles], ignore_index=True)
    weight = frame["service_count"].clip(lower=1).astype(float)
    estimates = ["service_p25_ms", "service_p50_ms", "service_p75_ms", "service_p95_ms", "latency_p50_ms",
                 "latency_p95_ms", "energy_mj", "slowdown_mean", "catalog_lat_ms"]
    weighted = frame[estimates].mul(weight, axis=0).assign(weight=weight, variant_id=frame["variant_id"],
                                                          config=frame["config"])
    grouped = weighted.groupby(["variant_id", "config"], sort=False)
    out = grouped[estimates].sum().div(grouped["weight"].sum(), axis=0)
    counts = frame.groupby(["variant_id", "config"], sort=False)[["count", "service_count"]].sum()
    return out.join(counts).reset_index()[list(LIVE_PROFILE_COLUMNS)]


def calibrate_table(table: VariantTable, profile: DeviceProfile, profiles: list[LiveProfile], *,
                    min_count: int = DEFAULT_MIN_COUNT, spread: str = "tail", note: str | None = None,
                    transfer: bool = True) -> Calibration:
    """``table`` with its serving-overhead columns fitted to ``profiles`` (see the module docstring).

    ``spread``: ``tail`` (p95) or ``robust`` (interquartile), see the module docstring. ``note``:
    provenance text for the updated rows (default: "calibrated DATE from N live requests").
    ``transfer``: scale a measured variant's unmeasured configurations by its measured slow-down (module
    docstring); ``changes`` says which cells were measured (``source`` ``live``) and which scaled.
    Raises :class:`DataError` (:meth:`LiveProfile.check_against`) if a profile is for another device, or
    names variants or configurations the catalog does not have.
    """
    from adascale_rl.sim.latency_model import serving_overhead

    if not profiles:
        raise ValueError("no live profiles to calibrate from")
    if spread not in SPREADS:
        raise ValueError(f"spread must be one of {', '.join(SPREADS)}, got {spread!r}")
    for live in profiles:
        live.check_against(table)
    merged = combine(profiles)
    overhead, overhead_sd = (np.array(a, dtype=np.float64) for a in serving_overhead(profile, table))
    overhead = np.where(table.available, overhead, np.inf)
    overhead_sd = np.where(table.available, overhead_sd, np.inf)
    provenance = table.provenance.astype(object).copy()
    changes, ratios = [], {}
    for row in merged.itertuples(index=False):
        v, c = table.index(row.variant_id), table.configs.index(row.config)
        if row.service_count < min_count or not table.available[v, c] or row.service_p50_ms <= 0:
            continue
        new, new_sd = lognormal_overhead(row.service_p50_ms, lognormal_sigma(row, spread),
                                         float(table.latency_ms[v, c]), float(table.latency_sd_ms[v, c]))
        changes.append({"variant_id": row.variant_id, "config": row.config, "source": "live",
                        "samples": int(row.service_count), "overhead_ms_before": float(overhead[v, c]),
                        "overhead_ms": new, "overhead_sd_ms_before": float(overhead_sd[v, c]), "overhead_sd_ms": new_sd,
                        "service_p50_ms": row.service_p50_ms, "service_p95_ms": row.service_p95_ms})
        before = table.latency_ms[v, c] + overhead[v, c]
        ratios.setdefault(v, []).append(((table.latency_ms[v, c] + new) / before, int(row.service_count), c))
        overhead[v, c], overhead_sd[v, c] = new, new_sd
    if transfer:
        changes += _scale_unmeasured(table, overhead, overhead_sd, ratios)
    for v, measured in ratios.items():
        samples = sum(n for _, n, _ in measured)
        text = note or f"calibrated {date.today().isoformat()} from {samples} live requests"
        provenance[v] = str(provenance[v]).split(OVERHEAD_NOTE)[0] + OVERHEAD_NOTE + text
    calibrated = table.with_overhead(overhead, overhead_sd, provenance.astype(str))
    return Calibration(calibrated, pd.DataFrame(changes, columns=list(CHANGE_COLUMNS)))


def _scale_unmeasured(table: VariantTable, overhead: np.ndarray, overhead_sd: np.ndarray,
                      ratios: dict[int, list[tuple[float, int, int]]]) -> list[dict]:
    """Scale the configurations of each measured variant that got no live samples by the variant's
    measured service ratio (module docstring); updates ``overhead``/``overhead_sd`` in place."""
    changes = []
    for v, measured in ratios.items():
        ratio = float(np.average([r for r, _, _ in measured], weights=[n for _, n, _ in measured]))
        done = {c for _, _, c in measured}
        for c in np.flatnonzero(table.available[v]):
            if c in done:
                continue
            lat, lat_sd = float(table.latency_ms[v, c]), float(table.latency_sd_ms[v, c])
            new = max(0.0, ratio * (lat + overhead[v, c]) - lat)
            new_sd = math.sqrt(max(0.0, ratio * ratio * (lat_sd * lat_sd + overhead_sd[v, c] ** 2) - lat_sd * lat_sd))
            changes.append({"variant_id": table.variant_id[v], "config": table.configs[c],
                            "source": f"scaled x{ratio:.3g}", "samples": 0, "overhead_ms_before": float(overhead[v, c]),
                            "overhead_ms": new, "overhead_sd_ms_before": float(overhead_sd[v, c]),
                            "overhead_sd_ms": new_sd, "service_p50_ms": math.nan, "service_p95_ms": math.nan})
            overhead[v, c], overhead_sd[v, c] = new, new_sd
    return changes
