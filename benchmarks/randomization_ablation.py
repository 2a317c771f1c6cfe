"""What each domain-randomisation knob contributes to generalisation across boards.

For every configuration — no randomisation, the scenario's full ``[randomize]`` table, and the full table
with one knob (or knob group) back at its identity — runs the leave-one-board-out evaluation
(:mod:`adascale_rl.experiments.cross_board`, the engine behind ``adascale-rl evaluate --cross-board``) in
its own folder, then tabulates PPO's score per held-out board and overall (IQM with a 95 % stratified-
bootstrap CI over seeds × boards) and its budget misses. Resumable: finished cells are kept per folder.

    python benchmarks/randomization_ablation.py --seeds 3 --out reports/ablation
    python benchmarks/randomization_ablation.py --configs none,full --seeds 5   # a subset

Writes ``OUT/ablation.md``, ``OUT/ablation.csv`` and ``OUT/ablation.png``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from adascale_rl.experiments.aggregate import aggregate_scores
from adascale_rl.experiments.backends import InlineBackend, PoolBackend
from adascale_rl.experiments.cross_board import run_cross_board
from adascale_rl.experiments.table import cell_scores
from adascale_rl.randomization import Randomization
from adascale_rl.scenario import get_scenario

#: knob groups switched off together (a group acts on one physical quantity)
GROUPS = {
    "freq": ("freq_scale", "freq_floor"),
    "bg": ("bg_gain", "bg_offset"),
    "mem": ("mem_shift",),
    "temp": ("temp_offset_c",),
    "rate": ("rate_scale",),
    "time": ("time_warp", "splice"),
    "sensors": ("sensor_dropout",),
}


def configurations(full: Randomization) -> dict[str, Randomization]:
    """``none``, ``full`` and ``full-GROUP`` for every group."""
    configs = {"none": Randomization(), "full": full}
    for group, knobs in GROUPS.items():
        reduced = full
        for knob in knobs:
            reduced = reduced.without(knob)
        configs[f"full-{group}"] = reduced
    return configs


def scenario_file(base_toml: Path, randomization: Randomization, out: Path) -> Path:
    """``base_toml`` with its ``[randomize]`` table replaced (same name, so its hyperparameters apply)."""
    text = base_toml.read_text(encoding="utf-8").split("[randomize]")[0].rstrip() + "\n"
    if randomization.enabled:
        text += "\n[randomize]\n" + "\n".join(f"{key} = {value}" for key, value in randomization.to_dict().items())
        text += "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="pixel4", help="bundled scenario whose [randomize] table is ablated")
    parser.add_argument("--configs", default=None, help="comma-separated subset (default: all)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--timesteps", type=int, default=None)
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=Path("reports/ablation"))
    args = parser.parse_args()

    base = get_scenario(args.scenario)
    configs = configurations(base.randomize)
    if args.configs:
        configs = {name: configs[name] for name in args.configs.split(",")}
    rows, per_board = [], []
    for name, randomization in configs.items():
        started = time.perf_counter()
        toml = scenario_file(Path(base.source), randomization, args.out / name / f"{base.name}.toml")
        backend = InlineBackend() if args.workers == 1 else PoolBackend(args.workers)
        outcome = run_cross_board(str(toml), args.out / name, backend, seeds=range(args.seeds),
                                  episodes=args.episodes, timesteps=args.timesteps, show_progress=False)
        cells = cell_scores(outcome.grid.table)
        ppo = cells[cells["controller"] == "ppo"].assign(board=lambda f: f["fold"].str.removeprefix("boards/"))
        overall = aggregate_scores(ppo, task="board")
        total = overall[overall["task"] == "overall"].iloc[0]
        boards = outcome.boards[outcome.boards["board"] != "overall"]
        rows.append({"config": name, "iqm": total["iqm"], "ci_low": total["ci_low"], "ci_high": total["ci_high"],
                     "worst_board_iqm": boards["ppo_iqm"].min(), "miss_pct": ppo["budget_miss_pct"].mean(),
                     "worst_board_miss_pct": boards["ppo_miss_pct"].max(),
                     "boards_meeting_all_goals": int((boards["score_goal"] & boards["beats_baselines"]
                                                      & boards["miss_goal"]).sum()),
                     "boards": len(boards), "wall_s": round(time.perf_counter() - started)})
        per_board.append(boards.assign(config=name)[["config", "board", "ppo_iqm", "ppo_miss_pct"]])
        print(f"{name}: IQM {total['iqm']:.3f} [{total['ci_low']:.3f}, {total['ci_high']:.3f}]", flush=True)
    table = pd.DataFrame(rows)
    boards_table = pd.concat(per_board).pivot(index="config", columns="board", values="ppo_iqm").loc[table["config"]]
    table.to_csv(args.out / "ablation.csv", index=False)
    groups = ", ".join(f"{group}: {'+'.join(knobs)}" for group, knobs in GROUPS.items())
    plot(table, args.out / "ablation.png")
    lines = ["# Domain-randomisation ablation (leave-one-board-out, PPO)", "",
             f"{args.seeds} training seeds per held-out board; IQM of the score over seeds × boards with a 95 % "
             "stratified-bootstrap CI; `full-X` = the full table with knob group X off "
             f"({groups}).", "",
             table.to_markdown(index=False, floatfmt=".3f"), "", "PPO IQM score per held-out board:", "",
             boards_table.reset_index().to_markdown(index=False, floatfmt=".3f"), "", "![ablation](ablation.png)", ""]
    (args.out / "ablation.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


def plot(table: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(table) + 1.5))
    y = range(len(table))
    ax.errorbar(table["iqm"], list(y), xerr=[table["iqm"] - table["ci_low"], table["ci_high"] - table["iqm"]],
                fmt="o", capsize=3, label="IQM, all boards (95 % CI)")
    ax.plot(table["worst_board_iqm"], list(y), "x", color="tab:red", label="worst held-out board")
    ax.axvline(0.95, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(list(y), table["config"])
    ax.invert_yaxis()
    ax.set_xlabel("PPO score on held-out boards (1 = oracle)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
