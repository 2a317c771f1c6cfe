"""Trace operations the simulator needs: resampling to decision epochs and cutting episodes.

A trace is treated as a step function (each sample holds until the next one, the last holds for one
median period). :func:`resample` averages that step function over each epoch, so it works both ways:
epochs shorter than the sampling period repeat the held value, longer epochs average several samples,
and the time-weighted mean of every column is preserved.
"""

from __future__ import annotations

import numpy as np

from adascale_rl.traces.schema import NUMERIC_COLUMNS, Trace


def resample(trace: Trace, epoch_s: float) -> Trace:
    """Average ``trace`` over consecutive epochs of ``epoch_s`` seconds (time-weighted).

    The span is ``duration_s + period_s`` (the last sample is held for one median period), and the
    result has ``floor(span / epoch_s)`` samples — one per whole epoch; a partial last epoch is dropped
    rather than averaged over less time. ``t_s`` is each epoch's start (``k * epoch_s``); ``state`` is
    the label in force for the largest part of the epoch. An epoch that overlaps unknown (NaN) values
    of a column is NaN in that column: averaging only the known part would present a guess as data.
    """
    if not epoch_s > 0:
        raise ValueError(f"epoch_s must be positive, got {epoch_s!r}")
    if len(trace) < 2:
        raise ValueError(f"trace {trace.meta.name!r} has {len(trace)} sample(s); resampling needs at least 2")
    starts = trace.t_s - trace.t_s[0]
    ends = np.append(starts[1:], starts[-1] + trace.period_s)
    n_epochs = int(np.floor(ends[-1] / epoch_s + 1e-9))
    if n_epochs < 1:
        raise ValueError(f"trace {trace.meta.name!r} spans {ends[-1]:g} s, shorter than one epoch of {epoch_s:g} s")
    edges = np.arange(n_epochs + 1) * epoch_s
    columns: dict[str, np.ndarray] = {"t_s": edges[:-1].copy()}
    for spec in NUMERIC_COLUMNS[1:]:
        columns[spec.name] = _interval_means(starts, ends, trace.column(spec.name), edges)
    columns["state"] = _dominant_state(starts, ends, trace.state, edges)
    return Trace.from_columns(columns, trace.meta)


def _interval_means(starts: np.ndarray, ends: np.ndarray, values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Mean of the step function (values[i] on [starts[i], ends[i])) over each [edges[k], edges[k+1])."""
    nan = np.isnan(values)
    filled = np.where(nan, 0.0, values)
    area = np.concatenate(([0.0], np.cumsum(filled * (ends - starts))))
    nan_time = np.concatenate(([0.0], np.cumsum(nan * (ends - starts))))

    def integral(cumulative: np.ndarray, level: np.ndarray, t: np.ndarray) -> np.ndarray:
        index = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(starts) - 1)
        return cumulative[index] + level[index] * (t - starts[index])

    width = np.diff(edges)
    sums = np.diff(integral(area, filled, edges))
    nan_share = np.diff(integral(nan_time, nan.astype(np.float64), edges)) / width
    known = width * (1.0 - nan_share)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(nan_share > 1e-9, np.nan, sums / known)
    if (~nan).any():
        # Differences of running sums carry rounding error (~1e-16 relative); clipping keeps an average of
        # values that are all 1.0 from coming out as 1.0000000000000002 and failing the schema's range.
        means = np.clip(means, filled[~nan].min(), filled[~nan].max())
    return means


def _dominant_state(starts: np.ndarray, ends: np.ndarray, states: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Label that covers the largest share of each epoch."""
    out = np.empty(len(edges) - 1, dtype=states.dtype)
    first = np.searchsorted(ends, edges[:-1], side="right")
    last = np.searchsorted(starts, edges[1:], side="left")
    for k in range(len(out)):
        lo, hi = edges[k], edges[k + 1]
        share: dict[str, float] = {}
        for i in range(first[k], max(last[k], first[k] + 1)):
            overlap = min(ends[i], hi) - max(starts[i], lo)
            if overlap > 0:
                share[states[i]] = share.get(states[i], 0.0) + overlap
        out[k] = max(share, key=share.__getitem__) if share else states[min(first[k], len(states) - 1)]
    return out


def random_segment(trace: Trace, n_samples: int, rng: np.random.Generator) -> Trace:
    """A uniformly random window of ``n_samples`` consecutive samples (time re-based to 0)."""
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}")
    if n_samples > len(trace):
        raise ValueError(f"trace {trace.meta.name!r} has {len(trace)} samples, fewer than the {n_samples} asked for")
    start = int(rng.integers(0, len(trace) - n_samples + 1))
    return trace.slice(start, start + n_samples)


def whole(trace: Trace) -> Trace:
    """The whole trace with time re-based to 0 (the evaluation-mode 'episode')."""
    return trace.slice(0, len(trace))
