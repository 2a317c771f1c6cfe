"""Controller quality on the test split of the default scenario, all controllers in one run.

Reports PPO's score against the oracle and greedy, and PPO versus static-full: p95-latency ratio,
energy ratio, accuracy difference and budget-miss rate (goals: score ≥ 0.95 and above greedy; ≥ 2×
latency, ≥ 3× energy, misses ≤ 2 %).

Usage: ``python benchmarks/controllers_pixel4.py [--policy runs/NAME] [--episodes 16] [--change-share 0.5]
[--trace NAME ...] [--out reports/bench]`` (default policy: the one bundled with the package; ``--change-share
0`` places every segment uniformly, as evaluations did before segments were placed on state changes;
``--trace`` evaluates on bundled traces by name instead of the test split — the tables before 2026-12-07
used ``rpi4b4gb_1200mhz_pattern_12h``, then the whole test split).
"""

from __future__ import annotations

import argparse
import json
import time

from adascale_rl.agents.bundled import bundled_policy
from adascale_rl.agents.evaluate import CHANGE_SHARE
from adascale_rl.agents.jobs import run_evaluation
from adascale_rl.scenario import get_scenario
from adascale_rl.traces import find_entry

CONTROLLERS = ["ppo", "greedy", "best-static", "static-full", "random", "oracle"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default=None)
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--episode-epochs", type=int, default=256)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--change-share", type=float, default=CHANGE_SHARE)
    parser.add_argument("--trace", action="append", default=None, help="bundled trace name (repeatable)")
    parser.add_argument("--out", default="reports/bench_controllers")
    args = parser.parse_args()
    scenario = get_scenario("pixel4")
    policy = args.policy or str(bundled_policy(scenario.name))
    started = time.perf_counter()
    traces = [find_entry(name).load() for name in args.trace] if args.trace else None
    result = run_evaluation(scenario, CONTROLLERS, policy, traces=traces, episodes=args.episodes,
                            episode_epochs=args.episode_epochs, seed=args.seed, out_dir=args.out,
                            change_share=args.change_share)
    table = result.summary.set_index("controller")
    ppo, full = table.loc["ppo"], table.loc["static-full"]
    goals = {
        "ppo_score": round(float(ppo["score"]), 4),
        "greedy_score": round(float(table.loc["greedy", "score"]), 4),
        "best_static_score": round(float(table.loc["best-static", "score"]), 4),
        "p95_latency_ratio_static_full_over_ppo": round(float(full["p95_ms"] / ppo["p95_ms"]), 3),
        "energy_ratio_static_full_over_ppo": round(float(full["energy_mj"] / ppo["energy_mj"]), 3),
        "accuracy_difference_pt_ppo_minus_static_full": round(100 * float(ppo["accuracy"] - full["accuracy"]), 2),
        "ppo_budget_miss_pct": round(float(ppo["budget_miss_pct"]), 3),
        "static_full_budget_miss_pct": round(float(full["budget_miss_pct"]), 3),
    }
    print(result.summary.to_markdown(index=False, floatfmt=".4g"))
    print(json.dumps({"date": time.strftime("%Y-%m-%d"), "policy": policy, "traces": result.meta["traces"],
                      "unseen_boards": result.meta["unseen_boards"], "episodes": args.episodes,
                      "episode_epochs": args.episode_epochs, "seed": args.seed, "change_share": args.change_share,
                      "episodes_with_state_change": result.meta["episodes_with_state_change"],
                      "wall_s": round(time.perf_counter() - started, 1), **goals}, indent=2))


if __name__ == "__main__":
    main()
