"""Evaluate controllers on recorded traces: the same episodes (trace segments and simulator seeds) for
every controller, per-epoch records, and a summary table.

The three steps, each usable alone (cross-board evaluation builds on them):

- :func:`episode_specs` decides *what is played*: seeded trace segments (a share of them placed on a
  state change, see below), short traces whole, or every trace whole;
- :func:`run_episode` plays one :class:`EpisodeSpec` with one controller (one row per epoch);
- :func:`summarize` turns the per-epoch records of any number of episodes into the summary table.

**Segments and state changes.** The bundled traces switch workload (``state``) in 10-minute blocks, so
a uniformly placed 256-epoch segment rarely holds a change (16 % of the test trace's segments) — and
a controller that never adapts looks as good as one that does. ``change_share`` of the segments
(default :data:`CHANGE_SHARE`) are therefore *placed on a state change*: a change point is drawn
uniformly among all the traces' change points, then the start uniformly among the starts whose segment
holds both sides of it. The other segments are placed uniformly (traces in proportion to length). A
state change is two consecutive epochs with different non-empty ``state`` labels (empty = unknown); a
trace with no labels has none, and then every segment is placed uniformly.
:func:`count_state_change_episodes` says how many of the episodes hold a change.

**Short traces.** A trace shorter than one segment (a 60-second ``traces record``, say) is played whole,
once, and the other traces give the segments. :func:`episode_notes` words both for a reader.

Summary columns (per controller):

- ``mean_reward``: mean reward per epoch;
- ``score``: ``(R − R_random) / (R_oracle − R_random)`` on total reward (1 = oracle, 0 = random);
  NaN when the random controller or the oracle was not evaluated, or the oracle did not beat random
  (:func:`score_unavailable_reason` says which);
- ``accuracy``: mean top-1 accuracy over resolved requests (dropped/failed count 0);
- ``p50_ms``, ``p95_ms``: per-epoch latency percentiles averaged over epochs, weighted by completed
  requests (the simulator keeps no per-request history);
- ``budget_miss_pct``: requests past the budget, dropped or failed, as % of resolved requests;
- ``energy_mj``: modelled energy per completed inference (mJ);
- ``switches_per_hour``: variant switches per hour of trace, not counting each episode's first epoch:
  every episode starts from the env's start variant, and loading the controller's first choice is the
  initial model load, not an adaptation (the reward still charges it);
- ``epochs``: epochs played (all episodes).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from adascale_rl.agents.controller import Controller
from adascale_rl.agents.oracle import OracleController
from adascale_rl.envs.adascale_env import AdaScaleEnv
from adascale_rl.scenario import Scenario
from adascale_rl.traces import Trace

SUMMARY_COLUMNS = ("controller", "mean_reward", "score", "accuracy", "p50_ms", "p95_ms", "budget_miss_pct",
                   "energy_mj", "switches_per_hour", "epochs")
CHANGE_SHARE = 0.5  # share of evaluation segments placed on a state change (see the module docstring)


@dataclass(frozen=True)
class EpisodeSpec:
    """One evaluation episode: a trace segment and the seed of the simulator's random numbers."""

    trace_index: int
    start: int
    length: int
    seed: int

    def options(self) -> dict[str, int]:
        return {"trace_index": self.trace_index, "start": self.start, "length": self.length}


def state_changes(trace: Trace) -> np.ndarray:
    """Epochs ``k`` whose ``state`` label differs from epoch ``k − 1``'s (both labels non-empty)."""
    state = trace.state
    known = (state[1:] != "") & (state[:-1] != "")
    return np.flatnonzero(known & (state[1:] != state[:-1])) + 1


def has_state_change(trace: Trace, spec: EpisodeSpec) -> bool:
    """Whether the segment ``spec`` holds both sides of a state change."""
    changes = state_changes(trace)
    return bool(((changes > spec.start) & (changes < spec.start + spec.length)).any())


def episode_specs(env: AdaScaleEnv, n_episodes: int | None, episode_epochs: int | None, seed: int,
                  change_share: float = CHANGE_SHARE) -> list[EpisodeSpec]:
    """The episodes every controller plays (see the module docstring), seeded by ``seed``.

    ``n_episodes=None``: every trace whole. Otherwise ``n_episodes`` segments of ``episode_epochs``
    (default: the scenario's episode length) from the traces at least that long — ``ceil(change_share ×
    n_episodes)`` of them, spread evenly, placed on a state change — then every shorter trace whole.
    Episode ``k`` gets simulator seed ``seed + k`` (seeds also identify episodes in the records).
    """
    if not 0.0 <= change_share <= 1.0:
        raise ValueError(f"change_share must be in [0, 1], got {change_share!r}")
    traces = env.source.traces
    if n_episodes is None:
        return [EpisodeSpec(i, 0, len(t), seed + i) for i, t in enumerate(traces)]
    if n_episodes < 1:
        raise ValueError(f"n_episodes must be at least 1 (or None for whole traces), got {n_episodes}")
    length = episode_epochs or env.scenario.episode_epochs
    if length < 1:
        raise ValueError(f"episode_epochs must be at least 1, got {length}")
    fitting = [i for i, t in enumerate(traces) if len(t) >= length]
    specs: list[EpisodeSpec] = []
    if fitting:
        rng = np.random.default_rng(seed)
        weights = np.array([len(traces[i]) for i in fitting], dtype=float)
        anchors = [(i, int(c)) for i in fitting for c in state_changes(traces[i])] if length >= 2 else []
        for k in range(n_episodes):
            on_change = bool(anchors) and math.ceil((k + 1) * change_share) > math.ceil(k * change_share)
            if on_change:
                index, change = anchors[int(rng.integers(len(anchors)))]
                low, high = max(0, change - length + 1), min(change - 1, len(traces[index]) - length)
            else:
                index = fitting[int(rng.choice(len(fitting), p=weights / weights.sum()))]
                low, high = 0, len(traces[index]) - length
            specs.append(EpisodeSpec(index, int(rng.integers(low, high + 1)), length, seed + k))
    for index, trace in enumerate(traces):
        if len(trace) < length:
            specs.append(EpisodeSpec(index, 0, len(trace), seed + len(specs)))
    return specs


