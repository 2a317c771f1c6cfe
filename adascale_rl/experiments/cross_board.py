"""Leave-one-board-out evaluation: does a controller trained on some devices hold up on one it never saw?

For every bundled board (the manifest's ``board``: all recordings of one device), PPO is trained with each
of N seeds on every *other* board's recordings and evaluated, with the baselines, on the held-out board's
recordings — the same episodes for every controller of a fold. ``best-static`` picks its variant on the
fold's training boards, so it too has never seen the held-out one.

It is an experiment grid (:mod:`adascale_rl.experiments.grid`) run by the same engine: the grid is written
to ``OUT/cross_board.toml`` (``adascale-rl experiment run OUT/cross_board.toml`` reruns or extends it), and
finished cells are never recomputed. The report adds to the engine's (``OUT/report/``):

- ``OUT/cross_board.md`` and ``.csv``: per held-out board, PPO's interquartile-mean score over the
  training seeds with its 95 % stratified-bootstrap confidence interval
  (:func:`~adascale_rl.experiments.aggregate.aggregate_scores`, rliable's method), the baselines' scores,
  PPO's budget misses (mean and worst seed) and the verdict on each goal; an ``overall`` row pools every
  board (runs = seeds, tasks = boards);
- ``OUT/cross_board.png``: score per board with CI whiskers, PPO vs greedy vs best-static, and misses.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from adascale_rl.agents.palette import FIXED as COLOURS
from adascale_rl.experiments.aggregate import aggregate_scores
from adascale_rl.experiments.engine import GridOutcome, run_grid
from adascale_rl.experiments.grid import load_grid
from adascale_rl.experiments.table import cell_scores

CONTROLLERS = ("ppo", "greedy", "best-static", "static-full", "random", "oracle")
COMPARED = ("ppo", "greedy", "best-static")  # the plot's controllers
GOAL_SCORE = 0.95  # PPO's IQM score on every held-out board
GOAL_MISS_PCT = 2.0  # PPO's budget misses on every held-out board
TRACE_SET = "boards"


@dataclass(frozen=True)
class CrossBoardOutcome:
    """The grid run and the cross-board report."""

    grid: GridOutcome
    boards: pd.DataFrame  # one row per held-out board plus ``overall``
    report: Path
    plot: Path


def write_cross_board_grid(path: Path, scenario: str, seeds: Sequence[int], episodes: int, episode_epochs: int | None,
                           episode_seed: int, timesteps: int | None, hyperparams: str | None,
                           eval_freq: int) -> Path:
    """The leave-one-board-out grid as a TOML file (see module docstring)."""
    lines = ["# leave-one-board-out evaluation written by `adascale-rl evaluate --cross-board`",
             f'name = "cross-board-{Path(scenario).stem}"', f"scenarios = [{json.dumps(_ref(scenario))}]",
             f"controllers = {json.dumps(list(CONTROLLERS))}", f"seeds = {json.dumps(list(seeds))}", "",
             "[episodes]", f"count = {episodes}", f"seed = {episode_seed}"]
    if episode_epochs is not None:
        lines.append(f"length = {episode_epochs}")
    lines += ["", "[training]", f"eval_freq = {eval_freq}"]
    if timesteps is not None:
        lines.append(f"timesteps = {timesteps}")
    if hyperparams is not None:
        lines.append(f"hyperparams = {json.dumps(str(Path(hyperparams).resolve()))}")
    lines += ["", "[[trace_sets]]", f'name = "{TRACE_SET}"', "leave_one_board_out = true", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _ref(scenario: str) -> str:
    """A scenario TOML path made absolute (the grid file lives elsewhere); a bundled name as is."""
    return str(Path(scenario).resolve()) if scenario.endswith(".toml") else scenario


def run_cross_board(scenario: str, out_dir: str | Path, backend, *, seeds: Sequence[int] = range(5),
                    episodes: int = 8, episode_epochs: int | None = None, episode_seed: int = 2024,
                    timesteps: int | None = None, hyperparams: str | None = None, eval_freq: int = 10_000,
                    show_progress: bool = True) -> CrossBoardOutcome:
    """Write the grid, run its missing cells on ``backend`` and write the cross-board report."""
    out = Path(out_dir)
    grid_file = write_cross_board_grid(out / "cross_board.toml", scenario, list(seeds), episodes, episode_epochs,
                                       episode_seed, timesteps, hyperparams, eval_freq)
    outcome = run_grid(load_grid(grid_file), out, backend, show_progress=show_progress)
    boards = board_summary(outcome.table)
    report, plot = write_cross_board_report(out, boards)
    return CrossBoardOutcome(outcome, boards, report, plot)


def board_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per held-out board (and ``overall``): PPO's IQM score and CI over seeds, the baselines' scores,
    PPO's misses (mean and worst seed) and the goal verdicts. ``table``: the grid's result table."""
    cells = cell_scores(table)
    cells["board"] = cells["fold"].str.removeprefix(f"{TRACE_SET}/")
    aggregated = aggregate_scores(cells, task="board")
    ppo = aggregated[aggregated["controller"] == "ppo"].set_index("task")
    rows = []
    for board in [*dict.fromkeys(cells["board"]), "overall"]:
        part = cells if board == "overall" else cells[cells["board"] == board]
        baseline = part[part["controller"] != "ppo"].groupby("controller")["score"].mean()
        misses = part[part["controller"] == "ppo"]["budget_miss_pct"]
        row = {"board": board, "seeds": int(ppo.loc[board, "runs"]) if board in ppo.index else 0}
        row.update({"ppo_iqm": ppo["iqm"].get(board), "ppo_ci_low": ppo["ci_low"].get(board),
                    "ppo_ci_high": ppo["ci_high"].get(board)})
        row.update({name: baseline.get(name) for name in ("greedy", "best-static", "static-full")})
        row.update({"ppo_miss_pct": misses.mean(), "ppo_miss_pct_worst": misses.max(),
                    "greedy_miss_pct": part[part["controller"] == "greedy"]["budget_miss_pct"].mean(),
                    "best_static_miss_pct": part[part["controller"] == "best-static"]["budget_miss_pct"].mean()})
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["score_goal"] = frame["ppo_iqm"] >= GOAL_SCORE
    frame["beats_baselines"] = frame["ppo_ci_low"] > frame[["greedy", "best-static"]].max(axis=1)
    frame["miss_goal"] = frame["ppo_miss_pct"] <= GOAL_MISS_PCT
    return frame


