"""``LocalDevice``: this Linux machine as the device — real readings, real inference, real latency.

**Readings** come from the traces package's local sampler
(:class:`~adascale_rl.traces.record_local.LocalSampler`: psutil + sysfs; NaN for sensors this machine
lacks — a VM usually has no cpufreq, thermal zone or battery). Its ``cpu_bg_util`` is system-wide, so it
would count this process's own inference as "background"; :class:`LocalReader` subtracts this process's
CPU time over the same interval (psutil process times, all threads), leaving the load of *other*
processes — the contention injector's workers among them — which is what the contract means by
background. Like any utilisation, it describes the interval *since the previous reading* (the last epoch).

**Serving**: requests arrive as a Poisson process at the scenario's rate (seeded arrival times on the
``time.perf_counter`` clock). One serving thread takes them FIFO and runs the chosen variant's real
``torch.nn.Module`` on real MNIST images, at the thread count of the compute configuration the
simulator's latency model would pick under the current background (:mod:`adascale_rl.sim.latency_model`;
``torch.set_num_threads``). Arrivals are *admitted lazily*: before each service (and at each epoch
boundary) every arrival time that has passed is admitted in order, and one that finds ``queue_limit``
requests waiting is dropped — exactly the simulator's rule, without a second thread whose wake-ups and
GIL hand-offs would add latency no real app has. When idle the thread sleeps until the next arrival;
if the OS wakes it late, that lateness is real and counts. Per-request latency is measured from the
request's arrival time to the end of its inference (queueing included). Epochs are windows on a fixed
wall-clock grid; requests count in the epoch they arrive, completions in the epoch they finish (the
:class:`EpochStats` convention).

**Switching**: all variants are built and warmed up front (``warm=True``, the default: a deployed
supernet keeps its variants resident), so a switch costs its real pointer swap, measured as ``load_ms``.
With ``warm=False`` a variant is built on first use and that real build time is the switch cost.

**Energy is modelled, not measured** (this VM has no power sensor): active power of the configuration's
cores from the ``local`` device profile × each request's measured service time.
``out_of_memory`` is only set by a real ``MemoryError`` during inference.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import psutil

from adascale_rl.envs.contract import DecisionContract, Reading
from adascale_rl.hardware_bridge.devices.variants import VariantProvider, default_provider, sample_inputs
from adascale_rl.scenario import Scenario
from adascale_rl.sim.latency_model import (
    choose_config,
    condition_factor,
    config_core_counts,
    placement_share_factors,
    service_ms,
)
from adascale_rl.sim.placement import cluster_fill_order, place_background
from adascale_rl.sim.stats import EpochStats

log = logging.getLogger(__name__)


class LocalReader:
    """Readings of this machine with this process's own CPU use taken out of ``cpu_bg_util``."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._n_cpus = psutil.cpu_count(logical=True) or 1
        try:
            from adascale_rl.traces.record_local import LocalSampler

            self._sampler: object | None = LocalSampler("bridge")
            self._sampler.start()
        except ImportError:  # pragma: no cover - the traces recorder ships with the package
            self._sampler = None
            psutil.cpu_percent(interval=None)
        self._last_wall = time.monotonic()
        self._last_own = self._own_cpu_s()
        self.last_system_util = self.last_own_share = math.nan
        self.notes: list[str] = [note for note in getattr(self._sampler, "notes", [])
                                 if not note.startswith("cpu_bg_util is system-wide")]
        self.notes.append("cpu_bg_util is system-wide CPU utilisation (psutil) minus this process's own CPU "
                          "time (inference, controller): the load of other processes, the injector's included")

    def _own_cpu_s(self) -> float:
        times = self._process.cpu_times()
        return float(times.user + times.system)

    def read(self) -> Reading:
        """Utilisation by other processes since the previous read; memory/frequency/temperature now."""
        if self._sampler is not None:
            raw = self._sampler.read()
            system, freq, mem, temp, battery = (raw.cpu_bg_util, raw.cpu_freq_frac, raw.mem_avail_frac, raw.temp_c,
                                                raw.battery_frac)
        else:  # pragma: no cover
            memory = psutil.virtual_memory()
            system = psutil.cpu_percent(interval=None) / 100.0
            freq, mem, temp, battery = math.nan, memory.available / memory.total, math.nan, math.nan
        now, own = time.monotonic(), self._own_cpu_s()
        wall = max(now - self._last_wall, 1e-6)
        own_share = (own - self._last_own) / (wall * self._n_cpus)
        self._last_wall, self._last_own = now, own
        self.last_system_util, self.last_own_share = system, own_share
        background = min(1.0, max(0.0, system - own_share))
        return Reading(freq, background, mem, temp, battery)


