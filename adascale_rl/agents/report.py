"""Evaluation reports: CSV + Markdown tables and PNG plots in one folder.

Every plot gives each controller its fixed colour (:mod:`adascale_rl.agents.palette`) and shows every
evaluated controller. The timeline shows one episode — which one, and why it was picked, is written in
its title and in ``summary.md`` — with the trace's ``state`` labels shaded; what does not fit its axes
is marked and listed, never cut off silently.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from adascale_rl.agents.palette import controller_colours
from adascale_rl.scenario import Scenario

P95_AXIS_BUDGETS = 4.0  # the p95 panel shows 0 .. 4 × budget; epochs above are marked and listed
LEGEND = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "fontsize": 7, "borderaxespad": 0.0}
STATE_COLOURS = ("#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5")


def write_report(out_dir: str | Path, scenario: Scenario, summary: pd.DataFrame, records: pd.DataFrame,
                 meta: dict) -> Path:
    """Write ``summary.csv``, ``summary.md``, ``epochs.csv``, ``timeline.png``, ``tradeoff.png`` and ``meta.json``.

    ``meta`` is stored as ``meta.json``; its ``notes`` (lines a reader needs: short traces, state-change
    coverage, why a score is missing) are repeated in ``summary.md``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(out / "summary.csv", index=False)
    records.to_csv(out / "epochs.csv", index=False)
    episode, why = pick_timeline_episode(records)
    timeline_notes = plot_timeline(records, scenario, out / "timeline.png", episode, why)
    plot_tradeoff(summary, out / "tradeoff.png")
    meta = {**meta, "timeline": {"episode": episode, "why": why, "notes": timeline_notes}}
    (out / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    lines = [f"# Evaluation: scenario `{scenario.name}`", "",
             f"{scenario.description}", "",
             f"- traces: {meta.get('traces')}; episodes: {meta.get('episodes')}; epochs per controller: "
             f"{int(summary['epochs'].iloc[0])}; epoch {scenario.epoch_s:g} s; budget p95 "
             f"{scenario.latency_budget_ms:g} ms; {scenario.request_rate_hz:g} requests/s",
             *[f"- {note}" for note in meta.get("notes", [])],
             "- score = (R - R_random) / (R_oracle - R_random); p50/p95 = completion-weighted mean of per-epoch "
             "percentiles; energy is modelled from the device power model; switches per hour leave out each "
             "episode's first epoch (the initial model load)", "",
             summary.to_markdown(index=False, floatfmt=".4g"), "",
             *([f"score is NaN: {meta['score_unavailable']}", ""] if meta.get("score_unavailable") else []),
             f"Timeline: {why}.", "", *[f"- {note}" for note in timeline_notes], "",
             "![timeline](timeline.png)", "", "![accuracy vs energy](tradeoff.png)", ""]
    (out / "summary.md").write_text("\n".join(lines), encoding="utf-8")
    return out


def _state_runs(states: np.ndarray) -> list[tuple[int, int, str]]:
    """(first, last + 1, label) of each run of equal non-empty labels."""
    runs, start = [], 0
    for i in range(1, len(states) + 1):
        if i == len(states) or states[i] != states[start]:
            if states[start] != "":
                runs.append((start, i, str(states[start])))
            start = i
    return runs


def pick_timeline_episode(records: pd.DataFrame) -> tuple[int, str]:
    """The episode to draw (its ``episode`` id) and a sentence saying which it is and why.

    Preference: episodes holding a state change (where adapting matters), and among them the largest
    swing in background load (standard deviation over the episode).
    """
    context = records[records["controller"] == records["controller"].iloc[0]]
    episodes = list(dict.fromkeys(context["episode"]))
    groups = {e: context[context["episode"] == e] for e in episodes}
    n_runs = {e: len(_state_runs(g["state"].astype(str).to_numpy())) for e, g in groups.items()}
    changing = [e for e in episodes if n_runs[e] > 1]
    swing = {e: float(np.nan_to_num(g["cpu_bg_util"].std())) for e, g in groups.items()}
    pool = changing or episodes
    pick = max(pool, key=swing.__getitem__)
    rows = groups[pick]
    where = (f"episode {episodes.index(pick) + 1} of {len(episodes)} (seed {pick}, trace {rows['trace'].iloc[0]}, "
             f"epochs {int(rows['epoch'].iloc[0])}–{int(rows['epoch'].iloc[-1])})")
    if len(episodes) == 1:
        return pick, f"{where}, the only episode"
    among = (f"among the {len(changing)} episodes with a state change" if changing
             else f"among all {len(episodes)} episodes (none holds a state change)")
    return pick, f"{where}, picked as the largest background-load swing (SD {swing[pick]:.3f}) {among}"


def plot_timeline(records: pd.DataFrame, scenario: Scenario, path: Path, episode: int, title: str) -> list[str]:
    """Write :func:`timeline_figure` as a PNG; returns its notes."""
    fig, notes = timeline_figure(records, scenario, episode, title)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return notes


def timeline_figure(records: pd.DataFrame, scenario: Scenario, episode: int, title: str) -> tuple[Figure, list[str]]:
    """One episode: trace load and frequency with the states shaded, every controller's variant accuracy,
    and p95 vs budget. Returns the figure and notes on what it could not show (also written in it)."""
    rows = records[records["episode"] == episode]
    names = list(dict.fromkeys(rows["controller"]))
    context = rows[rows["controller"] == names[0]]
    seconds = (context["epoch"].to_numpy() - int(context["epoch"].iloc[0])) * scenario.epoch_s
    unit, per = ("minutes", 60.0) if len(seconds) * scenario.epoch_s >= 600 else ("seconds", 1.0)
    x, step = seconds / per, scenario.epoch_s / per  # x axis in `unit`; each epoch lasts `step`
    fig, axes = plt.subplots(3, 1, figsize=(12.5, 8.5), sharex=True)
    state_patches, notes = _shade_states(axes, x, step, context["state"].astype(str).to_numpy())
    notes += _draw_conditions(axes[0], x, context, state_patches)
    if notes:
        axes[0].set_title("; ".join(notes), fontsize=8, color="firebrick")
    clipped = _draw_controllers(axes[1], axes[2], x, rows, names, scenario)
    axes[2].set_xlabel(f"{unit} from the episode start")
    if clipped:
        axes[2].set_title(clipped, fontsize=8, color="firebrick")
        notes.append(clipped)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(textwrap.fill(f"Timeline: {title}", 170), fontsize=9)
    fig.tight_layout()
    return fig, notes


def _shade_states(axes, x: np.ndarray, step: float, states: np.ndarray) -> tuple[list[Patch], list[str]]:
    """Shade each run of a ``state`` label on every panel; legend patches and notes."""
    runs = _state_runs(states)
    labels = sorted({label for _, _, label in runs})
    shade = {label: STATE_COLOURS[i % len(STATE_COLOURS)] for i, label in enumerate(labels)}
    for ax in axes:
        for begin, end, label in runs:
            ax.axvspan(x[begin], x[end - 1] + step, color=shade[label], alpha=0.35, linewidth=0)
    notes = []
    if not runs:
        notes.append("the trace has no state labels, so no state is shaded")
    elif len(runs) == 1:
        notes.append(f"the whole episode is in state '{runs[0][2]}' (no state change)")
    return [Patch(color=shade[label], alpha=0.5, label=f"state: {label}") for label in labels], notes


def _draw_conditions(ax, x: np.ndarray, context: pd.DataFrame, state_patches: list[Patch]) -> list[str]:
    """Background load and CPU frequency (notes: what the trace does not record)."""
    notes = []
    ax.fill_between(x, context["cpu_bg_util"], step="post", color="0.35", alpha=0.45, label="background load")
    if context["cpu_freq_frac"].notna().any():
        ax.plot(x, context["cpu_freq_frac"], drawstyle="steps-post", color="tab:purple", label="CPU frequency / max")
    else:
        notes.append("the trace does not record the CPU frequency, so none is drawn")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("fraction")
    ax.legend(handles=ax.get_legend_handles_labels()[0] + state_patches, **LEGEND)
    return notes


def _draw_controllers(ax_accuracy, ax_p95, x: np.ndarray, rows: pd.DataFrame, names: list[str],
                      scenario: Scenario) -> str:
    """Every controller's variant accuracy and p95 in its fixed colour; returns what the p95 axis clips
    (empty if nothing): those epochs are drawn as ▲ on the top edge."""
    colours = controller_colours(names)
    accuracy = scenario.table.accuracy
    index = {vid: i for i, vid in enumerate(scenario.table.variant_id)}
    top = P95_AXIS_BUDGETS * scenario.latency_budget_ms
    clipped = []
    for order, name in enumerate(reversed(names)):  # the first-listed controller (usually ppo) drawn on top
        mine = rows[rows["controller"] == name]
        width = 2.2 if name == "ppo" else 1.1
        style = {"color": colours[name], "zorder": order + 2, "label": name}
        ax_accuracy.plot(x, [accuracy[index[v]] for v in mine["variant_id"]], drawstyle="steps-post",
                         linewidth=width, **style)
        p95 = mine["latency_p95_ms"].to_numpy(dtype=float)
        ax_p95.plot(x, np.minimum(p95, top), linewidth=0.6 * width, **style)
        over = p95 > top
        if over.any():
            ax_p95.scatter(x[over], np.full(over.sum(), top), marker="^", s=14, color=colours[name],
                           zorder=order + 2, clip_on=False)
            clipped.append(f"{name} {int(over.sum())} epochs (max {np.nanmax(p95):.4g} ms)")
    ax_p95.axhline(scenario.latency_budget_ms, color="red", linestyle="--", label="budget")
    ax_accuracy.set_ylabel("variant top-1 accuracy")
    ax_p95.set_ylabel("p95 latency (ms)")
    ax_p95.set_ylim(0, top)
    for ax in (ax_accuracy, ax_p95):  # legend in the evaluation's controller order
        handles, labels = ax.get_legend_handles_labels()
        order = sorted(range(len(labels)), key=lambda i: names.index(labels[i]) if labels[i] in names else len(names))
        ax.legend([handles[i] for i in order], [labels[i] for i in order], **LEGEND)
    if not clipped:
        return ""
    return f"p95 above {top:g} ms ({P95_AXIS_BUDGETS:g} × budget) drawn at the top edge (▲): {'; '.join(clipped)}"


def plot_tradeoff(summary: pd.DataFrame, path: Path) -> None:
    """Write :func:`tradeoff_figure` as a PNG."""
    fig = tradeoff_figure(summary)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def tradeoff_figure(summary: pd.DataFrame) -> Figure:
    """Accuracy served vs modelled energy per inference, one point per controller."""
    colours = controller_colours(summary["controller"])
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for row in summary.itertuples(index=False):
        ax.scatter(row.energy_mj, row.accuracy, s=60, color=colours[row.controller])
        ax.annotate(f"{row.controller}\n(miss {row.budget_miss_pct:.1f}%)", (row.energy_mj, row.accuracy),
                    textcoords="offset points", xytext=(6, 4), fontsize=8, color=colours[row.controller])
    ax.set_xlabel("modelled energy per inference (mJ)")
    ax.set_ylabel("accuracy served (top-1, dropped = 0)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
