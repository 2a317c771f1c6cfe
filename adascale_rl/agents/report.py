"""Evaluation reports: CSV + Markdown tables and PNG plots in one folder."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from adascale_rl.scenario import Scenario

TIMELINE_CONTROLLERS = ("ppo", "greedy", "static-full", "oracle")


def write_report(out_dir: str | Path, scenario: Scenario, summary: pd.DataFrame, records: pd.DataFrame,
                 meta: dict) -> Path:
    """Write ``summary.csv``, ``summary.md``, ``epochs.csv``, ``timeline.png``, ``tradeoff.png`` and ``meta.json``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(out / "summary.csv", index=False)
    records.to_csv(out / "epochs.csv", index=False)
    (out / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    plot_timeline(records, scenario, out / "timeline.png")
    plot_tradeoff(summary, out / "tradeoff.png")
    lines = [f"# Evaluation: scenario `{scenario.name}`", "",
             f"{scenario.description}", "",
             f"- traces: {meta.get('traces')}; episodes: {meta.get('episodes')}; epochs per controller: "
             f"{int(summary['epochs'].iloc[0])}; epoch {scenario.epoch_s:g} s; budget p95 "
             f"{scenario.latency_budget_ms:g} ms; {scenario.request_rate_hz:g} requests/s",
             "- score = (R - R_random) / (R_oracle - R_random); p50/p95 = completion-weighted mean of per-epoch "
             "percentiles; energy is modelled from the device power model", "",
             summary.to_markdown(index=False, floatfmt=".4g"), "",
             "![timeline](timeline.png)", "", "![accuracy vs energy](tradeoff.png)", ""]
    (out / "summary.md").write_text("\n".join(lines), encoding="utf-8")
    return out


def plot_timeline(records: pd.DataFrame, scenario: Scenario, path: Path) -> None:
    """The most eventful episode (largest swing in background load): trace load and frequency, each
    controller's variant accuracy, p95 vs budget."""
    swing = records.groupby("episode")["cpu_bg_util"].std()
    first = records[records["episode"] == swing.idxmax()]
    fig, axes = plt.subplots(3, 1, figsize=(11, 7.5), sharex=True)
    context = first[first["controller"] == first["controller"].iloc[0]]
    minutes = (context["epoch"] - context["epoch"].iloc[0]) * scenario.epoch_s / 60.0
    axes[0].fill_between(minutes, context["cpu_bg_util"], step="post", alpha=0.35, label="background load")
    axes[0].plot(minutes, context["cpu_freq_frac"], drawstyle="steps-post", label="CPU frequency / max")
    axes[0].set_ylim(0, 1.05)
    axes[0].set_title(f"trace {context['trace'].iloc[0]} (from epoch {int(context['epoch'].iloc[0])})")
    accuracy = scenario.table.accuracy
    index = {vid: i for i, vid in enumerate(scenario.table.variant_id)}
    shown = [n for n in TIMELINE_CONTROLLERS if n in set(first["controller"])]
    for order, name in enumerate(reversed(shown)):  # the learned controller drawn last, on top
        rows = first[first["controller"] == name]
        minutes = (rows["epoch"] - rows["epoch"].iloc[0]) * scenario.epoch_s / 60.0
        width = 2.0 if name == "ppo" else 1.0
        axes[1].plot(minutes, [accuracy[index[v]] for v in rows["variant_id"]], drawstyle="steps-post", label=name,
                     linewidth=width, zorder=order)
        axes[2].plot(minutes, rows["latency_p95_ms"], linewidth=0.6 * width, label=name, zorder=order)
    axes[2].axhline(scenario.latency_budget_ms, color="red", linestyle="--", label="budget")
    axes[1].set_ylabel("variant top-1 accuracy")
    axes[2].set_ylabel("p95 latency (ms)")
    axes[2].set_ylim(0, 4 * scenario.latency_budget_ms)
    axes[2].set_xlabel("minutes")
    for ax in axes:
        ax.legend(loc="upper right", fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_tradeoff(summary: pd.DataFrame, path: Path) -> None:
    """Accuracy served vs modelled energy per inference, one point per controller."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for row in summary.itertuples(index=False):
        ax.scatter(row.energy_mj, row.accuracy, s=60)
        ax.annotate(f"{row.controller}\n(miss {row.budget_miss_pct:.1f}%)", (row.energy_mj, row.accuracy),
                    textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xlabel("modelled energy per inference (mJ)")
    ax.set_ylabel("accuracy served (top-1, dropped = 0)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
