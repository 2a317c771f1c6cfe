"""Where episodes come from: real traces resampled to the decision epoch (one sample per epoch, so a
step looks its conditions up in O(1)), kept separate from the simulator and the environment so recorded
and other trace sources are interchangeable."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from adascale_rl.traces import Trace, load_split, resample


class TraceSource:
    """A set of epoch traces: random segments for training, whole traces for evaluation."""

    def __init__(self, traces: list[Trace]) -> None:
        """``traces``: already resampled to the decision epoch."""
        if not traces:
            raise ValueError("a trace source needs at least one trace")
        self.traces = traces
        lengths = np.array([len(t) for t in traces], dtype=np.float64)
        self._weights = lengths / lengths.sum()

    @property
    def weights(self) -> np.ndarray:
        """Each trace's probability of giving a training episode (its share of all epochs)."""
        return self._weights

    @classmethod
    def from_traces(cls, traces: list[Trace], epoch_s: float) -> TraceSource:
        return cls([resample(t, epoch_s) for t in traces])

    @classmethod
    def bundled_split(cls, split: str, epoch_s: float) -> TraceSource:
        return cls(list(_bundled_split(split, epoch_s)))

    def random_segment(self, rng: np.random.Generator, n_epochs: int) -> tuple[Trace, int]:
        """A trace (chosen in proportion to its length) and a uniformly random start for ``n_epochs``."""
        trace = self.traces[int(rng.choice(len(self.traces), p=self._weights))]
        if len(trace) < n_epochs:
            raise ValueError(f"trace {trace.meta.name!r} has {len(trace)} epochs, fewer than an episode ({n_epochs})")
        return trace, int(rng.integers(0, len(trace) - n_epochs + 1))


@lru_cache(maxsize=8)
def _bundled_split(split: str, epoch_s: float) -> tuple[Trace, ...]:
    return tuple(resample(trace, epoch_s) for trace in load_split(split))