@dataclass
class _Counters:
    requests: int = 0
    completed: int = 0
    dropped: int = 0
    failed: int = 0
    late: int = 0
    accuracy_sum: float = 0.0
    energy_j: float = 0.0
    load_ms: float = 0.0
    busy_s: float = 0.0
    oom: bool = False
    latencies: list[float] = field(default_factory=list)


class LocalDevice:
    """This machine serving the scenario's supernet variants (see the module docstring)."""

    reading_is = "previous"  # utilisation is measured over the epoch that just ended

    def __init__(self, scenario: Scenario, *, provider: VariantProvider | None = None, seed: int = 0,
                 warm: bool = True, reader: LocalReader | None = None) -> None:
        import torch

        self.torch = torch
        self.scenario = scenario
        self.contract = DecisionContract(scenario)
        self.table = scenario.table
        self.profile = scenario.profile
        self.provider = provider or default_provider()
        self.name = "local"
        self.energy_source = (f"modelled: '{self.profile.name}' device profile active power x measured "
                              "service time (no power sensor)")
        self.weights = self.provider.weights
        self._rng = np.random.default_rng(seed)
        self._inputs = sample_inputs()
        self._modules: dict[int, object] = {}
        self._counts = config_core_counts(self.profile, self.table.configs)
        self._threads = [self.profile.config(name).n_cores for name in self.table.configs]
        self._fill = cluster_fill_order(self.profile)
        self.reader = reader or LocalReader()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._queue: deque[float] = deque()
        self._counters = _Counters()
        self._variant = self.contract.action_to_variant(self.contract.fallback_action)
        self._pending_switch = False
        self._switched = False
        self._bg = 0.0
        self._freq = 1.0
        self._temp = math.nan
        self._config = self._choose_config(self._variant)
        if warm:
            started = time.perf_counter()
            for variant in range(len(self.table)):
                self._module(variant)
            log.info("built and warmed %d variants in %.1f s (%s)", len(self.table), time.perf_counter() - started,
                     self.weights)
        else:
            self._module(self._variant)
        self._thread: threading.Thread | None = None
        self._epoch_end = 0.0
        self._next_arrival = math.inf

    # -- variants --------------------------------------------------------------------------------------
    def _module(self, variant: int) -> object:
        module = self._modules.get(variant)
        if module is None:
            variant_id = str(self.table.variant_id[variant])
            try:
                module = self.provider.build(variant_id)
            except (ValueError, KeyError) as exc:
                raise ValueError(f"variant {variant_id!r} of the '{self.table.device}' catalog is not a supernet "
                                 f"variant this machine can build ({exc}); LocalDevice serves supernet variants, "
                                 "so use a scenario on the 'local' catalog") from None
            with self.torch.inference_mode():
                for threads in sorted(set(self._threads)):
                    self.torch.set_num_threads(threads)
                    for _ in range(3):
                        module(self._inputs[:1])
            self._modules[variant] = module
        return module

    def _choose_config(self, variant: int) -> int:
        """Index of the configuration the simulator's runtime rule picks for ``variant`` under the last
        reading (:func:`~adascale_rl.sim.latency_model.choose_config`: energy-aware among those leaving
        half the budget for queueing, else the fastest; configurations whose cores background holds are
        out). If none can be placed, the one with the fewest cores still runs — a real machine shares."""
        placement = place_background(self.profile, self._bg, self._fill)
        condition = condition_factor(self._freq, self._temp, self.profile.throttle_c)
        share = placement_share_factors(self.profile, self._counts, placement)
        latency = service_ms(self.table.latency_ms[variant], share, condition, self.profile.request_overhead_ms)
        if not np.isfinite(latency).any():
            return int(np.argmin(np.where(np.isfinite(self.table.latency_ms[variant]), self._counts.sum(axis=1),
                                          np.inf)))
        power = np.array([self.profile.active_power_w(cfg, self._freq) for cfg in self.table.configs])
        return choose_config(latency, power, self.scenario.latency_budget_ms)

    # -- Device protocol -------------------------------------------------------------------------------
    def sample(self) -> Reading:
        reading = self.reader.read()
        with self._lock:
            self._bg = reading.cpu_bg_util if math.isfinite(reading.cpu_bg_util) else self._bg
            self._freq = 1.0 if math.isnan(reading.cpu_freq_frac) else reading.cpu_freq_frac
            self._temp = reading.temp_c
            self._config = self._choose_config(self._variant)
        return reading

    def apply(self, action: int) -> None:
        variant = self.contract.action_to_variant(action)
        with self._lock:
            if variant != self._variant:
                self._variant = variant
                self._pending_switch = True
                self._switched = True
            self._config = self._choose_config(variant)

    def serve_epoch(self, duration_s: float) -> EpochStats:
        """Serve until the end of this epoch on the fixed wall-clock grid, then report it."""
        if not (duration_s > 0 and math.isfinite(duration_s)):
            raise ValueError(f"duration_s must be a positive number of seconds, got {duration_s!r}")
        now = time.perf_counter()
        if self._thread is None:
            self._epoch_end = now
            self._next_arrival = now + float(self._rng.exponential(1.0 / self.scenario.request_rate_hz))
            self._thread = threading.Thread(target=self._serve_loop, name="bridge-inference", daemon=True)
            self._thread.start()
        self._epoch_end = max(self._epoch_end + duration_s, now)
        while (left := self._epoch_end - time.perf_counter()) > 0:
            time.sleep(min(left, 0.05))
        with self._lock:
            self._admit(self._epoch_end)
            counters, self._counters = self._counters, _Counters()
            switched, self._switched = self._switched, False
            queue_len = len(self._queue)
        return self._stats(counters, switched, queue_len)

    def close(self) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def __enter__(self) -> LocalDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- serving ---------------------------------------------------------------------------------------
    def _admit(self, until: float) -> None:
        """Admit (or drop) every arrival up to ``until``, in order. Caller holds the lock."""
        limit = self.scenario.queue_limit
        mean_gap = 1.0 / self.scenario.request_rate_hz
        while self._next_arrival <= until:
            self._counters.requests += 1
            if len(self._queue) >= limit:
                self._counters.dropped += 1
            else:
                self._queue.append(self._next_arrival)
            self._next_arrival += float(self._rng.exponential(mean_gap))

    def _serve_loop(self) -> None:
        torch = self.torch
        budget_s = self.scenario.latency_budget_ms / 1000.0
        current_threads = torch.get_num_threads()
        n_inputs = len(self._inputs)
        served = 0
        while not self._stop.is_set():
            with self._wake:
                self._admit(time.perf_counter())
                if not self._queue:
                    self._wake.wait(max(0.0, self._next_arrival - time.perf_counter()))
                    continue
                arrival = self._queue.popleft()
                variant, config, freq = self._variant, self._config, self._freq
                switch, self._pending_switch = self._pending_switch, False
            if switch:
                t0 = time.perf_counter()
                module = self._module(variant)
                load_ms = (time.perf_counter() - t0) * 1000.0
            else:
                module, load_ms = self._modules[variant], 0.0
            threads = self._threads[config]
            if threads != current_threads:
                torch.set_num_threads(threads)
                current_threads = threads
            x = self._inputs[served % n_inputs: served % n_inputs + 1]
            served += 1
            oom = False
            start = time.perf_counter()
            try:
                with torch.inference_mode():
                    module(x)
            except MemoryError:
                oom = True
            done = time.perf_counter()
            power_w = self.profile.active_power_w(self.table.configs[config], freq)
            with self._lock:
                c = self._counters
                c.load_ms += load_ms
                if oom:
                    c.failed += 1
                    c.oom = True
                    continue
                latency_s = done - arrival
                c.completed += 1
                c.latencies.append(latency_s * 1000.0)
                c.late += latency_s > budget_s
                c.accuracy_sum += float(self.table.accuracy[variant])
                c.busy_s += done - start
                c.energy_j += power_w * (done - start)

    def _stats(self, c: _Counters, switched: bool, queue_len: int) -> EpochStats:
        return EpochStats.from_tallies(
            requests=c.requests, completed=c.completed, dropped=c.dropped, failed=c.failed, late=c.late,
            latencies_ms=c.latencies, energy_j=c.energy_j, accuracy_sum=c.accuracy_sum, switched=switched,
            out_of_memory=c.oom, load_ms=c.load_ms, queue_len=queue_len,
        )
