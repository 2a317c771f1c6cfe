"""One bridge run end to end (what ``adascale-rl bridge run`` and the live benchmark call): load the policy,
pick the device, replay the trace's contention, run the closed loop, write the CSV, compare with the
simulator and plot.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from adascale_rl.hardware_bridge.loop import (
    SimComparison,
    compare_with_sim,
    plot_comparison,
    run_loop,
    summarize_run,
)
from adascale_rl.hardware_bridge.runtime import PolicyRuntime, ReadingDecider
from adascale_rl.scenario import Scenario
from adascale_rl.traces import Trace, find_entry, load_trace

log = logging.getLogger(__name__)

DEVICES = ("local", "sim")


def resolve_trace(ref: str | Path | Trace) -> Trace:
    """A trace by manifest name (``rpi4b4gb_1200mhz_pattern_12h``) or CSV path."""
    if isinstance(ref, Trace):
        return ref
    path = Path(ref)
    if path.suffix == ".csv" or path.exists():
        return load_trace(path)
    return find_entry(str(ref)).load()


@dataclass
class BridgeRun:
    """What a run produced (paths are None when not written)."""

    frame: pd.DataFrame
    summary: dict[str, float]
    scenario: Scenario
    device: str
    controller: str
    comparison: SimComparison | None = None
    csv_path: Path | None = None
    png_path: Path | None = None
    notes: list[str] = field(default_factory=list)


def run_bridge(*, device: str, policy: str | Path, trace: str | Path | Trace, duration_s: float,
               epoch_s: float | None = None, trace_start_s: float = 0.0, out: str | Path | None = None,
               compare_sim: bool = False, plot: str | Path | None = None, seed: int = 0, inject: bool = True,
               mem_cap_frac: float = 0.25, scenario: str | Scenario | None = None, controller=None,
               on_epoch=None) -> BridgeRun:
    """Run the exported ``policy`` (or another ``controller`` through the same path) on ``device``.

    ``device="sim"`` replays ``trace`` from ``trace_start_s`` in the simulator (fast, no waiting);
    ``device="local"`` serves real supernet variants on this machine in real time for ``duration_s``
    seconds while the contention injector replays the same trace segment (``inject=False`` to skip it).
    ``controller``: a Controller (e.g. a ``static-full`` baseline) to run instead of the policy; the
    policy still fixes the scenario. ``plot``: PNG path for the sim-vs-real figure (default: beside
    ``out``, when comparing).
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    runtime = PolicyRuntime(policy, scenario)
    scn = runtime.scenario
    epoch_s = float(epoch_s or scn.epoch_s)
    if not (epoch_s > 0 and math.isfinite(epoch_s)):
        raise ValueError(f"epoch_s must be a positive number of seconds, got {epoch_s!r}")
    if not (duration_s >= epoch_s and math.isfinite(duration_s)):
        raise ValueError(f"duration must be at least one epoch ({epoch_s:g} s), got {duration_s!r}")
    notes = []
    if not math.isclose(epoch_s, scn.epoch_s):
        notes.append(f"epoch {epoch_s:g} s differs from the scenario's {scn.epoch_s:g} s the policy was trained on")
    epochs = max(1, round(duration_s / epoch_s))
    decider = runtime if controller is None else ReadingDecider(controller, runtime.contract)
    name = runtime.name if controller is None else getattr(controller, "name", "controller")
    the_trace = resolve_trace(trace)
    if device == "sim":
        from adascale_rl.hardware_bridge.devices.sim import SimDevice

        dev = SimDevice(scn, the_trace, epoch_s=epoch_s, start_epoch=int(trace_start_s // epoch_s), seed=seed)
        if dev.epochs_left < epochs:
            raise ValueError(f"trace {the_trace.meta.name!r} has {dev.epochs_left} epochs after "
                             f"{trace_start_s:g} s, fewer than the {epochs} asked for")
        frame = run_loop(dev, decider, epochs=epochs, epoch_s=epoch_s, on_epoch=on_epoch)
    else:
        frame, dev_notes = _run_local(scn, decider, the_trace, epochs, epoch_s, trace_start_s, seed, inject,
                                      mem_cap_frac, on_epoch)
        notes.extend(dev_notes)
        dev = None
    reading_is = "coming" if device == "sim" else "previous"
    result = BridgeRun(frame, summarize_run(frame, scn), scn, device, name, notes=notes)
    if out is not None:
        result.csv_path = Path(out)
        result.csv_path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(result.csv_path, index=False)
    if compare_sim:
        result.comparison = compare_with_sim(frame, scn, epoch_s=epoch_s, reading_is=reading_is, seed=seed)
        result.summary.update(result.comparison.summary())
        png = plot or (result.csv_path.with_suffix(".sim_vs_real.png") if result.csv_path else None)
        if png is not None:
            result.png_path = plot_comparison(frame, result.comparison, scn, png)
    return result


def _run_local(scenario: Scenario, decider, trace: Trace, epochs: int, epoch_s: float, trace_start_s: float,
               seed: int, inject: bool, mem_cap_frac: float, on_epoch) -> tuple[pd.DataFrame, list[str]]:
    from adascale_rl.hardware_bridge.contention import ContentionInjector, LoadSchedule
    from adascale_rl.hardware_bridge.devices.local import LocalDevice

    device = LocalDevice(scenario, seed=seed)
    notes = [f"variant weights: {device.weights}", f"energy: {device.energy_source}", *device.reader.notes]
    try:
        if not inject:
            return run_loop(device, decider, epochs=epochs, epoch_s=epoch_s, on_epoch=on_epoch), notes
        schedule = LoadSchedule.from_trace(trace, start_s=trace_start_s, duration_s=epochs * epoch_s + 2.0,
                                           mem_cap_frac=mem_cap_frac)
        with ContentionInjector(schedule) as injector:
            injector.wait_started()
            frame = run_loop(device, decider, epochs=epochs, epoch_s=epoch_s,
                             injected=lambda: injector.mean_upcoming(epoch_s), on_epoch=on_epoch)
        notes.append(f"contention injected from trace {trace.meta.name!r} at {trace_start_s:g} s "
                     f"({injector.n_workers} CPU workers, memory ballast capped at {mem_cap_frac:.0%} of RAM)")
        return frame, notes
    finally:
        device.close()
