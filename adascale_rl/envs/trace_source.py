"""Where episodes come from: real traces resampled to the decision epoch, kept separate from the
simulator and the environment so recorded and other trace sources are interchangeable."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from adascale_rl.sim.simulator import EpochConditions
from adascale_rl.traces import Trace, load_split, resample


@dataclass(frozen=True)
class EpochTrace:
    """One trace as per-epoch arrays (already resampled), ready for O(1) lookup per step."""

    name: str
    cpu_freq_frac: np.ndarray
    cpu_bg_util: np.ndarray
    mem_avail_frac: np.ndarray
    temp_c: np.ndarray
    battery_frac: np.ndarray
    state: np.ndarray

    def __len__(self) -> int:
        return int(self.cpu_bg_util.shape[0])

    @classmethod
    def from_trace(cls, trace: Trace, epoch_s: float) -> EpochTrace:
        r = resample(trace, epoch_s)
        return cls(trace.meta.name, r.cpu_freq_frac, r.cpu_bg_util, r.mem_avail_frac, r.temp_c, r.battery_frac,
                   r.state)

    def conditions(self, index: int) -> EpochConditions:
        return EpochConditions(float(self.cpu_freq_frac[index]), float(self.cpu_bg_util[index]),
                               float(self.mem_avail_frac[index]), float(self.temp_c[index]))


class TraceSource:
    """A set of epoch traces: random segments for training, whole traces for evaluation."""

    def __init__(self, traces: list[EpochTrace]) -> None:
        if not traces:
            raise ValueError("a trace source needs at least one trace")
        self.traces = traces
        lengths = np.array([len(t) for t in traces], dtype=np.float64)
        self._weights = lengths / lengths.sum()

    @classmethod
    def from_traces(cls, traces: list[Trace], epoch_s: float) -> TraceSource:
        return cls([EpochTrace.from_trace(t, epoch_s) for t in traces])

    @classmethod
    def bundled_split(cls, split: str, epoch_s: float) -> TraceSource:
        return cls(list(_bundled_split(split, epoch_s)))

    def random_segment(self, rng: np.random.Generator, n_epochs: int) -> tuple[EpochTrace, int]:
        """A trace (chosen in proportion to its length) and a uniformly random start for ``n_epochs``."""
        trace = self.traces[int(rng.choice(len(self.traces), p=self._weights))]
        if len(trace) < n_epochs:
            raise ValueError(f"trace {trace.name!r} has {len(trace)} epochs, fewer than an episode ({n_epochs})")
        return trace, int(rng.integers(0, len(trace) - n_epochs + 1))


@lru_cache(maxsize=8)
def _bundled_split(split: str, epoch_s: float) -> tuple[EpochTrace, ...]:
    return tuple(EpochTrace.from_trace(trace, epoch_s) for trace in load_split(split))
