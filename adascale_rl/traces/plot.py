"""Picture of a trace: stacked panels over time, background shaded by the labelled state.

Shading by state is the point of the picture: it shows at a glance whether a workload label really
changes the resources the controller sees (mining saturates the CPU, streaming moves memory …), which
is what the controller is supposed to learn to react to.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window (works on headless machines and in CI)

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch

from adascale_rl.traces.schema import SPEC_BY_NAME, Trace

DEFAULT_PANELS: tuple[str, ...] = ("cpu_freq_frac", "cpu_bg_util", "mem_avail_frac", "temp_c")
PANEL_LABELS = {
    "cpu_freq_frac": "CPU frequency\n(fraction of max)",
    "cpu_bg_util": "background load\n(fraction of CPU)",
    "mem_avail_frac": "available memory\n(fraction of RAM)",
    "temp_c": "temperature (°C)",
    "battery_frac": "battery\n(fraction)",
}


def time_axis(t_s: np.ndarray) -> tuple[np.ndarray, str]:
    """Time in the unit that suits the span: hours for the bundled multi-hour traces, else min or s."""
    span = float(t_s[-1] - t_s[0]) if len(t_s) else 0.0
    if span >= 2 * 3600:
        return t_s / 3600.0, "time (h)"
    if span >= 120:
        return t_s / 60.0, "time (min)"
    return t_s, "time (s)"


def state_runs(states: np.ndarray) -> list[tuple[int, int, str]]:
    """Maximal runs of equal labels as ``(first, stop, label)`` index ranges (empty labels skipped)."""
    runs = []
    start = 0
    for i in range(1, len(states) + 1):
        if i == len(states) or states[i] != states[start]:
            if states[start]:
                runs.append((start, i, str(states[start])))
            start = i
    return runs


def plot_trace(trace: Trace, out: str | Path, *, panels: tuple[str, ...] = DEFAULT_PANELS,
               dpi: int = 120) -> Path:
    """Write a PNG of ``trace`` with one panel per column in ``panels`` and return its path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    x, x_label = time_axis(trace.t_s - trace.t_s[0])
    # Each sample holds until the next; the last one for one median period (as resample() reads it).
    edges = np.append(x, x[-1] + (np.median(np.diff(x)) if len(x) > 1 else 1.0))
    labels = sorted({str(s) for s in trace.state if s})
    colors = {label: plt.get_cmap("tab10")(i % 10) for i, label in enumerate(labels)}
    runs = state_runs(trace.state)

    fig, axes = plt.subplots(len(panels), 1, sharex=True, figsize=(11, 1.9 * len(panels) + 1.0),
                             squeeze=False)
    for ax, column in zip(axes[:, 0], panels, strict=True):
        for first, stop, label in runs:
            ax.axvspan(edges[first], edges[stop], color=colors[label], alpha=0.18, linewidth=0)
        values = trace.column(column)
        if np.isnan(values).all():
            ax.text(0.5, 0.5, "not recorded", transform=ax.transAxes, ha="center", va="center", color="0.4")
            ax.set_yticks([])
        else:
            # steps-post over the edges draws each held value across its whole interval, the last one too
            # (ax.stairs draws the same but is ~10x slower on a 12 h trace)
            ax.plot(edges, np.append(values, values[-1]), drawstyle="steps-post", color="0.1", linewidth=0.5)
        spec = SPEC_BY_NAME[column]
        if spec.unit == "":
            ax.set_ylim(-0.03, 1.03)
        ax.set_ylabel(PANEL_LABELS.get(column, column), fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        ax.margins(x=0)
    axes[-1, 0].set_xlabel(x_label)
    meta = trace.meta
    fig.suptitle(f"{meta.name} — {meta.device}\n{len(trace)} samples, period {trace.period_s:.3g} s",
                 fontsize=11)
    bottom = 0.0
    if labels:
        handles = [Patch(facecolor=colors[label], alpha=0.35, label=label) for label in labels]
        fig.legend(handles=handles, loc="lower center", ncol=min(len(labels), 6), fontsize=9,
                   title="background: state (what the device was running)", title_fontsize=9, frameon=False,
                   bbox_to_anchor=(0.5, 0.0))
        bottom = 0.07
    fig.tight_layout(rect=(0, bottom, 1, 1))
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out
