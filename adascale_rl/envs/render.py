"""``rgb_array`` rendering: the recent epochs as a small matplotlib timeline."""

from __future__ import annotations

import numpy as np


def render_timeline(log: list[tuple], budget_ms: float) -> np.ndarray:
    """RGB image (H, W, 3, uint8) of background load, accuracy served and p95 latency vs budget."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.2), dpi=80)
    canvas = FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True)
    if log:
        epochs = [row[0] for row in log]
        top.fill_between(epochs, [row[1] for row in log], step="post", alpha=0.3, label="background load")
        top.plot(epochs, [row[3].accuracy for row in log], label="accuracy served")
        bottom.plot(epochs, [row[3].latency_p95_ms for row in log], label="p95 latency")
        bottom.axhline(budget_ms, color="red", linestyle="--", label="budget")
        top.legend(loc="upper left", fontsize=7)
        bottom.legend(loc="upper left", fontsize=7)
    top.set_ylim(0, 1)
    bottom.set_ylabel("ms")
    bottom.set_xlabel("epoch")
    fig.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
