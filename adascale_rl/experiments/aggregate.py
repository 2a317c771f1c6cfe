"""Aggregate scores over training seeds and test sets: interquartile mean with stratified-bootstrap CIs.

The statistics of *Deep RL at the Edge of the Statistical Precipice* (Agarwal et al., NeurIPS 2021) as
the ``rliable`` package defines them:

- **IQM**: the mean of the middle 50 % of all (run, task) scores pooled — ``scipy.stats.trim_mean`` with
  25 % cut from each end, exactly ``rliable.metrics.aggregate_iqm``;
- **stratified bootstrap**: each resample draws, *within every task independently*, as many runs as the
  task has, with replacement (``rliable.library.StratifiedBootstrap``); the confidence interval is the
  percentile interval of the statistic over the resamples (rliable's default ``method="percentile"``).

Here runs are training seeds and tasks are test sets (scenario × fold). It is implemented on numpy
rather than by calling ``rliable`` because rliable 1.2.0 (its latest release) does not import with this
project's pandas 3: it requires ``arch<8``, whose 7.x releases fail at import under pandas 3, and
arch 8 rejects the ``random_state=None`` keyword rliable passes. ``tests/test_experiments_aggregate.py``
compares this module with values rliable 1.2.0 computed (with pandas 2) on the same scores.

Reuse: :func:`aggregate_scores` takes any tidy table with one score per (group, run, task) row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import trim_mean

REPS = 50_000  # rliable's default number of bootstrap resamples
CHUNK = 5_000


def iqm(scores: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Interquartile mean (25 % trimmed from each end), over all values or along ``axis``."""
    return trim_mean(scores, proportiontocut=0.25, axis=axis)


@dataclass(frozen=True)
class Interval:
    """A point estimate and its bootstrap confidence interval."""

    point: float
    low: float
    high: float


def stratified_bootstrap(tasks: Sequence[np.ndarray], reps: int = REPS, confidence: float = 0.95,
                         seed: int = 0) -> Interval:
    """IQM over the pooled scores of ``tasks`` (one 1-D array of run scores per task; tasks may have
    different numbers of runs) with a percentile CI from ``reps`` stratified bootstrap resamples."""
    tasks = [np.asarray(t, dtype=float) for t in tasks]
    if not tasks or any(t.ndim != 1 or t.size == 0 for t in tasks):
        raise ValueError("every task needs a non-empty 1-D array of run scores")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    point = float(iqm(np.concatenate(tasks)))
    stats = []
    for start in range(0, reps, CHUNK):
        n = min(CHUNK, reps - start)
        resample = np.concatenate([t[rng.integers(0, t.size, size=(n, t.size))] for t in tasks], axis=1)
        stats.append(iqm(resample, axis=1))
    stats = np.concatenate(stats)
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(stats, [tail, 100.0 - tail])
    return Interval(point, float(low), float(high))


def aggregate_scores(table: pd.DataFrame, value: str = "score", run: str = "seed",
                     task: str | Sequence[str] = ("scenario", "fold"), group: str = "controller",
                     reps: int = REPS, confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """IQM and CI of ``value`` per ``group``: per task and over all tasks (``task`` = ``"overall"``).

    ``table`` holds one row per (group, run, task); rows whose value is NaN are left out. Columns of the
    result: ``group``, ``task``, ``runs`` (total run scores used), ``tasks``, ``iqm``, ``ci_low``,
    ``ci_high``, ``mean``. A group with one run per task (a seed-independent baseline) has a zero-width
    interval: the bootstrap sees no run-to-run variation.
    """
    task_columns = [task] if isinstance(task, str) else list(task)
    data = table.dropna(subset=[value])
    rows = []
    for name, rows_of_group in data.groupby(group, sort=False):
        per_task = {label: part[value].to_numpy(dtype=float)
                    for label, part in rows_of_group.groupby(task_columns, sort=False)}
        for label, scores in [*((" / ".join(map(str, k)) if isinstance(k, tuple) else str(k), [v])
                                for k, v in per_task.items()), ("overall", list(per_task.values()))]:
            interval = stratified_bootstrap(scores, reps, confidence, seed)
            pooled = np.concatenate(scores)
            rows.append({group: name, "task": label, "runs": pooled.size, "tasks": len(scores),
                         "iqm": interval.point, "ci_low": interval.low, "ci_high": interval.high,
                         "mean": float(pooled.mean())})
    return pd.DataFrame(rows, columns=[group, "task", "runs", "tasks", "iqm", "ci_low", "ci_high", "mean"])
