"""Record this machine while the contention injector replays another device's trace: a real recording of
this host under a known, real workload pattern (``adascale-rl traces record --inject TRACE``).

Why: a controller trained on the bundled boards should be checked on a device it never saw. This host is
such a device, but an idle VM records nothing worth controlling; replaying a recorded board's background
load and memory pressure with real processes (:class:`~adascale_rl.hardware_bridge.contention.ContentionInjector`)
and recording what this machine's sensors then report gives a trace with real dynamics of *this* machine
(its scheduler, its psutil readings, its memory, whatever else runs) under a realistic workload pattern.

Each sample's ``state`` is the label the replayed trace has at that moment (``mining``, ``idle``, …), so
evaluation can place segments on workload changes as it does for the bundled boards; the file's notes name
the replayed trace and window.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from adascale_rl.hardware_bridge.contention import DEFAULT_MEM_CAP_FRAC, ContentionInjector, LoadSchedule
from adascale_rl.traces import Trace
from adascale_rl.traces.record_local import LocalSampler
from adascale_rl.traces.recorder import record


def states_at(trace: Trace, times_s: np.ndarray) -> np.ndarray:
    """The ``state`` label ``trace`` holds at each of ``times_s`` (seconds since its first sample)."""
    t = trace.t_s - trace.t_s[0]
    index = np.clip(np.searchsorted(t, times_s, side="right") - 1, 0, len(t) - 1)
    return trace.state[index]


def record_under_contention(replayed: Trace, duration_s: float, interval_s: float, *, start_s: float = 0.0,
                            name: str | None = None, mem_cap_frac: float = DEFAULT_MEM_CAP_FRAC,
                            progress: bool = False) -> Trace:
    """Record this machine for ``duration_s`` seconds while ``replayed`` plays from ``start_s`` (see module
    docstring). The workers start first; recording begins at the schedule's first tick."""
    schedule = LoadSchedule.from_trace(replayed, start_s=start_s, duration_s=duration_s + interval_s,
                                       mem_cap_frac=mem_cap_frac)
    with ContentionInjector(schedule) as injector:
        injector.wait_started()
        trace = record(LocalSampler(name), duration_s, interval_s, progress=progress)
    labels = states_at(replayed, start_s + trace.t_s)
    note = (f"contention injected: {injector.n_workers} CPU workers"
            f"{' + memory ballast' if injector.memory else ''} replaying trace '{replayed.meta.name}' "
            f"({replayed.meta.device or 'unknown device'}) from {start_s:g} s for {duration_s:g} s "
            "(state = the replayed trace's label at each sample)")
    return replace(trace, state=np.asarray(labels, dtype=str), meta=replace(trace.meta, notes=(*trace.meta.notes,
                                                                                                note)))
