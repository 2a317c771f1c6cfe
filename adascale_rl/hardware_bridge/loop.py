"""The closed loop on a device: sample → decide → apply → serve → measure, one row per epoch.

Per epoch: the device is read (:meth:`Device.sample`), the controller decides on the contract's
observation built from that reading, the last epoch's stats and the background history
(:meth:`~adascale_rl.hardware_bridge.runtime.ReadingDecider.step`), the device switches to that variant
(:meth:`Device.apply`) and serves one epoch (:meth:`Device.serve_epoch`). With a contention injector
running, the background it is replaying is recorded beside the measured one.

:func:`compare_with_sim` replays the same epochs through the simulator — same variants in the same
order, conditions from what was measured — and reports the relative error of the simulated p95 latency
per epoch: how far the simulator, and so the policy's training, is from this device.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from adascale_rl.hardware_bridge.devices.base import Device
from adascale_rl.scenario import Scenario
from adascale_rl.sim.simulator import ContentionSim, EpochConditions, SimConfig
from adascale_rl.sim.stats import EpochStats

READING_FIELDS = ("cpu_freq_frac", "cpu_bg_util", "mem_avail_frac", "temp_c", "battery_frac")
CSV_COLUMNS = ("epoch", "t_s", *READING_FIELDS, "injected_bg_util", "action", "variant_id", "requests",
               "completed", "dropped", "failed", "latency_p50_ms", "latency_p95_ms", "latency_max_ms", "miss_frac",
               "energy_j_modelled", "accuracy", "switched", "out_of_memory", "load_ms", "queue_len", "decision_us",
               "fallback", "fallback_reason")


def run_loop(device: Device, decider, *, epochs: int, epoch_s: float, injected: Callable[[], float] | None = None,
             on_epoch: Callable[[dict], None] | None = None) -> pd.DataFrame:
    """Run ``epochs`` epochs of ``epoch_s`` seconds; returns the per-epoch frame (:data:`CSV_COLUMNS`).

    ``decider``: anything with ``step(reading, last) -> Decision`` (a
    :class:`~adascale_rl.hardware_bridge.runtime.PolicyRuntime`, or a ``ReadingDecider`` around a baseline).
    ``injected``: returns the background share the contention injector is replaying now (recorded as
    ``injected_bg_util``; NaN without one). ``energy_j_modelled`` is the device's energy figure, which no
    device here measures (see ``device.energy_source``).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    rows = []
    last: EpochStats | None = None
    start = time.perf_counter()
    for epoch in range(epochs):
        t_s = time.perf_counter() - start
        reading = device.sample()
        background = injected() if injected is not None else getattr(device, "trace_bg_util", math.nan)
        decision = decider.step(reading, last)
        device.apply(decision.action)
        stats = device.serve_epoch(epoch_s)
        last = stats
        row = {"epoch": epoch, "t_s": round(t_s, 4),
               **{name: getattr(reading, name) for name in READING_FIELDS},
               "injected_bg_util": background, "action": decision.action, "variant_id": decision.variant_id,
               "requests": stats.requests, "completed": stats.completed, "dropped": stats.dropped,
               "failed": stats.failed, "latency_p50_ms": stats.latency_p50_ms,
               "latency_p95_ms": stats.latency_p95_ms, "latency_max_ms": stats.latency_max_ms,
               "miss_frac": stats.miss_frac, "energy_j_modelled": stats.energy_j, "accuracy": stats.accuracy,
               "switched": stats.switched, "out_of_memory": stats.out_of_memory, "load_ms": stats.load_ms,
               "queue_len": stats.queue_len, "decision_us": round(decision.decision_us, 2),
               "fallback": decision.fallback, "fallback_reason": decision.reason}
        rows.append(row)
        if on_epoch is not None:
            on_epoch(row)
    return pd.DataFrame(rows, columns=list(CSV_COLUMNS))


def summarize_run(frame: pd.DataFrame, scenario: Scenario) -> dict[str, float]:
    """Headline numbers of a run, defined as in :func:`adascale_rl.agents.evaluate.summarize`."""
    resolved = frame["completed"] + frame["dropped"] + frame["failed"]
    completed = int(frame["completed"].sum())
    weights = frame["completed"].to_numpy(dtype=float)
    decision = frame["decision_us"].to_numpy(dtype=float)
    return {
        "epochs": len(frame),
        "requests": int(frame["requests"].sum()),
        "completed": completed,
        "p50_ms": float(np.average(frame["latency_p50_ms"], weights=weights)) if completed else math.nan,
        "p95_ms": float(np.average(frame["latency_p95_ms"], weights=weights)) if completed else math.nan,
        "budget_ms": scenario.latency_budget_ms,
        "budget_miss_pct": 100.0 * float((frame["miss_frac"] * resolved).sum()) / max(1, int(resolved.sum())),
        "accuracy": float((frame["accuracy"] * resolved).sum()) / max(1, int(resolved.sum())),
        "energy_mj_modelled": 1000.0 * float(frame["energy_j_modelled"].sum()) / max(1, completed),
        "switches": int(frame["switched"].sum()),
        "fallbacks": int(frame["fallback"].sum()),
        "decision_us_p50": float(np.percentile(decision, 50)),
        "decision_us_p99": float(np.percentile(decision, 99)),
    }