def count_state_change_episodes(env: AdaScaleEnv, specs: list[EpisodeSpec]) -> int:
    """How many of ``specs`` hold a state change (the same for every controller)."""
    return sum(has_state_change(env.source.traces[spec.trace_index], spec) for spec in specs)


def episode_notes(env: AdaScaleEnv, specs: list[EpisodeSpec], episode_epochs: int | None,
                  change_share: float | None) -> list[str]:
    """What a reader of the results needs to know about the episodes :func:`episode_specs` chose: traces
    played whole because they are shorter than one segment, and how many episodes hold a state change.
    ``change_share`` is the share asked for, None when every trace was played whole."""
    length = episode_epochs or env.scenario.episode_epochs
    traces = env.source.traces
    notes = []
    segments = 0
    for spec in specs if change_share is not None else ():
        if spec.length == length:
            segments += 1
            continue
        trace = traces[spec.trace_index]
        notes.append(f"trace {trace.meta.name!r} has {len(trace)} epochs ({len(trace) * env.scenario.epoch_s:g} "
                     f"s), shorter than one {length}-epoch segment: evaluated whole")
    found = f"{count_state_change_episodes(env, specs)} of {len(specs)} episodes contain a state change"
    if not any(len(state_changes(trace)) for trace in traces):
        unlabelled = all((trace.state == "").all() for trace in traces)
        notes.append(f"{found} (the traces {'have no state labels' if unlabelled else 'never change state'})")
    elif segments and length >= 2:
        placed = math.ceil(segments * change_share)
        notes.append(f"{found} ({placed} of the {segments} segments were placed on one: change share "
                     f"{change_share:g})")
    else:
        notes.append(found)
    return notes


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


def score_unavailable_reason(records: pd.DataFrame) -> str | None:
    """Why ``score`` is NaN for these records, to follow "score is NaN: " (None when it is defined)."""
    names = set(records["controller"])
    missing = [name for name in ("random", "oracle") if name not in names]
    if missing:
        return f"it needs the random and oracle controllers (score 0 and 1); not evaluated: {', '.join(missing)}"
    total = records.groupby("controller")["reward"].sum()
    if not total["oracle"] > total["random"]:
        return (f"the oracle's total reward ({total['oracle']:.4g}) is not above random's ({total['random']:.4g}), "
                "so there is no span to divide by")
    return None


def summarize(records: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Summary table per controller (columns in :data:`SUMMARY_COLUMNS`, documented above).

    ``records``: per-epoch rows as :func:`evaluate` returns them (any episodes, any traces).
    """
    rows = []
    for name, group in records.groupby("controller", sort=False):
        resolved = group["completed"] + group["dropped"] + group["failed"]
        completed = group["completed"].sum()
        weights = group["completed"].to_numpy(dtype=float)
        hours = len(group) * scenario.epoch_s / 3600.0
        first_epoch = group["episode"].ne(group["episode"].shift())  # the initial model load
        rows.append({
            "controller": name,
            "mean_reward": group["reward"].mean(),
            "total_reward": group["reward"].sum(),
            "accuracy": (group["accuracy"] * resolved).sum() / max(1, resolved.sum()),
            "p50_ms": float(np.average(group["latency_p50_ms"], weights=weights)) if completed else float("nan"),
            "p95_ms": float(np.average(group["latency_p95_ms"], weights=weights)) if completed else float("nan"),
            "budget_miss_pct": 100.0 * (group["miss_frac"] * resolved).sum() / max(1, resolved.sum()),
            "energy_mj": 1000.0 * group["energy_j"].sum() / max(1, completed),
            "switches_per_hour": group["switched"][~first_epoch].sum() / hours,
            "epochs": len(group),
        })
    summary = pd.DataFrame(rows)
    if score_unavailable_reason(records) is None:
        total = summary.set_index("controller")["total_reward"]
        summary["score"] = (summary["total_reward"] - total["random"]) / (total["oracle"] - total["random"])
    else:
        summary["score"] = float("nan")
    return summary[list(SUMMARY_COLUMNS)]
