"""Sim-vs-real on this machine, before and after calibrating the catalog from live runs (issue 13).

Pass 1: ``static-full``, ``greedy`` and the exported PPO policy each drive real supernet inference here
(``bridge run --device local``) for ``--duration`` seconds after ``--warmup-s`` of warm-up, while the
contention injector replays a fixed window of the test board's trace; every run is replayed in the
simulator under the measured conditions (per-epoch ``|sim p95 − real p95| / real p95``). Then the live
profiles of the three runs are merged into the catalog (``catalog calibrate``) and pass 2 repeats the three
runs, comparing each with the simulator on the calibrated catalog — and, as a control for run-to-run
variation, with the uncalibrated one too. Controllers decide on the bundled catalog in both passes (the
policy is tied to it); in pass 2 the device's runtime chooses thread counts from the calibrated catalog,
like the simulator it is compared with (``bridge run --cost-catalog``).

Prints a ready-to-paste Markdown table (also ``summary.md``; ``summary.json`` has everything, per-run CSVs,
live profiles and PNGs sit beside it). The load average is recorded for every run: this machine is shared,
and other processes' load changes real latency in ways the injected trace does not.

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

GOAL = 0.15  # median per-epoch p95 error, every controller


def controllers(contract) -> dict[str, object]:
    """name → controller (None = the exported policy itself)."""
    from adascale_rl.agents.baselines import GreedyController, StaticController, most_accurate_action

    return {"static-full": StaticController(contract, most_accurate_action(contract), "static-full"),
            "greedy": GreedyController(contract), "ppo": None}


def row(name: str, label: str, run, comparison) -> dict[str, object]:
    real, sim = comparison.real, comparison.sim
    return {"controller": name, "pass": label, "served": ", ".join(sorted(set(run.frame["served_variant_id"]))),
            "real_p50_ms": real["p50_ms"], "sim_p50_ms": sim["p50_ms"], "real_p95_ms": real["p95_ms"],
            "sim_p95_ms": sim["p95_ms"], "real_miss_pct": real["budget_miss_pct"],
            "sim_miss_pct": sim["budget_miss_pct"], "real_energy_mj": real["energy_mj_modelled"],
            "sim_energy_mj": sim["energy_mj_modelled"], "p95_error_median": comparison.median_error,
            "p95_error_p90": comparison.p90_error, "epochs": comparison.n_epochs,
            "load_average": "–".join(f"{x:.2f}" for x in run.info.load_average)}


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
    parser.add_argument("--out-dir", default="reports/bridge_sim_vs_real")
    args = parser.parse_args()

    from adascale_rl.agents.bundled import bundled_policy
    from adascale_rl.catalog.calibrate import calibrate_table
    from adascale_rl.envs.contract import DecisionContract
    from adascale_rl.hardware_bridge.runtime import PolicyRuntime
    from adascale_rl.hardware_bridge.session import run_bridge
    from adascale_rl.hardware_bridge.sim_vs_real import compare_with_sim, markdown_table

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
              "warmup_s": args.warmup_s, "compare_sim": True, "seed": args.seed, "mem_cap_frac": args.mem_cap_frac,
              "min_count": args.min_count, "progress": True}

    rows, first_runs = [], {}
    for name in chosen:
        run = run_bridge(trace_start_s=args.trace_start, out=out / "pass1" / f"{name}.csv", controller=every[name],
                         **common)
        first_runs[name] = run
        rows.append(row(name, "1: sim on bundled catalog", run, run.comparison))
    calibration = calibrate_table(scenario.table, scenario.profile, [r.live_profile for r in first_runs.values()],
                                  min_count=args.min_count)
    calibrated = calibration.table.save(out / "calibrated_catalog.csv")
    calibration.changes.to_csv(out / "calibration_changes.csv", index=False)
    rerun_start = args.trace_start if args.rerun_trace_start is None else args.rerun_trace_start
    for name in chosen:
        run = run_bridge(trace_start_s=rerun_start, out=out / "pass2" / f"{name}.csv", controller=every[name],
                         cost_catalog=calibrated, **common)
        control = compare_with_sim(run.frame, scenario, epoch_s=run.info.epoch_s, reading_is="previous",
                                   seed=args.seed)
        rows.append(row(name, "2: sim on bundled catalog (control)", run, control))
        rows.append(row(name, "2: sim on calibrated catalog", run, run.comparison))

    import pandas as pd

    table = pd.DataFrame(rows)
    first = table[table["pass"].str.startswith("1")].set_index("controller")["p95_error_median"]
    after = table[table["pass"] == "2: sim on calibrated catalog"].set_index("controller")["p95_error_median"]
    errors_after = ", ".join(f"{k} {v:.1%}" for k, v in after.items())
    verdicts = [f"- goal median p95 error ≤ {GOAL:.0%} for every controller after calibration: "
                f"{'met' if (after <= GOAL).all() else 'missed'} ({errors_after})",
                "- error lower after calibration than before, per controller: " + ", ".join(
                    f"{k} {first[k]:.1%} → {after[k]:.1%} ({'lower' if after[k] < first[k] else 'NOT lower'})"
                    for k in after.index)]
    header = (f"Date {time.strftime('%Y-%m-%d %H:%M')}; machine: {platform.machine()} VM, {os.cpu_count()} CPUs, "
              f"python {platform.python_version()}; trace {args.trace} from {args.trace_start:g} s "
              f"(pass 2 from {rerun_start:g} s), {args.duration:g} s measured + {args.warmup_s:g} s warm-up per run; "
              f"policy {policy}; {len(calibration.changes)} catalog cells calibrated from "
              f"{sum(r.live_profile.frame['count'].sum() for r in first_runs.values())} live requests.")
    text = "\n".join([header, "", markdown_table(table), "", *verdicts])
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.md").write_text(text + "\n", encoding="utf-8")
    (out / "summary.json").write_text(json.dumps({
        "args": vars(args), "policy": str(policy), "scenario_digest": scenario.digest(),
        "results": json.loads(table.to_json(orient="records")),
        "calibration_changes": json.loads(calibration.changes.to_json(orient="records")),
        "notes": {name: run.notes for name, run in first_runs.items()},
    }, indent=2, default=lambda x: None if isinstance(x, float) and not math.isfinite(x) else str(x)) + "\n")
    print(text)
    print(f"\nwritten: {out}/summary.md, summary.json, calibrated_catalog.csv, pass1/ and pass2/ (CSVs, live "
          "profiles, sim-vs-real PNGs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
