"""Evaluate controllers on recorded traces: the same episodes (trace segments and simulator seeds) for
every controller, per-epoch records, and a summary table.

Summary columns (per controller):

- ``mean_reward``: mean reward per epoch;
- ``score``: ``(R − R_random) / (R_oracle − R_random)`` on total reward (1 = oracle, 0 = random);
  present when both the random controller and the oracle were evaluated;
- ``accuracy``: mean top-1 accuracy over resolved requests (dropped/failed count 0);
- ``p50_ms``, ``p95_ms``: per-epoch latency percentiles averaged over epochs, weighted by completed
  requests (the simulator keeps no per-request history);
- ``budget_miss_pct``: requests past the budget, dropped or failed, as % of resolved requests;
- ``energy_mj``: modelled energy per completed inference (mJ);
- ``switches_per_hour``: variant switches per hour of trace.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from adascale_rl.agents.controller import Controller
from adascale_rl.agents.oracle import OracleController
from adascale_rl.envs.adascale_env import AdaScaleEnv
from adascale_rl.scenario import Scenario

SUMMARY_COLUMNS = ("controller", "mean_reward", "score", "accuracy", "p50_ms", "p95_ms", "budget_miss_pct",
                   "energy_mj", "switches_per_hour", "epochs")


@dataclass(frozen=True)
class EpisodeSpec:
    """One evaluation episode: a trace segment and the seed of the simulator's random numbers."""

    trace_index: int
    start: int
    length: int
    seed: int

    def options(self) -> dict[str, int]:
        return {"trace_index": self.trace_index, "start": self.start, "length": self.length}


def episode_specs(env: AdaScaleEnv, n_episodes: int | None, episode_epochs: int | None, seed: int) -> list[EpisodeSpec]:
    """Seeded random segments of the env's traces, or every whole trace when ``n_episodes`` is None."""
    traces = env.source.traces
    if n_episodes is None:
        return [EpisodeSpec(i, 0, len(t), seed + i) for i, t in enumerate(traces)]
    length = episode_epochs or env.scenario.episode_epochs
    rng = np.random.default_rng(seed)
    weights = np.array([len(t) for t in traces], dtype=float)
    specs = []
    for k in range(n_episodes):
        index = int(rng.choice(len(traces), p=weights / weights.sum()))
        if len(traces[index]) < length:
            raise ValueError(f"trace {traces[index].name!r} has {len(traces[index])} epochs, fewer than {length}")
        specs.append(EpisodeSpec(index, int(rng.integers(0, len(traces[index]) - length + 1)), length, seed + k))
    return specs


def run_episode(env: AdaScaleEnv, controller: Controller, spec: EpisodeSpec) -> pd.DataFrame:
    """Play one episode with ``controller``; one row per epoch."""
    observation, _ = env.reset(seed=spec.seed, options=spec.options())
    controller.reset()
    if isinstance(controller, OracleController):
        controller.plan(env)
    rows = []
    while True:
        reading = env.reading()
        action = controller.decide(observation, env.action_masks())
        observation, reward, terminated, truncated, info = env.step(action)
        stats = info["stats"]
        rows.append({"epoch": info["epoch"], "state": info["state"], "cpu_freq_frac": reading.cpu_freq_frac,
                     "cpu_bg_util": reading.cpu_bg_util, "mem_avail_frac": reading.mem_avail_frac,
                     "action": action, "variant_id": info["variant_id"], "reward": reward, **stats.to_dict()})
        if terminated or truncated:
            break
    frame = pd.DataFrame(rows)
    frame.insert(0, "trace", env.episode.trace.meta.name)
    frame.insert(0, "episode", spec.seed)
    return frame


def evaluate(env: AdaScaleEnv, controllers: Iterable[Controller], specs: list[EpisodeSpec],
             progress=None) -> pd.DataFrame:
    """Per-epoch records of every controller on every episode (column ``controller`` added)."""
    frames = []
    for controller in controllers:
        for spec in specs:
            frame = run_episode(env, controller, spec)
            frame.insert(0, "controller", controller.name)
            frames.append(frame)
            if progress is not None:
                progress(controller.name, spec)
    return pd.concat(frames, ignore_index=True)


def summarize(records: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Summary table per controller (columns in :data:`SUMMARY_COLUMNS`, documented above)."""
    rows = []
    for name, group in records.groupby("controller", sort=False):
        resolved = group["completed"] + group["dropped"] + group["failed"]
        completed = group["completed"].sum()
        weights = group["completed"].to_numpy(dtype=float)
        hours = len(group) * scenario.epoch_s / 3600.0
        rows.append({
            "controller": name,
            "mean_reward": group["reward"].mean(),
            "total_reward": group["reward"].sum(),
            "accuracy": (group["accuracy"] * resolved).sum() / max(1, resolved.sum()),
            "p50_ms": float(np.average(group["latency_p50_ms"], weights=weights)) if completed else float("nan"),
            "p95_ms": float(np.average(group["latency_p95_ms"], weights=weights)) if completed else float("nan"),
            "budget_miss_pct": 100.0 * (group["miss_frac"] * resolved).sum() / max(1, resolved.sum()),
            "energy_mj": 1000.0 * group["energy_j"].sum() / max(1, completed),
            "switches_per_hour": group["switched"].sum() / hours,
            "epochs": len(group),
        })
    summary = pd.DataFrame(rows)
    names = set(summary["controller"])
    if {"random", "oracle"} <= names:
        total = summary.set_index("controller")["total_reward"]
        span = total["oracle"] - total["random"]
        summary["score"] = (summary["total_reward"] - total["random"]) / span if span > 0 else float("nan")
    else:
        summary["score"] = float("nan")
    return summary[list(SUMMARY_COLUMNS)]
