"""Serving-overhead profiler: what a *served* request costs each variant on this machine, per configuration.

The catalog's ``lat_ms`` is back-to-back latency (the profiler calls a variant in a tight loop). A served
request pays more — the serving thread wakes for it and the variant runs on cold caches — and how much
differs per variant (on the 2-core VM from ~0.3 ms for small float networks to ~1 ms for int8 ones). So
this profiler serves every variant through the real serving path (:class:`~.devices.local.LocalDevice`:
Poisson arrivals at the scenario's rate, the serving thread, the online profiler), pinned to each compute
configuration in turn, for ``rounds`` rounds of one epoch per cell in a fresh random order each round (so
phases of the shared machine's background load hit every cell alike), without injected contention. Like
the catalog's ``lat_ms`` (lower quartile of round medians), the overhead must describe an otherwise idle
machine — other processes' load only adds time, and the simulator adds contention itself — so each round
has its own online profiler and, per cell, only the **quieter half of the rounds** (those with the lower
service p50) is kept, and the spread is taken from the interquartile range (``spread="robust"``: the
catalog's ``lat_sd_ms`` is a MAD-based SD for the same reason). Their live profile is fitted into the
catalog's ``overhead_ms@CFG`` / ``overhead_sd_ms@CFG`` columns by
:func:`~adascale_rl.catalog.calibrate.calibrate_table` — the same fit ``catalog calibrate`` applies to live
runs (there with the p95 spread), so offline profiling and online correction are one definition.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from adascale_rl.catalog.calibrate import Calibration, LiveProfile, calibrate_table, combine
from adascale_rl.hardware_bridge.devices.variants import VariantProvider
from adascale_rl.hardware_bridge.online_profile import OnlineProfiler
from adascale_rl.scenario import Scenario


@dataclass(frozen=True)
class OverheadResult:
    """The catalog with measured overhead columns, and the live profile (quieter rounds) they were fitted to."""

    calibration: Calibration
    live: LiveProfile
    seconds: float
    load_average: tuple[float, float]


def quieter_half(rounds: list[LiveProfile]) -> LiveProfile:
    """Per (variant, configuration): the rounds whose service p50 is at most the median over rounds,
    merged (counts added, estimates weighted by samples)."""
    frame = pd.concat([r.frame for r in rounds], ignore_index=True)
    frame = frame[frame["service_count"] > 0]
    median = frame.groupby(["variant_id", "config"])["service_p50_ms"].transform("median")
    kept = frame[frame["service_p50_ms"] <= median]
    return LiveProfile(rounds[0].device, combine([LiveProfile(rounds[0].device, kept)]), source="quieter rounds")


def measure_serving_overhead(scenario: Scenario, *, variant_ids: Sequence[str] | None = None,
                             configs: Sequence[str] | None = None, rounds: int = 4, epoch_s: float = 1.0,
                             provider: VariantProvider | None = None, seed: int = 0, progress: bool = True,
                             min_count: int = 20) -> OverheadResult:
    """Serve each (variant, configuration) for ``rounds × epoch_s`` seconds and fit the overhead columns.

    ``min_count``: samples a cell needs to be fitted, over its kept rounds (at 50 requests/s a 1 s round
    gives ~50).
    """
    from tqdm.auto import tqdm

    from adascale_rl.hardware_bridge.devices.local import LocalDevice

    table = scenario.table
    variant_ids = list(variant_ids) if variant_ids is not None else table.variant_id.tolist()
    configs = list(configs) if configs is not None else list(table.configs)
    unknown = [c for c in configs if c not in table.configs]
    if unknown:
        raise ValueError(f"configuration(s) {', '.join(unknown)} not in the '{table.device}' catalog "
                         f"({', '.join(table.configs)})")
    cells = []
    for variant_id in variant_ids:
        row = table.index(variant_id)
        cells += [(row, c) for c in configs if table.available[row, table.configs.index(c)]]
    if rounds < 1 or not cells:
        raise ValueError(f"nothing to measure: {len(cells)} cells, {rounds} rounds")
    rng = np.random.default_rng(seed)
    load_start = os.getloadavg()[0]
    per_round = []
    with LocalDevice(scenario, provider=provider, seed=seed) as device:
        bar = tqdm(total=rounds * len(cells), desc="serving overhead", unit="cell", disable=not progress)
        for _ in range(rounds):
            device.profiler = OnlineProfiler(table)  # the serving thread records into the new one from now on
            for k in rng.permutation(len(cells)):
                variant, config = cells[int(k)]
                device.sample()
                device.apply(int(device.contract.variant_action[variant]))
                device.pin(config)
                device.serve_epoch(epoch_s)
                bar.update(1)
            per_round.append(device.profiler.live_profile())
        bar.close()
    live = quieter_half(per_round)
    load_end = os.getloadavg()[0]
    note = (f"measured {date.today().isoformat()} by adascale_rl.hardware_bridge.overhead (served through "
            f"LocalDevice at {scenario.request_rate_hz:g} req/s, {rounds} x {epoch_s:g} s per configuration, "
            f"quieter half of the rounds kept, interquartile spread, no injected contention; load average "
            f"{load_start:.1f}-{load_end:.1f})")
    calibration = calibrate_table(table, scenario.profile, [live], min_count=min_count, spread="robust", note=note,
                                  transfer=False)  # every configuration is measured: nothing to scale
    return OverheadResult(calibration, live, rounds * epoch_s * len(cells), (load_start, load_end))