def write_cross_board_report(out_dir: Path, boards: pd.DataFrame) -> tuple[Path, Path]:
    """``cross_board.md``/``.csv``/``.png`` in ``out_dir`` (see module docstring)."""
    boards.to_csv(out_dir / "cross_board.csv", index=False)
    plot = plot_boards(boards, out_dir / "cross_board.png")
    held = boards[boards["board"] != "overall"]
    lines = ["# Leave-one-board-out evaluation", "",
             "Each row: PPO trained on every other board (one run per seed), evaluated with the baselines on this "
             "board, which no controller saw in training. Score = (R − R_random) / (R_oracle − R_random); PPO's is "
             "the interquartile mean over seeds with a 95 % stratified-bootstrap CI; misses = budget misses as % "
             "of resolved requests (PPO: mean over seeds, worst seed).", "",
             _markdown(boards), "",
             f"Goals on every held-out board: PPO IQM ≥ {GOAL_SCORE} — "
             f"{_verdict(held['score_goal'])}; CI lower bound above greedy and best-static — "
             f"{_verdict(held['beats_baselines'])}; misses ≤ {GOAL_MISS_PCT:g} % — {_verdict(held['miss_goal'])}.",
             "", f"![score per board]({plot.name})", ""]
    report = out_dir / "cross_board.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    return report, plot


def _verdict(flags: pd.Series) -> str:
    return "met" if bool(flags.all()) else f"missed on {int((~flags).sum())} of {len(flags)} boards"


def _markdown(boards: pd.DataFrame) -> str:
    shown = boards.assign(ppo=[f"{r.ppo_iqm:.3f} [{r.ppo_ci_low:.3f}, {r.ppo_ci_high:.3f}]"
                               for r in boards.itertuples()],
                          ppo_misses=[f"{r.ppo_miss_pct:.2f} (worst {r.ppo_miss_pct_worst:.2f})"
                                      for r in boards.itertuples()])
    columns = {"board": "held-out board", "seeds": "seeds", "ppo": "PPO score IQM [95 % CI]", "greedy": "greedy",
               "best-static": "best-static", "static-full": "static-full", "ppo_misses": "PPO misses %",
               "greedy_miss_pct": "greedy misses %", "best_static_miss_pct": "best-static misses %"}
    return shown[list(columns)].rename(columns=columns).to_markdown(index=False, floatfmt=".3f")


def plot_boards(boards: pd.DataFrame, path: Path) -> Path:
    """Score per board with PPO's CI whiskers beside greedy and best-static; PPO's misses below."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(1.6 * len(boards) + 3, 6.5), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2]})
    x = range(len(boards))
    for offset, name in zip((-0.2, 0.0, 0.2), COMPARED, strict=True):
        xs = [i + offset for i in x]
        if name == "ppo":
            low, high = boards["ppo_iqm"] - boards["ppo_ci_low"], boards["ppo_ci_high"] - boards["ppo_iqm"]
            top.errorbar(xs, boards["ppo_iqm"], yerr=[low, high], fmt="o", capsize=4, color=COLOURS[name],
                         label="ppo (IQM, 95 % CI)")
        else:
            top.plot(xs, boards[name], "s", color=COLOURS[name], label=name)
    top.axhline(GOAL_SCORE, color="grey", linestyle="--", linewidth=1, label=f"goal {GOAL_SCORE}")
    top.set_ylabel("score (1 = oracle, 0 = random)")
    top.set_title("held-out board: trained on the others")
    top.legend(fontsize=8, loc="lower left")
    top.grid(alpha=0.3)
    worst = boards["ppo_miss_pct_worst"] - boards["ppo_miss_pct"]
    bottom.bar([i - 0.2 for i in x], boards["ppo_miss_pct"], width=0.2, yerr=[[0] * len(boards), worst],
               color=COLOURS["ppo"], capsize=3, label="ppo (mean, worst seed)")
    bottom.bar(list(x), boards["greedy_miss_pct"], width=0.2, color=COLOURS["greedy"], label="greedy")
    bottom.bar([i + 0.2 for i in x], boards["best_static_miss_pct"], width=0.2,
               color=COLOURS["best-static"], label="best-static")
    bottom.axhline(GOAL_MISS_PCT, color="grey", linestyle="--", linewidth=1)
    bottom.set_ylabel("budget misses %")
    bottom.set_xticks(list(x), boards["board"], rotation=15, fontsize=8)
    bottom.legend(fontsize=8)
    bottom.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
