"""The closed loop on a device: sample → decide → apply → serve → measure, one row per epoch.

Per epoch: the device is read (:meth:`Device.sample`), the controller decides on the contract's
observation built from that reading, the last epoch's stats and the background history
(:meth:`~adascale_rl.hardware_bridge.runtime.ReadingDecider.step`), the device switches to that variant
(:meth:`Device.apply`), serves one epoch (:meth:`Device.serve_epoch`) and says which variant it really
served (:meth:`Device.epoch_report`: the safe one after a fault — the row is then marked ``fallback``
with the device's reason, and the controller is told which action is in force). With a contention
injector running, the background it is replaying is recorded beside the measured one. The first
``warmup_epochs`` rows are marked ``warmup`` and left out of :func:`summarize_run`. Ctrl-C ends the loop
early and keeps the epochs done.

The simulator side of the sim-vs-real comparison is :mod:`adascale_rl.hardware_bridge.sim_vs_real`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from adascale_rl.hardware_bridge.devices.base import Device
from adascale_rl.scenario import Scenario
from adascale_rl.sim.stats import EpochStats

log = logging.getLogger(__name__)

READING_FIELDS = ("cpu_freq_frac", "cpu_bg_util", "mem_avail_frac", "temp_c", "battery_frac")
CSV_COLUMNS = ("epoch", "t_s", *READING_FIELDS, "injected_bg_util", "action", "variant_id", "served_action",
               "served_variant_id", "served_config", "requests", "completed", "dropped", "failed", "latency_p50_ms",
               "latency_p95_ms", "latency_max_ms", "miss_frac", "energy_j_modelled", "accuracy", "switched",
               "out_of_memory", "load_ms", "build_ms", "queue_len", "decision_us", "fallback", "fallback_reason",
               "warmup")


def run_loop(device: Device, decider, *, epochs: int, epoch_s: float, injected: Callable[[], float] | None = None,
             on_epoch: Callable[[dict], None] | None = None, warmup_epochs: int = 0) -> pd.DataFrame:
    """Run ``epochs`` epochs of ``epoch_s`` seconds; returns the per-epoch frame (:data:`CSV_COLUMNS`).

    ``decider``: a :class:`~adascale_rl.hardware_bridge.runtime.PolicyRuntime` or a ``ReadingDecider``
    around a baseline — ``step(reading, last) -> Decision``, ``contract``, and ``set_current(action)``
    to learn that the device served another action than it decided.
    ``injected``: returns the background share the contention injector is replaying now (recorded as
    ``injected_bg_util``; NaN without one). ``energy_j_modelled`` is the device's energy figure, which no
    device here measures (see ``device.energy_source``).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    rows = []
    last: EpochStats | None = None
    start = time.perf_counter()
    try:
        for epoch in range(epochs):
            t_s = time.perf_counter() - start
            reading = device.sample()
            background = injected() if injected is not None else getattr(device, "trace_bg_util", math.nan)
            decision = decider.step(reading, last)
            device.apply(decision.action)
            stats = device.serve_epoch(epoch_s)
            report = device.epoch_report()
            last = stats
            served = report.served_action
            if served != decision.action:
                decider.set_current(served)
            reasons = [r for r in (decision.reason, *report.faults) if r]
            row = {"epoch": epoch, "t_s": round(t_s, 4),
                   **{name: getattr(reading, name) for name in READING_FIELDS},
                   "injected_bg_util": background, "action": decision.action, "variant_id": decision.variant_id,
                   "served_action": served,
                   "served_variant_id": decider.contract.describe(served)["variant_id"],
                   "served_config": report.served_config,
                   "requests": stats.requests, "completed": stats.completed, "dropped": stats.dropped,
                   "failed": stats.failed, "latency_p50_ms": stats.latency_p50_ms,
                   "latency_p95_ms": stats.latency_p95_ms, "latency_max_ms": stats.latency_max_ms,
                   "miss_frac": stats.miss_frac, "energy_j_modelled": stats.energy_j, "accuracy": stats.accuracy,
                   "switched": stats.switched, "out_of_memory": stats.out_of_memory, "load_ms": stats.load_ms,
                   "build_ms": round(report.build_ms, 3), "queue_len": stats.queue_len,
                   "decision_us": round(decision.decision_us, 2),
                   "fallback": decision.fallback or served != decision.action or bool(report.faults),
                   "fallback_reason": "; ".join(reasons), "warmup": epoch < warmup_epochs}
            rows.append(row)
            if on_epoch is not None:
                on_epoch(row)
    except KeyboardInterrupt:
        log.warning("interrupted after %d of %d epochs; keeping those", len(rows), epochs)
        if not rows:
            raise
    return pd.DataFrame(rows, columns=list(CSV_COLUMNS))


def headline(frame: pd.DataFrame) -> dict[str, float]:
    """p50/p95 latency (completion-weighted means of per-epoch percentiles), budget-miss % of resolved
    requests, modelled energy per completed request and served accuracy — the evaluation report's
    definitions (:func:`adascale_rl.agents.evaluate.summarize`), for real and simulated epochs alike."""
    resolved = frame["completed"] + frame["dropped"] + frame["failed"]
    completed = int(frame["completed"].sum())
    weights = frame["completed"].to_numpy(dtype=float)
    return {
        "p50_ms": float(np.average(frame["latency_p50_ms"], weights=weights)) if completed else math.nan,
        "p95_ms": float(np.average(frame["latency_p95_ms"], weights=weights)) if completed else math.nan,
        "budget_miss_pct": 100.0 * float((frame["miss_frac"] * resolved).sum()) / max(1, int(resolved.sum())),
        "energy_mj_modelled": 1000.0 * float(frame["energy_j_modelled"].sum()) / max(1, completed),
        "accuracy": float((frame["accuracy"] * resolved).sum()) / max(1, int(resolved.sum())),
    }


def measured(frame: pd.DataFrame) -> pd.DataFrame:
    """The epochs after warm-up (all of them for frames without a ``warmup`` column)."""
    return frame[~frame["warmup"].astype(bool)] if "warmup" in frame.columns else frame


def summarize_run(frame: pd.DataFrame, scenario: Scenario) -> dict[str, float]:
    """Headline numbers of a run over its measured (non-warm-up) epochs (see :func:`headline`)."""
    warmup = len(frame) - len(measured(frame))
    frame = measured(frame)
    decision = frame["decision_us"].to_numpy(dtype=float)
    numbers = headline(frame)
    return {
        "epochs": len(frame),
        "warmup_epochs": warmup,
        "requests": int(frame["requests"].sum()),
        "completed": int(frame["completed"].sum()),
        "p50_ms": numbers["p50_ms"],
        "p95_ms": numbers["p95_ms"],
        "budget_ms": scenario.latency_budget_ms,
        "budget_miss_pct": numbers["budget_miss_pct"],
        "accuracy": numbers["accuracy"],
        "energy_mj_modelled": numbers["energy_mj_modelled"],
        "switches": int(frame["switched"].sum()),
        "fallbacks": int(frame["fallback"].sum()),
        "build_s": float(frame["build_ms"].sum()) / 1000.0,
        "decision_us_p50": float(np.percentile(decision, 50)) if len(decision) else math.nan,
        "decision_us_p99": float(np.percentile(decision, 99)) if len(decision) else math.nan,
    }
