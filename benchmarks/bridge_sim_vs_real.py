"""Sim-vs-real on this machine, before and after calibrating the catalog from live runs (issue 13).

Pass 1: ``static-full``, ``greedy`` and the exported PPO policy each drive real supernet inference here
(``bridge run --device local``) for ``--duration`` seconds after ``--warmup-s`` of warm-up, while the
contention injector replays a fixed window of the test board's trace; every run is replayed in the
simulator under the measured conditions (per-epoch ``|sim p95 − real p95| / real p95``). Then the live
profiles of the three runs are merged into the catalog (``catalog calibrate``) and pass 2 repeats the three
runs, comparing each with the simulator on the calibrated catalog — and, as a control for run-to-run
variation, with the uncalibrated one too. Controllers decide on the bundled catalog in both passes (the
policy is tied to it); in pass 2 the device's runtime chooses thread counts from the calibrated catalog,
like the simulator it is compared with (``bridge run --cost-catalog``). The calibration scales each measured
variant's unmeasured thread counts with it (``calibrate_table(transfer=True)``), so pass 2 serves on the
configurations pass 1 measured; the ``served`` column (variant@configuration, share of epochs) shows it.

The simulator's per-epoch prediction is the median over ``--replications`` replays
(:func:`~adascale_rl.hardware_bridge.sim_vs_real.compare_with_sim`). Besides the three comparisons the
summary gives the *run-to-run* error — pass 2's real per-epoch p95 against pass 1's, same controller and
window — the floor that live-to-live noise puts under any simulator's error here.

Prints a ready-to-paste Markdown table (also ``summary.md``; ``summary.json`` has everything, per-run CSVs,
live profiles and PNGs sit beside it). The load average is recorded for every run: other processes' load
changes real latency in ways the injected trace does not. ``--rescore`` scores runs already made (no live
runs), e.g. after a change to the simulator or the comparison.

Usage (about 2 × 3 × (duration + warm-up) seconds; the issue's measurement uses the defaults)::

    .venv/bin/python benchmarks/bridge_sim_vs_real.py [--duration 180] [--warmup-s 10] \\
        [--trace rpi4b4gb_1200mhz_pattern_12h] [--trace-start 3600] [--out-dir reports/bridge_sim_vs_real]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import pandas as pd

from adascale_rl.agents.baselines import GreedyController, StaticController, most_accurate_action
from adascale_rl.agents.bundled import bundled_policy
from adascale_rl.catalog.calibrate import LiveProfile, calibrate_table
from adascale_rl.envs.contract import DecisionContract
from adascale_rl.hardware_bridge.runtime import PolicyRuntime
from adascale_rl.hardware_bridge.session import run_bridge
from adascale_rl.hardware_bridge.sim_vs_real import (
    DEFAULT_REPLICATIONS,
    compare_with_sim,
    load_run,
    markdown_table,
    plot_comparison,
    run_to_run_error,
    served_cells,
    sidecar,
)
from adascale_rl.scenario import with_catalog

GOAL = 0.15  # median per-epoch p95 error, every controller
CALIBRATED = "calibrated_catalog.csv"


def controllers(contract) -> dict[str, object]:
    """name → controller (None = the exported policy itself)."""
    return {"static-full": StaticController(contract, most_accurate_action(contract), "static-full"),
            "greedy": GreedyController(contract), "ppo": None}


def row(name: str, label: str, frame, info, comparison) -> dict[str, object]:
    real, sim = comparison.real, comparison.sim
    return {"controller": name, "pass": label, "served": served_cells(frame),
            "real_p50_ms": real["p50_ms"], "sim_p50_ms": sim["p50_ms"], "real_p95_ms": real["p95_ms"],
            "sim_p95_ms": sim["p95_ms"], "real_miss_pct": real["budget_miss_pct"],
            "sim_miss_pct": sim["budget_miss_pct"], "real_energy_mj": real["energy_mj_modelled"],
            "sim_energy_mj": sim["energy_mj_modelled"], "p95_error_median": comparison.median_error,
            "p95_error_p90": comparison.p90_error, "p95_noise_floor": comparison.noise_floor,
            "p95_band_coverage": comparison.coverage,
            "epochs": comparison.n_epochs,
            "load_average": "–".join(f"{x:.2f}" for x in info.load_average)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default=None, help="exported policy for a 'local'-device scenario "
                        "(default: the bundled adascale_rl/data/policies/local)")
    parser.add_argument("--duration", type=float, default=180.0, help="measured seconds per run")
    parser.add_argument("--warmup-s", type=float, default=10.0, help="warm-up seconds per run (not scored)")
    parser.add_argument("--trace", default="rpi4b4gb_1200mhz_pattern_12h", help="test-board trace")
    parser.add_argument("--trace-start", type=float, default=3600.0, help="window start (s into the trace)")
    parser.add_argument("--rerun-trace-start", type=float, default=None,
                        help="window of pass 2 (default: the same as pass 1)")
    parser.add_argument("--controllers", default="static-full,greedy,ppo")
    parser.add_argument("--min-count", type=int, default=100, help="live samples a cell needs to be calibrated")
    parser.add_argument("--mem-cap-frac", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--replications", type=int, default=DEFAULT_REPLICATIONS,
                        help="simulator replays per run (its per-epoch prediction is their median)")
    parser.add_argument("--rescore", action="store_true",
                        help="no live runs: score the runs already under --out-dir (e.g. after changing the simulator)")
    parser.add_argument("--out-dir", default="reports/bridge_sim_vs_real")
    args = parser.parse_args()

    policy = Path(args.policy) if args.policy else bundled_policy("local")
    scenario = PolicyRuntime(policy).scenario
    if scenario.profile.name != "local":
        print(f"policy {policy} is for device {scenario.profile.name!r}; live runs serve supernet variants on "
              "this machine and need a 'local'-device scenario", file=sys.stderr)
        return 2
    every = controllers(DecisionContract(scenario))
    chosen = [name.strip() for name in args.controllers.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in every]
    if unknown:
        print(f"unknown controller(s) {', '.join(unknown)}; choose from {', '.join(every)}", file=sys.stderr)
        return 2
    out = Path(args.out_dir)
    common = {"device": "local", "policy": policy, "trace": args.trace, "duration_s": args.duration,
              "warmup_s": args.warmup_s, "seed": args.seed, "mem_cap_frac": args.mem_cap_frac,
              "min_count": args.min_count, "progress": True}

    if args.rescore:
        return report(out, chosen, scenario, args, policy, notes={})
    notes = {}
    for name in chosen:
        run = run_bridge(trace_start_s=args.trace_start, out=out / "pass1" / f"{name}.csv", controller=every[name],
                         compare_sim=False, **common)
        notes[name] = run.notes
    live = [LiveProfile.load(sidecar(out / "pass1" / f"{name}.csv", ".live_profile.csv")) for name in chosen]
    calibration = calibrate_table(scenario.table, scenario.profile, live, min_count=args.min_count)
    calibrated = calibration.table.save(out / CALIBRATED)
    calibration.changes.to_csv(out / "calibration_changes.csv", index=False)
    rerun_start = args.trace_start if args.rerun_trace_start is None else args.rerun_trace_start
    for name in chosen:
        run_bridge(trace_start_s=rerun_start, out=out / "pass2" / f"{name}.csv", controller=every[name],
                   cost_catalog=calibrated, compare_sim=False, **common)
    return report(out, chosen, scenario, args, policy, notes)


def report(out: Path, chosen: list[str], scenario, args, policy: Path, notes: dict[str, list[str]]) -> int:
    """Score the runs under ``out`` (pass1/, pass2/, the calibrated catalog) and write the summary."""
    calibrated = with_catalog(scenario, out / CALIBRATED)
    rows, counts, runs = [], 0, {}
    passes = (("1: sim on bundled catalog", "pass1", scenario, ""),
              ("2: sim on bundled catalog (control)", "pass2", scenario, ".bundled"),
              ("2: sim on calibrated catalog", "pass2", calibrated, ".calibrated"))
    for name in chosen:
        loaded = {folder: load_run(out / folder / f"{name}.csv") for folder in ("pass1", "pass2")}
        runs[name] = (loaded["pass1"][0], loaded["pass2"][0])
        counts += int(LiveProfile.load(sidecar(out / "pass1" / f"{name}.csv", ".live_profile.csv"))
                      .frame["count"].sum())
        for label, folder, catalog_scenario, suffix in passes:
            frame, info = loaded[folder]
            comparison = compare_with_sim(frame, catalog_scenario, epoch_s=info.epoch_s, reading_is=info.reading_is,
                                          seed=args.seed, replications=args.replications)
            plot_comparison(frame, comparison, catalog_scenario, out / folder / f"{name}{suffix}.sim_vs_real.png",
                            title=f"{name}, pass {label}")
            rows.append(row(name, label, frame, info, comparison))
    table = pd.DataFrame(rows)
    by_pass = {label: table[table["pass"] == label].set_index("controller")["p95_error_median"]
               for label in table["pass"].unique()}
    first = by_pass["1: sim on bundled catalog"]
    control = by_pass["2: sim on bundled catalog (control)"]
    after = by_pass["2: sim on calibrated catalog"]
    floor = {name: run_to_run_error(*runs[name]) for name in chosen}

    def lower(before, now) -> str:
        return ", ".join(f"{k} {before[k]:.1%} → {now[k]:.1%} ({'lower' if now[k] < before[k] else 'NOT lower'})"
                         for k in now.index)

    errors_after = ", ".join(f"{k} {v:.1%}" for k, v in after.items())
    verdicts = [f"- goal median p95 error ≤ {GOAL:.0%} for every controller after calibration: "
                f"{'met' if (after <= GOAL).all() else 'missed'} ({errors_after})",
                "- pass 2 on the calibrated catalog vs the same runs on the bundled one: " + lower(control, after),
                "- pass 2 on the calibrated catalog vs pass 1 before calibration: " + lower(first, after),
                "- run to run (pass 2 real vs pass 1 real, per-epoch p95, median): "
                + ", ".join(f"{k} {v:.1%}" for k, v in floor.items())]
    rerun_start = args.trace_start if args.rerun_trace_start is None else args.rerun_trace_start
    header = (f"Date {time.strftime('%Y-%m-%d %H:%M')}; machine: {platform.machine()} VM, {os.cpu_count()} CPUs, "
              f"python {platform.python_version()}; trace {args.trace} from {args.trace_start:g} s "
              f"(pass 2 from {rerun_start:g} s), {args.duration:g} s measured + {args.warmup_s:g} s warm-up per run; "
              f"policy {policy}; simulator prediction = median of {args.replications} replays per epoch; catalog "
              f"calibrated from {counts} live requests of pass 1.")
    text = "\n".join([header, "", markdown_table(table), "", *verdicts])
    (out / "summary.md").write_text(text + "\n", encoding="utf-8")
    (out / "summary.json").write_text(json.dumps({
        "args": vars(args), "policy": str(policy), "scenario_digest": scenario.digest(),
        "results": json.loads(table.to_json(orient="records")), "run_to_run_p95_error_median": floor,
        "notes": notes,
    }, indent=2, default=lambda x: None if isinstance(x, float) and not math.isfinite(x) else str(x)) + "\n")
    print(text)
    print(f"\nwritten: {out}/summary.md, summary.json, {CALIBRATED}, pass1/ and pass2/ (CSVs, live profiles, "
          "sim-vs-real PNGs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
