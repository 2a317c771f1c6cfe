"""What a worker does with one cell: train (PPO), play the cell's episodes, return one row per episode.

:func:`run_cell` is the only function the process pool and Ray call. It never raises: any error becomes
a failed :class:`CellResult` carrying the message, so one bad cell does not stop a grid. Results travel
back by value (the per-episode frame and the PPO run folder's files), so a worker on another machine
needs no shared file system.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from adascale_rl import __version__
from adascale_rl.agents.evaluate import EpisodeSpec, episode_specs, run_episode, summarize
from adascale_rl.agents.factory import build_controllers
from adascale_rl.envs.adascale_env import AdaScaleEnv
from adascale_rl.experiments.plan import CellJob
from adascale_rl.scenario import Scenario

#: per-episode identity columns, before the summary metrics of :func:`~adascale_rl.agents.evaluate.summarize`
EPISODE_COLUMNS = ("episode_index", "episode", "trace", "start", "length", "total_reward", "switches")


@dataclass
class CellResult:
    """A finished cell: its per-episode rows, or the error that stopped it."""

    key: str
    episodes: pd.DataFrame | None
    error: str | None
    wall_s: float
    cpu_s: float = 0.0  # CPU time of the worker process (all its threads) while computing the cell
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    package_version: str = __version__
    run_files: dict[str, bytes] = field(default_factory=dict)  # PPO run folder, relative path -> content

    @property
    def ok(self) -> bool:
        return self.error is None


def run_cell(job: CellJob) -> CellResult:
    """Compute one cell (see module docstring); never raises."""
    started, cpu = time.perf_counter(), time.process_time()
    try:
        frame, files = _compute(job)
        return CellResult(job.key, frame, None, time.perf_counter() - started, time.process_time() - cpu,
                          run_files=files)
    except Exception as exc:  # a failed cell is a result, not a crash of the grid
        detail = "".join(traceback.format_exception(exc)[-3:]).strip()
        return CellResult(job.key, None, f"{type(exc).__name__}: {exc}\n{detail}", time.perf_counter() - started,
                          time.process_time() - cpu)


def _compute(job: CellJob) -> tuple[pd.DataFrame, dict[str, bytes]]:
    env = AdaScaleEnv(job.scenario, mode="eval", traces=list(job.test_traces))
    specs = episode_specs(env, job.episodes.count, job.episodes.length, job.episodes.seed)
    with tempfile.TemporaryDirectory(prefix="adascale-cell-") as tmp:
        policy, files = None, {}
        with single_torch_thread(job.controller == "ppo"):
            if job.controller == "ppo":
                policy = _train(job, Path(tmp))
                files = {str(p.relative_to(policy)): p.read_bytes() for p in sorted(policy.rglob("*")) if p.is_file()}
            (controller,) = build_controllers([job.controller], env.contract, policy, job.episodes.seed,
                                              train_traces=list(job.train_traces) or None)
            frames = [run_episode(env, controller, spec) for spec in specs]
    return episode_rows(frames, specs, job.scenario), files


def _train(job: CellJob, tmp: Path) -> Path:
    from adascale_rl.agents.ppo import train

    hyperparams = tmp / "hyperparams.yml"
    hyperparams.write_text(job.training.yaml_for(job.scenario.name), encoding="utf-8")
    out = tmp / "run"
    train(job.scenario, out, timesteps=job.training.timesteps, seed=job.seed, hyperparams=hyperparams,
          eval_freq=job.training.eval_freq, progress_bar=False, traces=list(job.train_traces))
    return out


@contextlib.contextmanager
def single_torch_thread(active: bool) -> Iterator[None]:
    """One torch thread while training/acting: results then do not depend on the worker's core count
    (a different reduction order changes float sums), and N workers do not oversubscribe N cores."""
    if not active:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def episode_rows(frames: list[pd.DataFrame], specs: list[EpisodeSpec], scenario: Scenario) -> pd.DataFrame:
    """One row per episode: identity, total reward, switches and the evaluation summary's metrics."""
    rows = []
    for index, (frame, spec) in enumerate(zip(frames, specs, strict=True)):
        metrics = summarize(frame.assign(controller="cell"), scenario).iloc[0].drop(["controller", "score"])
        rows.append({"episode_index": index, "episode": spec.seed, "trace": str(frame["trace"].iloc[0]),
                     "start": spec.start, "length": spec.length, "total_reward": float(frame["reward"].sum()),
                     "switches": int(frame["switched"].sum()), **metrics.to_dict()})
    return pd.DataFrame(rows)
