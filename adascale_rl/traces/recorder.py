"""The sampling loop shared by the recorders: tick every ``interval_s``, ask a sampler, build a Trace.

A *sampler* knows one kind of device (this Linux machine, an Android phone over adb); the loop here
knows time: when to read, how to stamp samples, progress display, stopping early on Ctrl-C, and
validating the result against the canonical schema before anyone saves it.

Time stamps. A utilisation reading is the mean over the interval since the previous read, so the
sample made at the end of an interval is stamped with that interval's *start*: in the step-function
reading every consumer uses (a sample holds until the next one), the value then describes the interval
it was measured over. The first sample is at ``t_s = 0``. Frequency, memory, temperature and battery are
instantaneous reads taken at the end of the same interval.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from adascale_rl.traces.schema import Trace, TraceMeta
from adascale_rl.traces.validation import validate_trace

NAN = math.nan


@dataclass(frozen=True)
class Reading:
    """One sample's values as a sampler measured them (schema units; NaN = not available)."""

    cpu_freq_frac: float
    cpu_bg_util: float
    mem_avail_frac: float
    temp_c: float = NAN
    battery_frac: float = NAN


class Sampler(Protocol):
    """A source of :class:`Reading` s for :func:`record`."""

    def start(self) -> None:
        """Prime cumulative counters: the first utilisation needs a previous read to diff against."""

    def read(self) -> Reading:
        """Utilisation since the previous call, plus instantaneous readings now."""

    def meta(self) -> TraceMeta:
        """Device description and notes (called after recording, so notes can mention what happened)."""


def record(sampler: Sampler, duration_s: float, interval_s: float, *, state: str = "", progress: bool = False,
           clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> Trace:
    """Sample ``sampler`` every ``interval_s`` seconds for ``duration_s`` seconds into a validated Trace.

    Produces ``round(duration_s / interval_s)`` samples (at least one). Ticks are scheduled on a fixed
    grid from the start, so a slow read delays one sample instead of shifting every later one. Ctrl-C
    stops early and keeps what was recorded (a note says so); with nothing recorded yet it propagates.
    ``state`` labels every sample (e.g. ``idle`` or ``game`` for what the device was doing).
    """
    if not (interval_s > 0 and math.isfinite(interval_s)):
        raise ValueError(f"interval_s must be a positive number of seconds, got {interval_s!r}")
    if not (duration_s >= interval_s and math.isfinite(duration_s)):
        raise ValueError(f"duration_s must be at least one interval ({interval_s:g} s), got {duration_s!r}")
    n_samples = max(1, round(duration_s / interval_s))
    stamps: list[float] = []
    readings: list[Reading] = []
    stopped_early = False
    bar = _progress_bar(progress, interval_s)
    with bar:
        task = bar.add_task("recording", total=n_samples)
        start = clock()
        sampler.start()
        previous = start
        try:
            for tick in range(1, n_samples + 1):
                wait = start + tick * interval_s - clock()
                if wait > 0:
                    sleep(wait)
                reading = sampler.read()
                now = clock()
                stamps.append(round(previous - start, 6))
                readings.append(reading)
                previous = now
                bar.advance(task)
        except KeyboardInterrupt:
            if not readings:
                raise
            stopped_early = True
    meta = sampler.meta()
    if stopped_early:
        meta = replace(meta, notes=(*meta.notes, f"stopped early by the user after {len(readings)} of "
                                                 f"{n_samples} samples"))
    columns: dict[str, np.ndarray] = {"t_s": np.asarray(stamps)}
    for name in ("cpu_freq_frac", "cpu_bg_util", "mem_avail_frac", "temp_c", "battery_frac"):
        columns[name] = np.asarray([getattr(r, name) for r in readings], dtype=np.float64)
    columns["state"] = np.asarray([state] * len(readings), dtype=str)
    trace = Trace.from_columns(columns, meta)
    validate_trace(trace, f"recording '{meta.name}' from {meta.device}")
    return trace


def _progress_bar(show: bool, interval_s: float) -> Progress:
    """A rich progress bar on stderr (disabled → no output at all, for tests and short runs)."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn(f"samples every {interval_s:g} s"), TimeRemainingColumn(),
                    console=Console(stderr=True), disable=not show, transient=False)
