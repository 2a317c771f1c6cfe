"""Pictures and summaries of a profiled variant table (accuracy/latency trade-off)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from adascale_rl.catalog.variant_table import VariantTable


def pareto_front(latency: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """Indices of the variants no other variant beats on both latency (lower) and accuracy (higher),
    ordered by latency."""
    order = np.lexsort((-accuracy, latency))
    front, best = [], -np.inf
    for i in order:
        if accuracy[i] > best:
            front.append(int(i))
            best = accuracy[i]
    return np.asarray(front, dtype=int)


def family(compression: str) -> str:
    """Operator family of a compression string, for plot markers: float/int8 × plain/lr/ds."""
    ops = compression.split("+")
    kind = "ds" if "ds" in ops else "lr" if any(op.startswith("lr") for op in ops) else "plain"
    return f"{kind}+int8" if "int8" in ops else kind


def pareto_plot(table: VariantTable, path: str | Path, config: str = "1t", title: str | None = None) -> Path:
    """Scatter of accuracy vs latency on ``config`` (colour = branch, marker = operator family) with the
    Pareto front; written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    j = table.configs.index(config)
    latency, accuracy = table.latency_ms[:, j], table.accuracy * 100
    markers = {"plain": "o", "lr": "s", "ds": "^", "plain+int8": "o", "lr+int8": "s", "ds+int8": "^"}
    colours = dict(zip(table.branches, ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"),
                       strict=False))
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    for i in range(len(table)):
        kind = family(str(table.compression[i]))
        filled = not kind.endswith("int8")
        colour = colours.get(str(table.branch[i]), "grey")
        ax.scatter(latency[i], accuracy[i], marker=markers[kind], s=36, linewidths=1.2,
                   facecolors=colour if filled else "none", edgecolors=colour)
    front = pareto_front(latency, accuracy)
    ax.plot(latency[front], accuracy[front], "k--", lw=1, label="Pareto front")
    for i in front:
        ax.annotate(str(table.variant_id[i]), (latency[i], accuracy[i]), fontsize=6, xytext=(4, -8),
                    textcoords="offset points")
    for branch, colour in colours.items():
        ax.scatter([], [], color=colour, label=branch)
    for kind in ("plain", "lr", "ds"):
        ax.scatter([], [], marker=markers[kind], color="grey", label=f"{kind} (hollow = int8)")
    ax.set_xscale("log")
    ax.set_xlabel(f"batch-1 latency on '{config}' (ms, catalog lat_ms, log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(max(0.0, float(accuracy.min()) - 1.5), 100)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title or f"supernet variants on '{table.device}' ({len(table)})")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
