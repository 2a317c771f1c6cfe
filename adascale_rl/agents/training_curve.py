"""The training curve of a run folder: validation reward (what picks ``best_model.zip``) and training
episode reward against timesteps, as a PNG beside the run.

Sources: ``eval/evaluations.npz`` (written by the maskable eval callback: timesteps, per-episode rewards
and lengths of every validation evaluation) and the TensorBoard scalars ``rollout/ep_rew_mean`` /
``rollout/ep_len_mean`` (SB3's Monitor statistics of the training episodes). Both are shown per epoch
(episode reward / episode length), the unit of the evaluation summary's ``mean_reward``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from adascale_rl.agents.palette import controller_colours

EVALUATIONS = Path("eval") / "evaluations.npz"
CURVE_FILE = "training_curve.png"


def validation_curve(run_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(timesteps, mean, SD) of the reward per epoch over each validation evaluation's episodes."""
    path = run_dir / EVALUATIONS
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:  # numeric arrays only: never unpickle
        timesteps, rewards, lengths = data["timesteps"], data["results"], data["ep_lengths"]
    if len(timesteps) == 0:
        return None
    per_epoch = rewards / np.maximum(lengths, 1)
    return timesteps, per_epoch.mean(axis=1), per_epoch.std(axis=1)


def training_curve(run_dir: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """(timesteps, mean reward per epoch of recent training episodes) from the run's TensorBoard logs
    (the latest ``tb/ppo_N`` folder: training again into the same folder adds one)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    folders = [p for p in (run_dir / "tb").glob("*") if p.is_dir()]
    for events in sorted(folders, key=lambda p: p.stat().st_mtime, reverse=True):  # the latest training first
        accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0})
        accumulator.Reload()
        tags = accumulator.Tags().get("scalars", [])
        if "rollout/ep_rew_mean" in tags and "rollout/ep_len_mean" in tags:
            reward = accumulator.Scalars("rollout/ep_rew_mean")
            length = {e.step: e.value for e in accumulator.Scalars("rollout/ep_len_mean")}
            steps = np.array([e.step for e in reward if e.step in length])
            values = np.array([e.value / max(length[e.step], 1.0) for e in reward if e.step in length])
            return steps, values
    return None


def plot_training_curve(run_dir: str | Path, title: str, path: str | Path | None = None) -> Path:
    """Write the training curve PNG (default ``RUN_DIR/training_curve.png``); says so in the plot when a
    source is missing (no validation evaluation ran, or no training episode finished)."""
    run_dir = Path(run_dir)
    out = Path(path) if path is not None else run_dir / CURVE_FILE
    colour = controller_colours(["ppo"])["ppo"]
    validation, training = validation_curve(run_dir), training_curve(run_dir)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    missing = []
    if validation is not None:
        steps, mean, sd = validation
        ax.fill_between(steps, mean - sd, mean + sd, color=colour, alpha=0.2, label="validation ± SD over episodes")
        ax.plot(steps, mean, marker="o", color=colour, label="validation (held-out 20 % of the train traces)")
        best = int(np.argmax(mean))
        ax.scatter([steps[best]], [mean[best]], s=140, facecolors="none", edgecolors="red", zorder=5,
                   label=f"best (saved as best_model.zip): {mean[best]:.4g} at {steps[best]:,} steps")
    else:
        missing.append("no validation evaluation ran (eval-freq above the timesteps): best_model.zip = final")
    if training is not None:
        ax.plot(*training, color="0.4", linewidth=1, label="training episodes (SB3 Monitor, recent mean)")
    else:
        missing.append("no training episode finished: no training reward logged")
    for i, text in enumerate(missing):
        ax.text(0.02, 0.04 + 0.07 * i, text, transform=ax.transAxes, fontsize=8, color="firebrick")
    ax.set_xlabel("timesteps")
    ax.set_ylabel("reward per epoch")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
