"""The grid report: ``summary.md`` (per test set and overall), ``cells.csv``, ``aggregate.csv`` and
``scores.png`` in one folder.

Per test set, each controller's cells are summarised (score on total reward over the cell's episodes,
episode means of the other metrics; the mean over training seeds for PPO). With more than one training
seed the scores are also aggregated with :func:`~adascale_rl.experiments.aggregate.aggregate_scores`:
runs = training seeds, tasks = test sets (scenario × fold), IQM with 95 % stratified-bootstrap CIs.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from adascale_rl.experiments.aggregate import aggregate_scores
from adascale_rl.experiments.grid import Grid
from adascale_rl.experiments.plan import Plan
from adascale_rl.experiments.table import cell_scores

SHOWN = ("score", "total_reward", "accuracy", "p95_ms", "budget_miss_pct", "energy_mj", "switches_per_hour")


def write_experiment_report(out_dir: str | Path, grid: Grid, plan: Plan, table: pd.DataFrame,
                            failed: dict[str, str]) -> Path:
    """Write the report (see module docstring); returns the path of ``summary.md``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# Experiment grid `{grid.name}`", "",
             f"- {len(plan.entries)} entries, {len(plan.jobs)} distinct cells, {len(failed)} failed; "
             f"scenarios {', '.join(dict.fromkeys(e.scenario for e in plan.entries))}; "
             f"training seeds {list(grid.seeds) or '—'}",
             f"- episodes per test set: {_episodes(grid)}; the same episodes for every controller",
             "- score = (R − R_random) / (R_oracle − R_random) on total reward over a cell's episodes; other "
             "columns are means over episodes (and over a controller's cells: one per training seed for PPO)", ""]
    if table.empty:
        lines += ["No cell has finished yet.", ""]
    else:
        cells = cell_scores(table)
        cells.to_csv(out / "cells.csv", index=False)
        shown = [c for c in SHOWN if c in cells.columns]
        for (scenario, fold), part in cells.groupby(["scenario", "fold"], sort=False):
            summary = part.groupby("controller", sort=False)[shown].mean()
            summary.insert(0, "cells", part.groupby("controller", sort=False).size())
            lines += [f"## `{scenario}` · test set `{fold}`", "", summary.reset_index().to_markdown(
                index=False, floatfmt=".4g"), ""]
        if len(grid.seeds) > 1 and cells["score"].notna().any():
            aggregated = aggregate_scores(cells)
            aggregated.to_csv(out / "aggregate.csv", index=False)
            plot_scores(aggregated, out / "scores.png")
            lines += ["## Aggregate over training seeds and test sets", "",
                      "IQM of the score with a 95 % stratified-bootstrap confidence interval (runs = training "
                      "seeds, tasks = test sets; baselines are seed-independent, so their interval has zero "
                      "width).", "", aggregated.to_markdown(index=False, floatfmt=".4g"), "",
                      "![scores](scores.png)", ""]
    if failed:
        lines += ["## Failed cells (rerun the same command to retry them)", ""]
        lines += [f"- `{cell}`: {error.splitlines()[0]}" for cell, error in failed.items()] + [""]
    path = out / "summary.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _episodes(grid: Grid) -> str:
    e = grid.episodes
    if e.count is None:
        return f"every test trace whole (seed {e.seed})"
    return f"{e.count} seeded segments of {e.length or 'the scenario’s'} epochs (seed {e.seed})"


def plot_scores(aggregated: pd.DataFrame, path: Path) -> None:
    """IQM score and its CI per controller, one panel per task plus the overall panel."""
    tasks = list(dict.fromkeys(aggregated["task"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.2 * len(tasks) + 1, 3.8), sharey=True, squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        part = aggregated[aggregated["task"] == task]
        y = range(len(part))
        ax.errorbar(part["iqm"], y, xerr=[part["iqm"] - part["ci_low"], part["ci_high"] - part["iqm"]], fmt="o",
                    capsize=3)
        ax.set_yticks(list(y), part["controller"])
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("IQM score (1 = oracle)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
