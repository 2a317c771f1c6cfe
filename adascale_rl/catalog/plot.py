"""Accuracy-vs-latency picture of a variant catalog, one panel per compute configuration.

Drawn with matplotlib's object API (``Figure`` + Agg canvas), never ``pyplot``, so it works headless and
does not change the backend of a process that imports it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from adascale_rl.catalog.variant_table import VariantTable

#: Colour-blind-safe palette (Okabe–Ito), cycled over branches.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")


def _is_int8(compression: str) -> bool:
    return "int8" in compression.split("+")


def plot_catalog(table: VariantTable, out: str | Path, ncols: int = 3) -> Path:
    """Save a PNG grid: per configuration, accuracy (y) against latency (x, log scale) of every variant.

    Colour = branch, filled circle = float, open square = int8; unavailable cells are simply absent. The
    x range is shared so that configurations can be compared at a glance.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    n = len(table.configs)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.4 * nrows), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)
    finite = table.latency_ms[np.isfinite(table.latency_ms)]
    low, high = (finite.min() / 1.3, finite.max() * 1.3) if finite.size else (0.1, 10.0)
    colours = {branch: PALETTE[i % len(PALETTE)] for i, branch in enumerate(table.branches)}
    int8 = np.array([_is_int8(c) for c in table.compression])
    for j, cfg in enumerate(table.configs):
        ax = axes[j // ncols][j % ncols]
        lat = table.latency_ms[:, j]
        for branch, colour in colours.items():
            for quant in (False, True):
                rows = (table.branch == branch) & (int8 == quant) & np.isfinite(lat)
                if not rows.any():
                    continue
                order = np.argsort(lat[rows])
                ax.plot(lat[rows][order], table.accuracy[rows][order], linestyle=":" if quant else "-",
                        linewidth=0.8, color=colour, alpha=0.6)
                ax.scatter(lat[rows], table.accuracy[rows], s=26, marker="s" if quant else "o",
                           facecolors="none" if quant else colour, edgecolors=colour, linewidths=1.1,
                           label=f"{branch} {'int8' if quant else 'float'}")
        ax.set_xscale("log")
        ax.set_xlim(low, high)
        ax.set_title(cfg, fontsize=10)
        ax.grid(True, which="both", linewidth=0.3, alpha=0.5)
        if j % ncols == 0:
            ax.set_ylabel("ImageNet top-1 accuracy")
        if j // ncols == nrows - 1:
            ax.set_xlabel("latency (ms, log scale)")
    for k in range(n, nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(4, max(1, len(labels))), fontsize=8,
               frameon=False)
    fig.suptitle(f"{table.device}: {len(table)} variants, accuracy vs latency per core configuration")
    fig.savefig(out)
    return out
