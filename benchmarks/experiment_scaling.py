"""The same 24-cell experiment grid run serially, on a 2-worker process pool and on Ray, in one run.

Grid: pixel4, leave-one-board-out over the three bundled boards (3 test sets) × 8 cells each (PPO with
3 training seeds + greedy, best-static, static-full, random, oracle) = 24 cells. Reports wall times and
ratios (goals: ≥ 1.8× with 2 workers, Ray ≤ 15 % over the pool; Ray's time includes starting its local
instance, as a user's `--ray` run does), checks the three result tables are identical, and estimates a
paper-scale 1,000-cell grid on an N-node cluster from the measured per-cell costs (PPO cells with the
training scaled to the bundled 150,000-step budget). Prints a ready-to-paste Markdown section.

Usage: ``python benchmarks/experiment_scaling.py [--timesteps 16384] [--episodes 4] [--length 200]``
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from adascale_rl.agents.ppo import load_hyperparams
from adascale_rl.experiments.backends import InlineBackend, PoolBackend, RayBackend
from adascale_rl.experiments.engine import run_grid
from adascale_rl.experiments.grid import load_grid

BOARDS = ["rpi4b8gb_1800mhz_pattern_6h", "rpi4b2gb_800mhz_pattern_12h", "rpi4b4gb_1200mhz_pattern_12h"]
GRID = """
name = "scaling"
scenarios = ["pixel4"]
controllers = ["ppo", "greedy", "best-static", "static-full", "random", "oracle"]
seeds = [0, 1, 2]

[episodes]
count = {episodes}
length = {length}
seed = 2024

[training]
timesteps = {timesteps}
eval_freq = {timesteps}

