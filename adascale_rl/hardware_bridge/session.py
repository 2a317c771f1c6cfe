"""One bridge run end to end (what ``adascale-rl bridge run`` and the live benchmarks call): load the policy,
pick the device, replay the trace's contention, run the closed loop with a progress bar, write the CSV and
its record, write the online profiler's live profile and the catalog corrected from it, compare with the
simulator and plot.

Files beside ``out`` (``RUN.csv``): ``RUN.run.json`` (:class:`~.sim_vs_real.RunInfo`, what a later
``bridge report`` needs), and on a real device ``RUN.live_profile.csv`` (per-variant serving estimates,
:mod:`adascale_rl.catalog.calibrate`) and ``RUN.catalog.csv`` (the scenario's catalog with its serving
overhead calibrated from them — ``catalog calibrate`` does the same for any set of live profiles), with
``--compare-sim`` also ``RUN.sim_vs_real.png``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from adascale_rl.catalog import VariantTable
from adascale_rl.catalog.calibrate import DEFAULT_MIN_COUNT, Calibration, LiveProfile, calibrate_table
from adascale_rl.hardware_bridge.loop import run_loop, summarize_run
from adascale_rl.hardware_bridge.runtime import PolicyRuntime, ReadingDecider
from adascale_rl.hardware_bridge.sim_vs_real import (
    SIM_ITSELF,
    RunInfo,
    SimComparison,
    compare_with_sim,
    plot_comparison,
    sidecar,
)
from adascale_rl.scenario import Scenario, with_catalog
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
    info: RunInfo
    comparison: SimComparison | None = None
    live_profile: LiveProfile | None = None
    calibration: Calibration | None = None
    csv_path: Path | None = None
    png_path: Path | None = None
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def run_bridge(*, device: str, policy: str | Path, trace: str | Path | Trace, duration_s: float,
               epoch_s: float | None = None, trace_start_s: float = 0.0, out: str | Path | None = None,
               compare_sim: bool = False, plot: str | Path | None = None, seed: int = 0, inject: bool = True,
               mem_cap_frac: float = 0.25, scenario: str | Scenario | None = None, controller=None,
               on_epoch=None, warmup_s: float = 0.0, progress: bool = False, cost_catalog: str | Path | None = None,
               min_count: int = DEFAULT_MIN_COUNT) -> BridgeRun:
    """Run the exported ``policy`` (or another ``controller`` through the same path) on ``device``.

    ``device="sim"`` replays ``trace`` from ``trace_start_s`` in the simulator (fast, no waiting);
    ``device="local"`` serves real supernet variants on this machine in real time for ``duration_s``
    seconds while the contention injector replays the same trace segment (``inject=False`` to skip it).
    ``warmup_s``: seconds run first and left out of the summary and the comparison's scores (marked
    ``warmup`` in the CSV). ``controller``: a Controller (e.g. a ``static-full`` baseline) to run instead
    of the policy; the policy still fixes the scenario. ``compare_sim`` (real devices only): replay the
    run in the simulator. ``cost_catalog``: a catalog of the same variants (e.g. calibrated from an
    earlier run) that the device's runtime uses to choose compute configurations and the simulator of the
    comparison uses for costs — both model the same runtime, so they must agree; decisions still use the
    policy's scenario. ``plot``: PNG path for the sim-vs-real figure (default: beside
    ``out``). ``min_count``: samples a (variant, configuration) needs before the corrected catalog uses it.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if compare_sim and device == "sim":
        raise ValueError(f"--compare-sim compares a real device with the simulator, but --device sim is the "
                         f"simulator: {SIM_ITSELF}; use --device local")
    if not (warmup_s >= 0 and math.isfinite(warmup_s)):
        raise ValueError(f"warmup_s must be a non-negative number of seconds, got {warmup_s!r}")
    runtime = PolicyRuntime(policy, scenario)
    scn = runtime.scenario
    sim_scenario = with_catalog(scn, cost_catalog) if cost_catalog is not None else scn
    epoch_s = float(epoch_s or scn.epoch_s)
    if not (epoch_s > 0 and math.isfinite(epoch_s)):
        raise ValueError(f"epoch_s must be a positive number of seconds, got {epoch_s!r}")
    if not (duration_s >= epoch_s and math.isfinite(duration_s)):
        raise ValueError(f"duration must be at least one epoch ({epoch_s:g} s), got {duration_s!r}")
    notes = []
    if not math.isclose(epoch_s, scn.epoch_s):
        notes.append(f"epoch {epoch_s:g} s differs from the scenario's {scn.epoch_s:g} s the policy was trained on")
    warmup = round(warmup_s / epoch_s)
    epochs = warmup + max(1, round(duration_s / epoch_s))
    decider = runtime if controller is None else ReadingDecider(controller, runtime.contract)
    name = runtime.name if controller is None else getattr(controller, "name", "controller")
    the_trace = resolve_trace(trace)
    load_start = os.getloadavg()[0]
    with _epoch_progress(progress, epochs, f"{name} on {device}", on_epoch) as callback:
        if device == "sim":
            from adascale_rl.hardware_bridge.devices.sim import SimDevice

            dev = SimDevice(scn, the_trace, epoch_s=epoch_s, start_epoch=int(trace_start_s // epoch_s), seed=seed)
            if dev.epochs_left < epochs:
                raise ValueError(f"trace {the_trace.meta.name!r} has {dev.epochs_left} epochs after "
                                 f"{trace_start_s:g} s, fewer than the {epochs} asked for")
            frame = run_loop(dev, decider, epochs=epochs, epoch_s=epoch_s, on_epoch=callback, warmup_epochs=warmup)
            live = None
        else:
            frame, live, dev_notes = _run_local(scn, decider, the_trace, epochs, epoch_s, trace_start_s, seed, inject,
                                                mem_cap_frac, callback, warmup, progress, sim_scenario.table)
            notes.extend(dev_notes)
    if len(frame) < epochs:
        notes.append(f"interrupted: {len(frame)} of {epochs} epochs run")
    if isinstance(scenario, str):
        ref = scenario
    else:
        ref = runtime.policy.scenario_ref if scenario is None else (scn.source or scn.name)
    info = RunInfo(controller=name, device=device, reading_is="coming" if device == "sim" else "previous",
                   scenario_name=scn.name, scenario_ref=str(ref), scenario_digest=scn.digest(), epoch_s=epoch_s,
                   seed=seed, trace=the_trace.meta.name, trace_start_s=float(trace_start_s), warmup_epochs=warmup,
                   date=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                   load_average=(round(load_start, 2), round(os.getloadavg()[0], 2)),
                   cost_catalog=None if cost_catalog is None else str(Path(cost_catalog).resolve()))
    result = BridgeRun(frame, summarize_run(frame, scn), scn, device, name, info, notes=notes, live_profile=live)
    if live is not None:
        result.calibration = calibrate_table(scn.table, scn.profile, [live], min_count=min_count)
    if out is not None:
        _write(result, Path(out))
    if compare_sim:
        result.comparison = compare_with_sim(frame, sim_scenario, epoch_s=epoch_s, reading_is=info.reading_is,
                                             seed=seed)
        result.summary.update(result.comparison.summary())
        png = plot or (sidecar(result.csv_path, ".sim_vs_real.png") if result.csv_path else None)
        if png is not None:
            result.png_path = plot_comparison(frame, result.comparison, sim_scenario, png,
                                              title=f"{name} on {device}")
            result.files.append(result.png_path)
    return result


def _write(result: BridgeRun, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    result.csv_path = out
    result.frame.to_csv(out, index=False)
    result.files += [out, result.info.save(sidecar(out, ".run.json"))]
    if result.live_profile is not None and result.calibration is not None:
        result.files += [result.live_profile.save(sidecar(out, ".live_profile.csv")),
                         result.calibration.table.save(sidecar(out, ".catalog.csv"))]


@contextlib.contextmanager
def _epoch_progress(enabled: bool, epochs: int, desc: str, on_epoch) -> Iterator[Callable[[dict], None]]:
    """A tqdm bar advanced once per epoch (variant served, p95, misses), wrapping the caller's callback."""
    from tqdm.auto import tqdm

    bar = tqdm(total=epochs, desc=desc, unit="epoch", disable=not enabled, dynamic_ncols=True)

    def callback(row: dict) -> None:
        bar.set_postfix_str(f"{'warm-up ' if row['warmup'] else ''}{row['served_variant_id']} "
                            f"p95 {row['latency_p95_ms']:.2f} ms, miss {row['miss_frac']:.0%}"
                            f"{', FALLBACK' if row['fallback'] else ''}", refresh=False)
        bar.update(1)
        if on_epoch is not None:
            on_epoch(row)

    try:
        yield callback
    finally:
        bar.close()


BUILD_SLACK_S = 120.0  # the injector keeps replaying while variants are built (the device's clock pauses)


def _schedule(trace: Trace, start_s: float, duration_s: float, mem_cap_frac: float):
    """The injector's schedule for the run, with ``BUILD_SLACK_S`` more trace where the trace has it, so
    contention does not stop before the loop when variant builds took wall time."""
    from adascale_rl.hardware_bridge.contention import LoadSchedule

    try:
        return LoadSchedule.from_trace(trace, start_s=start_s, duration_s=duration_s + BUILD_SLACK_S,
                                       mem_cap_frac=mem_cap_frac)
    except ValueError:
        return LoadSchedule.from_trace(trace, start_s=start_s, duration_s=duration_s, mem_cap_frac=mem_cap_frac)


def _run_local(scenario: Scenario, decider, trace: Trace, epochs: int, epoch_s: float, trace_start_s: float,
               seed: int, inject: bool, mem_cap_frac: float, on_epoch, warmup: int, progress: bool,
               costs: VariantTable) -> tuple[pd.DataFrame, LiveProfile, list[str]]:
    from adascale_rl.hardware_bridge.contention import ContentionInjector
    from adascale_rl.hardware_bridge.devices.local import LocalDevice

    device = LocalDevice(scenario, seed=seed, progress=progress, cost_table=costs)
    notes = [f"variant weights: {device.weights}", f"energy: {device.energy_source}", *device.reader.notes]
    try:
        if not inject:
            frame = run_loop(device, decider, epochs=epochs, epoch_s=epoch_s, on_epoch=on_epoch, warmup_epochs=warmup)
            device.close()  # stop serving now: the live profile then holds the run's requests only
        else:
            schedule = _schedule(trace, trace_start_s, epochs * epoch_s + 2.0, mem_cap_frac)
            with ContentionInjector(schedule) as injector:
                injector.wait_started()
                frame = run_loop(device, decider, epochs=epochs, epoch_s=epoch_s,
                                 injected=lambda: injector.mean_upcoming(epoch_s), on_epoch=on_epoch,
                                 warmup_epochs=warmup)
                device.close()
            notes.append(f"contention injected from trace {trace.meta.name!r} at {trace_start_s:g} s "
                         f"({injector.n_workers} CPU workers, memory ballast capped at {mem_cap_frac:.0%} of RAM)")
        notes.append(f"built {device.n_built} variant(s) on first use in {device.build_s:.1f} s, excluded "
                     "from serving time")
        if device.broken:
            notes.append("quarantined after failing: " + ", ".join(
                f"{scenario.table.variant_id[v]} ({why})" for v, why in device.broken.items()))
        return frame, device.profiler.live_profile(), notes
    finally:
        device.close()
