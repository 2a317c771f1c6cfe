"""Live run on this machine: the exported PPO policy vs ``static-full`` as the real controller of real supernet
inference, while the contention injector replays a test trace (≥ 3 minutes each).

For each controller, on the same trace segment: real measured p95 latency (per-epoch p95 averaged over
epochs, weighted by completed requests), budget misses (% of resolved requests late, dropped or failed),
modelled energy per request (``local`` profile power × measured service time), served accuracy, and the
simulator's error against the real p95 per epoch (median and p90; goal: median ≤ 15 %).

Needs a policy trained on a scenario whose variants run here (device profile ``local``: the ``local``
scenario with the supernet catalog). Default ``--policy``: the policy bundled for ``local``
(``adascale_rl/data/policies/local``). Writes per-epoch CSVs, sim-vs-real PNGs and ``summary.json`` /
``summary.md`` to ``--out-dir``.

Usage: ``python benchmarks/bridge_live_run.py [--policy DIR] [--duration 180] [--trace NAME]
[--trace-start S] [--out-dir reports/bridge_live]``
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

COLUMNS = ("controller", "epochs", "p95_ms", "budget_ms", "budget_miss_pct", "energy_mj_modelled", "accuracy",
           "switches", "fallbacks", "sim_vs_real_p95_error_median", "sim_vs_real_p95_error_p90",
           "decision_us_p50")


def default_policy() -> Path | None:
    try:
        from adascale_rl.agents.bundled import bundled_policy

        return bundled_policy("local")
    except KeyError:
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default=None, help="exported policy folder for a 'local'-device scenario")
    parser.add_argument("--duration", type=float, default=180.0, help="seconds per controller (≥ 180 for the "
                        "benchmark)")
    parser.add_argument("--trace", default="rpi4b4gb_1200mhz_pattern_12h", help="test trace (manifest name or CSV)")
    parser.add_argument("--trace-start", type=float, default=3600.0)
    parser.add_argument("--mem-cap-frac", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default="reports/bridge_live")
    args = parser.parse_args()

    from adascale_rl.agents.baselines import StaticController, most_accurate_action
    from adascale_rl.hardware_bridge.policy_file import read_contract
    from adascale_rl.hardware_bridge.session import run_bridge
    from adascale_rl.scenario import get_scenario

    policy = Path(args.policy) if args.policy else default_policy()
    if policy is None:
        print("no policy: pass --policy DIR (an exported policy trained on the 'local' scenario); none is "
              "bundled for 'local' yet", file=sys.stderr)
        return 2
    scenario = get_scenario(read_contract(policy).scenario_ref)
    if scenario.profile.name != "local":
        print(f"policy {policy} is for scenario {scenario.name!r} on device {scenario.profile.name!r}; the live "
              "run serves supernet variants on this machine and needs a 'local'-device scenario", file=sys.stderr)
        return 2
    from adascale_rl.envs.contract import DecisionContract

    contract = DecisionContract(scenario)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    controllers = {"ppo": None,
                   "static-full": StaticController(contract, most_accurate_action(contract), "static-full")}
    rows, notes = [], []
    for name, controller in controllers.items():
        print(f"[{name}] {args.duration:g} s live on this machine ...", flush=True)
        result = run_bridge(device="local", policy=policy, trace=args.trace, duration_s=args.duration,
                            trace_start_s=args.trace_start, out=out / f"{name}.csv", compare_sim=True,
                            plot=out / f"{name}.sim_vs_real.png", seed=args.seed, mem_cap_frac=args.mem_cap_frac,
                            controller=controller)
        rows.append({"controller": name, **result.summary})
        notes = result.notes
    summary = {
        "machine": f"2-core x86-64 VM ({platform.machine()}, python {platform.python_version()}), shared",
        "date": time.strftime("%Y-%m-%d"),
        "policy": str(policy), "scenario": scenario.name, "trace": args.trace, "trace_start_s": args.trace_start,
        "duration_s": args.duration, "results": rows, "notes": notes,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = []
        for column in COLUMNS:
            value = row.get(column, "")
            cells.append(f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"written: {out}/summary.json, summary.md, per-epoch CSVs and sim-vs-real PNGs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