[[trace_sets]]
name = "lobo"
leave_one_out = {boards}
"""


def cell_costs(out: Path) -> pd.DataFrame:
    """Per cell: controller, wall and CPU time, and (PPO) the training part of the wall time (run.json)."""
    plan = json.loads((out / "plan.json").read_text())["cells"]
    rows = []
    for key, cell in plan.items():
        status = json.loads((out / "cells" / f"{key}.json").read_text())
        run = out / "runs" / key / "run.json"
        train_s = json.loads(run.read_text())["wall_s"] if run.is_file() else 0.0
        rows.append({"controller": cell["controller"], "wall_s": status["wall_s"], "cpu_s": status["cpu_s"],
                     "train_s": train_s})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=16384, help="PPO training steps per cell")
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--length", type=int, default=200, help="epochs per test episode")
    parser.add_argument("--nodes", default="1,4,16", help="cluster sizes for the 1,000-cell estimate")
    parser.add_argument("--cores-per-node", type=int, default=16)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="adascale-scaling-"))
    grid_file = work / "grid.toml"
    grid_file.write_text(GRID.format(episodes=args.episodes, length=args.length, timesteps=args.timesteps,
                                     boards=json.dumps(BOARDS)), encoding="utf-8")
    grid = load_grid(grid_file)
    load_before = os.getloadavg()
    walls, tables, loads = {}, {}, {}
    for name, backend in (("serial", InlineBackend()), ("pool, 2 workers", PoolBackend(2)),
                          ("ray, local, 2 CPUs", RayBackend(workers=2))):
        started = time.perf_counter()
        outcome = run_grid(grid, work / name.split(",")[0], backend, show_progress=False)
        walls[name] = time.perf_counter() - started
        loads[name] = os.getloadavg()[0]
        assert not outcome.failures, outcome.failures
        tables[name] = outcome.table
        print(f"{name}: {walls[name]:.1f} s", flush=True)
    load_after = os.getloadavg()
    used = {}
    for name in walls:
        costs_of_run = cell_costs(work / name.split(",")[0])
        used[name] = (costs_of_run["cpu_s"].sum(), costs_of_run["wall_s"].sum())
    slot_use = {name: used[name][1] / ((1 if name == "serial" else 2) * walls[name]) for name in walls}
    first = next(iter(tables.values()))
    identical = all(first.equals(t) for t in tables.values())
    serial, pool, ray = walls.values()
    costs = cell_costs(work / "serial")
    n_cells = len(costs)
    full_steps = int(load_hyperparams("pixel4")["n_timesteps"])
    # per-cell cost in CPU seconds (what a dedicated core spends; wall time here depends on the other users),
    # the PPO training part scaled from this grid's timesteps to the bundled budget
    ppo = costs[costs["controller"] == "ppo"]
    train_cpu = ppo["train_s"] * ppo["cpu_s"] / ppo["wall_s"]
    paper_ppo = (ppo["cpu_s"] + train_cpu * (full_steps / args.timesteps - 1)).mean()
    other = costs[costs["controller"] != "ppo"]["cpu_s"].mean()
    share = len(ppo) / n_cells
    per_cell = share * paper_ppo + (1 - share) * other
    efficiency = slot_use["ray, local, 2 CPUs"]
    lines = [
        f"### Experiment grid scaling — `python benchmarks/experiment_scaling.py --timesteps {args.timesteps} "
        f"--episodes {args.episodes} --length {args.length}`", "",
        f"2-core x86-64 VM, shared; {time.strftime('%Y-%m-%d')}; load average (1/5/15 min) before "
        f"{'/'.join(f'{v:.2f}' for v in load_before)}, after {'/'.join(f'{v:.2f}' for v in load_after)}. "
        f"Grid: pixel4, leave-one-board-out (3 test sets) × (PPO × 3 seeds, {args.timesteps} steps + greedy, "
        f"best-static, static-full, random, oracle) = {n_cells} cells, {args.episodes} test episode(s) of "
        f"{args.length} epochs each. Result tables identical across the three: **{identical}**.", "",
        "| run | wall time | speed-up vs serial | vs pool | cell CPU time | cores obtained | slot use | "
        "1-min load at its end |", "|---|---|---|---|---|---|---|---|",
        *(f"| {label} | {walls[name]:.1f} s | {serial / walls[name]:.2f}×{goal} | {ratio} | {used[name][0]:.0f} s | "
          f"{used[name][0] / walls[name]:.2f} | {slot_use[name]:.0%} | {loads[name]:.2f} |"
          for name, label, goal, ratio in (
              ("serial", "serial (`--workers 1`)", "", "—"),
              ("pool, 2 workers", "process pool (`--workers 2`)", " (goal ≥ 1.8×)", "1.00×"),
              ("ray, local, 2 CPUs", "Ray, local instance (`--ray --workers 2`, start-up included)", "",
               f"{ray / pool:.2f}× (overhead {100 * (ray / pool - 1):+.0f} %, goal ≤ +15 %)"))),
        "",
        "*cell CPU time*: CPU seconds of the worker processes inside cells (the work; the same in every run "
        "when nothing spins); *cores obtained*: that over the wall time — on a shared machine what the other "
        "users left us; *slot use*: the cells' wall time over (cells at once × wall time) — the share of the "
        "run spent inside cells rather than starting workers, dispatching or waiting for the last cell.", "",
        "The work (cell CPU time) is the same in every run, so speed-up ≈ ratio of cores obtained, and cores "
        "obtained = slots × slot use × the share of a core a busy slot got from the scheduler: slot use is "
        "the engine's part, that share the other users'. Engine-only view: pool slot use "
        f"{slot_use['pool, 2 workers']:.0%} → {2 * slot_use['pool, 2 workers']:.2f}× with 2 cores to ourselves; "
        f"Ray's overhead over the pool in slot use: "
        f"{100 * (slot_use['pool, 2 workers'] / slot_use['ray, local, 2 CPUs'] - 1):+.0f} %.", "",
        f"Measured per-cell cost (CPU time, serial run): PPO {ppo['cpu_s'].mean():.1f} s ({train_cpu.mean():.1f} s "
        f"of it training), other cells {other:.1f} s (oracle "
        f"{costs.loc[costs.controller == 'oracle', 'cpu_s'].mean():.1f} s). Paper-scale estimate: 1,000 cells with "
        f"the same mix ({share:.0%} PPO) and PPO trained for the bundled {full_steps:,} steps (no periodic "
        f"validation; {paper_ppo:.0f} CPU-s per PPO cell) = {1000 * per_cell / 3600:.1f} core-hours; on a Ray "
        f"cluster of {args.cores_per_node}-core nodes, one cell per core, at the slot use Ray reached here "
        f"({efficiency:.0%}, local start-up included):", "",
        "| nodes | cores | estimated wall time |", "|---|---|---|",
    ]
    for nodes in (int(n) for n in args.nodes.split(",")):
        cores = nodes * args.cores_per_node
        lines.append(f"| {nodes} | {cores} | {1000 * per_cell / (cores * efficiency) / 3600:.2f} h |")
    lines += ["", "(The estimate assumes cells do not contend for memory bandwidth and ignores the tail of the "
              "last wave of cells; ≥ 1,000 cells over a few hundred cores keeps that tail small.)"]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