@dataclass(frozen=True)
class SimComparison:
    """Per-epoch simulated stats beside the real ones, and the p95-latency error summary."""

    frame: pd.DataFrame  # epoch, real/sim p50 and p95, relative errors, conditions used
    median_error: float  # median over epochs of |sim p95 − real p95| / real p95
    p90_error: float
    n_epochs: int  # epochs with completed requests in both

    def summary(self) -> dict[str, float]:
        return {"sim_vs_real_p95_error_median": self.median_error, "sim_vs_real_p95_error_p90": self.p90_error,
                "compared_epochs": self.n_epochs}


def compare_with_sim(frame: pd.DataFrame, scenario: Scenario, *, epoch_s: float, reading_is: str,
                     seed: int = 0, start_action: int | None = None) -> SimComparison:
    """Replay the run's variants through the simulator under the measured conditions.

    ``reading_is``: ``"coming"`` when a device's reading describes the epoch about to be served (the
    simulator, the env), ``"previous"`` when it describes the epoch just finished (real utilisation is
    always measured over an interval: :class:`~.devices.local.LocalDevice`, :class:`~.devices.adb.AdbDevice`).
    For ``previous`` the background of epoch ``i`` is taken from reading ``i + 1`` (the last epoch falls
    back to the injected background, else its own reading); frequency, memory and temperature are
    instantaneous and taken from reading ``i``.
    """
    from adascale_rl.envs.contract import DecisionContract

    if reading_is not in ("coming", "previous"):
        raise ValueError(f"reading_is must be 'coming' or 'previous', got {reading_is!r}")
    contract = DecisionContract(scenario)
    s = scenario
    sim = ContentionSim(s.profile, s.table, SimConfig(epoch_s, s.request_rate_hz, s.latency_budget_ms, s.queue_limit,
                                                      s.mem_reserve_mb))
    start = contract.fallback_action if start_action is None else start_action
    sim.reset(seed, contract.action_to_variant(start))
    bg = frame["cpu_bg_util"].to_numpy(dtype=float)
    if reading_is == "previous":
        injected = frame["injected_bg_util"].to_numpy(dtype=float)
        tail = injected[-1] if math.isfinite(injected[-1]) else bg[-1]
        bg = np.append(bg[1:], tail)
    rows = []
    for i, row in enumerate(frame.itertuples(index=False)):
        conditions = EpochConditions(float(row.cpu_freq_frac), float(np.clip(bg[i], 0.0, 1.0)),
                                     float(row.mem_avail_frac), float(row.temp_c))
        stats = sim.step(contract.action_to_variant(int(row.action)), conditions)
        rows.append({"epoch": row.epoch, "bg_used": conditions.cpu_bg_util, "variant_id": row.variant_id,
                     "real_completed": row.completed, "sim_completed": stats.completed,
                     "real_p50_ms": row.latency_p50_ms, "sim_p50_ms": stats.latency_p50_ms,
                     "real_p95_ms": row.latency_p95_ms, "sim_p95_ms": stats.latency_p95_ms,
                     "real_miss_frac": row.miss_frac, "sim_miss_frac": stats.miss_frac})
    out = pd.DataFrame(rows)
    both = (out["real_completed"] > 0) & (out["sim_completed"] > 0)
    out["p95_rel_error"] = np.where(both, (out["sim_p95_ms"] - out["real_p95_ms"]).abs() / out["real_p95_ms"], np.nan)
    out["p50_rel_error"] = np.where(both, (out["sim_p50_ms"] - out["real_p50_ms"]).abs() / out["real_p50_ms"], np.nan)
    errors = out["p95_rel_error"].dropna().to_numpy()
    median = float(np.median(errors)) if errors.size else math.nan
    p90 = float(np.percentile(errors, 90)) if errors.size else math.nan
    return SimComparison(out, median, p90, int(errors.size))


def plot_comparison(run: pd.DataFrame, comparison: SimComparison, scenario: Scenario, path: str | Path) -> Path:
    """PNG: real vs simulated p95 latency with the budget, background load, and the per-epoch error."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    c = comparison.frame
    fig, axes = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    axes[0].plot(c["epoch"], c["real_p95_ms"], label="real p95", color="tab:blue")
    axes[0].plot(c["epoch"], c["sim_p95_ms"], label="sim p95", color="tab:orange", alpha=0.8)
    axes[0].axhline(scenario.latency_budget_ms, color="tab:red", linestyle="--", label="budget")
    axes[0].set_ylabel("latency (ms)")
    axes[0].legend(loc="upper right")
    axes[0].set_title(f"{scenario.name}: real vs simulated p95 latency "
                      f"(median error {comparison.median_error:.0%}, p90 {comparison.p90_error:.0%})")
    axes[1].plot(run["epoch"], run["cpu_bg_util"], label="measured background", color="tab:gray")
    if run["injected_bg_util"].notna().any():
        axes[1].plot(run["epoch"], run["injected_bg_util"], label="injected (trace)", color="tab:green")
    axes[1].set_ylabel("CPU share")
    axes[1].set_ylim(0, 1.05)
    axes[1].legend(loc="upper right")
    axes[2].plot(c["epoch"], c["p95_rel_error"], color="tab:purple", marker=".", linestyle="none")
    axes[2].set_ylabel("|sim − real| / real (p95)")
    axes[2].set_xlabel("epoch")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
