"""Contention injector: replay a recorded trace's background load and memory pressure on this machine with
real worker processes, so a live run meets the contention the policy was trained against.

**CPU**: one worker process per core, each a duty-cycled busy loop at ``tick_s`` (default 100 ms)
granularity. The trace's ``cpu_bg_util`` is a share of total capacity, so utilisation ``u`` on ``n`` cores is ``u·n``
core-equivalents. They are laid out the way the simulator's placement rule assumes
(:mod:`adascale_rl.sim.placement`): whole cores first, the remainder on the next one — worker ``j`` spins
``clip(u·n − j, 0, 1)`` of each tick — so the sim-vs-real comparison compares like with like.

**Memory**: one ballast process keeps ``bytes = clip((a₀ − m)·RAM·mem_scale, 0, cap)`` resident, where
``m`` is the trace's ``mem_avail_frac``, ``a₀`` this machine's available fraction when the injector was
built, and ``cap`` = ``mem_cap_frac`` (default 25 %) of this machine's RAM, further limited to half of what
is available at start — the ballast pushes availability towards the trace's, never to an unsafe level.

**Processes**: the workers are real OS processes running :mod:`~adascale_rl.hardware_bridge.load_workers`
as a script (``subprocess``, one JSON line of schedule on stdin). Not ``multiprocessing``: its *spawn*
method re-imports the caller's ``__main__`` (a script without a ``__name__`` guard would spawn recursively)
and always starts a resource-tracker child that outlives the workers, and *fork* from a process running
torch's thread pool is unsafe. A stdlib-only script starts in milliseconds and inherits nothing.

**Cleanup**: :class:`ContentionInjector` is a context manager. On normal exit, exception,
``KeyboardInterrupt`` or SIGTERM (a handler installed while it runs in the main thread turns SIGTERM into
``SystemExit`` so the ``with`` block unwinds) it closes the workers' stdin (their stop signal), waits,
terminates stragglers and kills what still lives. Workers also stop when their parent dies (the pipe
closes, and ``PR_SET_PDEATHSIG`` has the kernel SIGKILL them), so even a SIGKILLed parent leaves nothing
behind; :meth:`ContentionInjector.close` checks with psutil that none survive.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

from adascale_rl.hardware_bridge import load_workers
from adascale_rl.traces import Trace, resample

log = logging.getLogger(__name__)

DEFAULT_TICK_S = 0.1
DEFAULT_MEM_CAP_FRAC = 0.25
START_DELAY_S = 0.5  # workers start (a few ms each) before the schedule's first tick
WORKER_SCRIPT = Path(load_workers.__file__)


@dataclass(frozen=True)
class LoadSchedule:
    """What to inject per tick: background CPU share of total capacity and ballast bytes."""

    tick_s: float
    cpu_util: np.ndarray
    mem_bytes: np.ndarray

    def __post_init__(self) -> None:
        if not (self.tick_s > 0 and math.isfinite(self.tick_s)):
            raise ValueError(f"tick_s must be a positive number of seconds, got {self.tick_s!r}")
        if self.cpu_util.shape != self.mem_bytes.shape or self.cpu_util.ndim != 1 or not len(self.cpu_util):
            raise ValueError("cpu_util and mem_bytes must be equally long, non-empty 1-D arrays")
        if not (np.isfinite(self.cpu_util).all() and (self.cpu_util >= 0).all() and (self.cpu_util <= 1).all()):
            raise ValueError("cpu_util must lie in [0, 1]")
        if (self.mem_bytes < 0).any():
            raise ValueError("mem_bytes must be non-negative")

    @property
    def duration_s(self) -> float:
        return self.tick_s * len(self.cpu_util)

    def at(self, t_s: float) -> tuple[float, int]:
        """(cpu_util, mem_bytes) at ``t_s`` seconds into the schedule (the last tick after the end)."""
        k = min(max(int(t_s // self.tick_s), 0), len(self.cpu_util) - 1)
        return float(self.cpu_util[k]), int(self.mem_bytes[k])

    @classmethod
    def constant(cls, cpu_util: float, duration_s: float, mem_bytes: int = 0,
                 tick_s: float = DEFAULT_TICK_S) -> LoadSchedule:
        n = max(1, round(duration_s / tick_s))
        return cls(tick_s, np.full(n, float(cpu_util)), np.full(n, int(mem_bytes), dtype=np.int64))

    @classmethod
    def from_trace(cls, trace: Trace, *, start_s: float = 0.0, duration_s: float | None = None,
                   tick_s: float = DEFAULT_TICK_S, mem_scale: float = 1.0,
                   mem_cap_frac: float = DEFAULT_MEM_CAP_FRAC) -> LoadSchedule:
        """The trace from ``start_s`` for ``duration_s`` seconds (default: to its end) at ``tick_s`` steps.

        The trace is a step function (a sample holds until the next), resampled by interval means.
        """
        if not 0.0 <= mem_cap_frac <= 0.9:
            raise ValueError(f"mem_cap_frac must be in [0, 0.9], got {mem_cap_frac}")
        window, offset_s = trace_window(trace, start_s, duration_s)
        epochs = resample(window, tick_s)
        first = int(offset_s // tick_s + 1e-9)
        if not 0 <= first < len(epochs):
            raise ValueError(f"start_s {start_s:g} is outside trace {trace.meta.name!r} "
                             f"({len(epochs) * tick_s:g} s)")
        n = len(epochs) - first if duration_s is None else max(1, round(duration_s / tick_s))
        if first + n > len(epochs):
            raise ValueError(f"trace {trace.meta.name!r} has {(len(epochs) - first) * tick_s:g} s after "
                             f"start {start_s:g} s, fewer than the {duration_s:g} s asked for")
        util = np.clip(epochs.cpu_bg_util[first:first + n], 0.0, 1.0)
        memory = psutil.virtual_memory()
        baseline = memory.available / memory.total
        cap = min(mem_cap_frac * memory.total, 0.5 * memory.available)
        wanted = (baseline - epochs.mem_avail_frac[first:first + n]) * memory.total * mem_scale
        mem = np.clip(np.nan_to_num(wanted, nan=0.0), 0.0, cap).astype(np.int64)
        return cls(tick_s, util.astype(np.float64), mem)


def trace_window(trace: Trace, start_s: float, duration_s: float | None) -> tuple[Trace, float]:
    """The samples of ``trace`` covering ``[start_s, start_s + duration_s]`` (time re-based to the first
    of them) and the offset of ``start_s`` into that window — so a 12-hour trace is not resampled whole
    to 100 ms ticks."""
    t = trace.t_s - trace.t_s[0]
    if not 0.0 <= start_s <= t[-1]:
        raise ValueError(f"start_s {start_s:g} is outside trace {trace.meta.name!r} (0..{t[-1]:g} s)")
    first = max(0, int(np.searchsorted(t, start_s, side="right")) - 1)
    stop = len(t) if duration_s is None else min(len(t), int(np.searchsorted(t, start_s + duration_s)) + 2)
    stop = max(stop, first + 2)
    return trace.slice(first, stop), float(start_s - t[first])


def core_duties(cpu_util: np.ndarray, n_workers: int) -> list[list[float]]:
    """Per worker, its busy share of every tick: whole cores first, then the remainder (placement rule)."""
    demand = np.clip(cpu_util, 0.0, 1.0) * n_workers
    return [np.clip(demand - j, 0.0, 1.0).tolist() for j in range(n_workers)]


class ContentionInjector:
    """Replays a :class:`LoadSchedule` with real processes while the ``with`` block runs.

    ``n_workers`` defaults to this machine's logical CPU count; ``loop`` repeats the schedule when it
    ends (otherwise the load drops to zero).
    """

    def __init__(self, schedule: LoadSchedule, *, n_workers: int | None = None, loop: bool = False,
                 memory: bool = True) -> None:
        self.schedule = schedule
        self.n_workers = n_workers or os.cpu_count() or 1
        self.loop = loop
        self.memory = memory and bool(schedule.mem_bytes.any())
        self._processes: list[subprocess.Popen] = []
        self._t0: float | None = None
        self._previous_sigterm = None
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> ContentionInjector:
        """Start the workers; the schedule's first tick is ``START_DELAY_S`` from now."""
        if self._processes:
            raise RuntimeError("injector already started")
        self._install_sigterm()
        self._t0 = time.monotonic() + START_DELAY_S
        try:
            for duty in core_duties(self.schedule.cpu_util, self.n_workers):
                self._spawn("cpu", duty)
            if self.memory:
                self._spawn("memory", self.schedule.mem_bytes.tolist())
        except BaseException:
            self.close()
            raise
        log.info("contention injector: %d CPU workers%s, %.0f s schedule", self.n_workers,
                 " + memory ballast" if self.memory else "", self.schedule.duration_s)
        return self

    def _spawn(self, kind: str, values: list) -> None:
        process = subprocess.Popen([sys.executable, "-I", str(WORKER_SCRIPT)], stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, close_fds=True)
        self._processes.append(process)
        config = {"kind": kind, "values": values, "tick_s": self.schedule.tick_s, "t0": self._t0,
                  "loop": self.loop, "parent_pid": os.getpid()}
        process.stdin.write(json.dumps(config).encode() + b"\n")
        process.stdin.flush()

    def wait_started(self) -> None:
        """Sleep until the schedule's first tick (workers are spawned and importing until then)."""
        if self._t0 is not None:
            time.sleep(max(0.0, self._t0 - time.monotonic()))

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes]

    def elapsed_s(self) -> float:
        """Seconds since the schedule's first tick (negative before it)."""
        return 0.0 if self._t0 is None else time.monotonic() - self._t0

    def current(self) -> tuple[float, int]:
        """(cpu_util, mem_bytes) the injector is replaying now."""
        t = self.elapsed_s()
        if t < 0:
            return 0.0, 0
        if self.loop:
            t %= self.schedule.duration_s
        elif t >= self.schedule.duration_s:
            return 0.0, 0
        return self.schedule.at(t)

    def mean_upcoming(self, seconds: float) -> float:
        """Mean CPU share the injector replays over the next ``seconds`` (what the coming epoch meets)."""
        t = self.elapsed_s()
        sched = self.schedule
        k0, k1 = int(max(t, 0.0) // sched.tick_s), int(max(t + seconds, 0.0) // sched.tick_s)
        ticks = range(k0, max(k1, k0 + 1))
        if self.loop:
            values = [sched.cpu_util[k % len(sched.cpu_util)] for k in ticks]
        else:
            values = [sched.cpu_util[k] if k < len(sched.cpu_util) else 0.0 for k in ticks]
        return float(np.mean(values))

    def close(self, timeout_s: float = 3.0) -> None:
        """Stop every worker (close stdin → wait → terminate → kill) and check none survive. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for process in self._processes:
            with contextlib.suppress(OSError):  # the worker already exited and the pipe is broken
                process.stdin.close()
        deadline = time.monotonic() + timeout_s
        for process in self._processes:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.terminate()
        for process in self._processes:
            try:
                process.wait(1.0)
            except subprocess.TimeoutExpired:
                log.warning("contention worker pid %d ignored SIGTERM; killing it", process.pid)
                process.kill()
                process.wait(1.0)
        survivors = [pid for pid in self.pids if _is_running(pid)]
        self._restore_sigterm()
        if survivors:
            raise RuntimeError(f"contention workers {survivors} are still running after kill")

    def __enter__(self) -> ContentionInjector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- SIGTERM ---------------------------------------------------------------------------------------
    def _install_sigterm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def on_sigterm(signum: int, frame: object) -> None:
            raise SystemExit(128 + signum)

        self._previous_sigterm = signal.signal(signal.SIGTERM, on_sigterm)

    def _restore_sigterm(self) -> None:
        if self._previous_sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None


def _is_running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
