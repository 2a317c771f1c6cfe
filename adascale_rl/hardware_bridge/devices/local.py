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

**Variants are built on first use** (``prebuild``: those to build up front; the safe variant always
is). Building a supernet variant (and calibrating an int8 one) is an artefact of cutting it from the
supernet in Python — a deployed app ships its models built — so it must not count as serving time: while
:meth:`LocalDevice.apply` builds a new variant the serving thread is held idle and the device's clock
is *paused* (pending arrivals, the next arrival and the epoch grid all move by the build time). The
build time is reported per epoch (:class:`~.base.DeviceReport`), the switch itself costs its real
pointer swap, measured as ``load_ms``.

**Fail-safe**: a variant that cannot be built, or raises while serving (any exception from its real
module; its request counts as failed), is *quarantined*: logged, reported as a fault, and the safe
variant (the contract's fallback, smallest memory) served from then on whenever it is chosen. A failing
sensor gives NaN fields (logged), which the runtime answers with the safe variant too.

**Online profiler**: every served request updates :attr:`LocalDevice.profiler`
(:class:`~adascale_rl.hardware_bridge.online_profile.OnlineProfiler`) with its latency, its service
time (from when the server could start it: its arrival or the previous request's end) and its energy.

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
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import psutil

from adascale_rl.catalog import VariantTable
from adascale_rl.envs.contract import DecisionContract, Reading
from adascale_rl.hardware_bridge.devices.base import DeviceReport
from adascale_rl.hardware_bridge.devices.variants import VariantProvider, default_provider, sample_inputs
from adascale_rl.hardware_bridge.online_profile import OnlineProfiler
from adascale_rl.scenario import Scenario
from adascale_rl.sim.latency_model import (
    choose_config,
    condition_factor,
    config_core_counts,
    placement_share_factors,
    service_ms,
    serving_overhead,
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
        self.faults: list[str] = []  # sensor failures since the device last collected them
        self.notes: list[str] = [note for note in getattr(self._sampler, "notes", [])
                                 if not note.startswith("cpu_bg_util is system-wide")]
        self.notes.append("cpu_bg_util is system-wide CPU utilisation (psutil) minus this process's own CPU "
                          "time (inference, controller): the load of other processes, the injector's included")

    def _own_cpu_s(self) -> float:
        times = self._process.cpu_times()
        return float(times.user + times.system)

    def read(self) -> Reading:
        """Utilisation by other processes since the previous read; memory/frequency/temperature now.

        Never raises: a sensor that fails (psutil or sysfs raising) gives NaN for what it measures and a
        logged warning; a NaN background or memory reading makes the runtime choose the safe variant."""
        try:
            system, freq, mem, temp, battery = self._system()
        except Exception as exc:  # any sensor failure: psutil.Error, OSError, parse errors
            self._warn(f"the resource sampler failed ({type(exc).__name__}: {exc}); reading unknown (NaN)")
            system = freq = mem = temp = battery = math.nan
        now = time.monotonic()
        try:
            own = self._own_cpu_s()
        except Exception as exc:  # psutil cannot read this process: its share cannot be taken out
            self._warn(f"this process's CPU time is unreadable ({type(exc).__name__}: {exc}); background unknown")
            own = math.nan
        wall = max(now - self._last_wall, 1e-6)
        own_share = (own - self._last_own) / (wall * self._n_cpus)
        self._last_wall = now
        if math.isfinite(own):
            self._last_own = own
        self.last_system_util, self.last_own_share = system, own_share
        background = min(1.0, max(0.0, system - own_share)) if math.isfinite(system - own_share) else math.nan
        return Reading(freq, background, mem, temp, battery)

    def _system(self) -> tuple[float, float, float, float, float]:
        if self._sampler is not None:
            raw = self._sampler.read()
            return raw.cpu_bg_util, raw.cpu_freq_frac, raw.mem_avail_frac, raw.temp_c, raw.battery_frac
        memory = psutil.virtual_memory()  # pragma: no cover
        return psutil.cpu_percent(interval=None) / 100.0, math.nan, memory.available / memory.total, math.nan, math.nan

    def _warn(self, message: str) -> None:
        self.faults.append(message)
        log.warning("%s", message)


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
    faults: dict[str, int] = field(default_factory=dict)  # message -> occurrences this epoch


class LocalDevice:
    """This machine serving the scenario's supernet variants (see the module docstring).

    ``prebuild``: variants (catalog rows) to build before serving starts, besides the safe one (the rest
    are built on first use, outside serving time). ``pin_config``: always run this compute configuration
    instead of the latency model's choice (the serving-overhead profiler measures each one this way).
    ``cost_table``: the catalog (same variants and configurations) the runtime's configuration rule uses,
    e.g. one calibrated from an earlier live run; default the scenario's. ``progress``: show a bar while
    prebuilding.
    """

    reading_is = "previous"  # utilisation is measured over the epoch that just ended

    def __init__(self, scenario: Scenario, *, provider: VariantProvider | None = None, seed: int = 0,
                 prebuild: Iterable[int] = (), reader: LocalReader | None = None, pin_config: str | None = None,
                 profiler: OnlineProfiler | None = None, cost_table: VariantTable | None = None,
                 progress: bool = False) -> None:
        import torch

        self.torch = torch
        self.scenario = scenario
        self.contract = DecisionContract(scenario)
        self.table = scenario.table
        self.costs = self.table if cost_table is None else cost_table
        if self.costs.variant_id.tolist() != self.table.variant_id.tolist() or self.costs.configs != self.table.configs:
            raise ValueError(f"cost_table ({self.costs.device}) must list the same variants and configurations, in "
                             f"the same order, as the scenario's '{self.table.device}' catalog")
        self.profile = scenario.profile
        self.provider = provider or default_provider()
        self.name = "local"
        self.energy_source = (f"modelled: '{self.profile.name}' device profile active power x measured "
                              "service time (no power sensor)")
        self.weights = self.provider.weights
        self.profiler = profiler or OnlineProfiler(self.table)
        self._pinned: int | None = None
        self._rng = np.random.default_rng(seed)
        self._inputs = sample_inputs()
        self._modules: dict[int, object] = {}
        self.broken: dict[int, str] = {}  # quarantined variants -> why
        self.build_s = 0.0  # total build time, all excluded from serving
        self._counts = config_core_counts(self.profile, self.table.configs)
        self._overhead_ms = serving_overhead(self.profile, self.costs)[0]
        self._threads = [self.profile.config(name).n_cores for name in self.table.configs]
        self._fill = cluster_fill_order(self.profile)
        self.reader = reader or LocalReader()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._queue: deque[float] = deque()
        self._counters = _Counters()
        self._safe = self.contract.action_to_variant(self.contract.fallback_action)
        self._variant = self._safe
        self._pending_switch = False
        self._switched = False
        self._in_service = False
        self._free_since = 0.0
        self._build_ms = 0.0
        self._bg = 0.0
        self._freq = 1.0
        self._temp = math.nan
        self._slowdown = np.ones(len(self.table.configs))
        self.pin(pin_config)
        self._thread: threading.Thread | None = None
        self._epoch_end = 0.0
        self._next_arrival = math.inf
        self._report = DeviceReport(self.contract.fallback_action)
        self._build(self._safe, required=True)
        wanted = [v for v in dict.fromkeys(int(v) for v in prebuild) if v != self._safe]
        if wanted:
            from tqdm.auto import tqdm

            started = time.perf_counter()
            for variant in tqdm(wanted, desc="building variants", unit="variant", disable=not progress):
                self._build(variant)
            log.info("built and warmed %d variants in %.1f s (%s)", len(wanted), time.perf_counter() - started,
                     self.weights)

    def pin(self, config: str | None) -> None:
        """Run every request on compute configuration ``config`` from now on (None: the latency model's
        choice again)."""
        if config is not None and config not in self.table.configs:
            raise ValueError(f"configuration {config!r} is not one of the '{self.table.device}' catalog's "
                             f"({', '.join(self.table.configs)})")
        with self._lock:
            self._pinned = None if config is None else self.table.configs.index(config)
            self._config = self._choose_config(self._variant)

    # -- variants --------------------------------------------------------------------------------------
    @property
    def safe_variant(self) -> int:
        """The catalog row served whenever the chosen variant cannot be (the contract's fallback)."""
        return self._safe

    @property
    def n_built(self) -> int:
        """Variants built so far (the safe one, prebuilt ones, and those chosen since)."""
        return len(self._modules)

    def _build(self, variant: int, *, required: bool = False) -> bool:
        """Build and warm ``variant`` (every thread count it may run with); quarantine it if that fails.
        ``required`` (the safe variant): a failure is an error, since nothing else could be served."""
        variant_id = str(self.table.variant_id[variant])
        started = time.perf_counter()
        try:
            module = self.provider.build(variant_id)
            with self.torch.inference_mode():
                for threads in sorted(set(self._threads)):
                    self.torch.set_num_threads(threads)
                    for _ in range(3):
                        module(self._inputs[:1])
        except Exception as exc:  # a module that fails to build or to run must not crash the loop
            if required and isinstance(exc, (ValueError, KeyError)):
                raise ValueError(f"variant {variant_id!r} of the '{self.table.device}' catalog is not a supernet "
                                 f"variant this machine can build ({exc}); LocalDevice serves supernet variants, "
                                 "so use a scenario on the 'local' catalog") from None
            if required:
                raise
            self._quarantine(variant, f"building it raised {type(exc).__name__}: {exc}")
            return False
        finally:
            self.build_s += time.perf_counter() - started
        self._modules[variant] = module
        return True

    def _build_paused(self, variant: int) -> None:
        """Build ``variant`` with serving held and the device's clock paused for as long as it takes."""
        with self._wake:
            while self._in_service:  # let the request in flight finish (torch thread settings are global)
                self._wake.wait()
            started = time.perf_counter()
            self._build(variant)
            pause = time.perf_counter() - started
            self._queue = deque(arrival + pause for arrival in self._queue)
            self._next_arrival += pause
            self._epoch_end += pause
            self._free_since += pause
            self._build_ms += pause * 1000.0

    def _quarantine(self, variant: int, why: str) -> None:
        """Stop serving ``variant`` after a failure; the safe variant takes over (logged, reported).
        Caller holds the lock or runs before serving starts."""
        variant_id = str(self.table.variant_id[variant])
        if variant == self._safe:
            message = f"the safe variant {variant_id!r} failed ({why}); its requests fail"
        else:
            self.broken.setdefault(variant, why)
            message = (f"variant {variant_id!r} failed ({why}); quarantined, serving the safe variant "
                       f"{self.table.variant_id[self._safe]!r}")
            if self._variant == variant:
                self._variant = self._safe
                self._pending_switch = self._switched = True
                self._config = self._choose_config(self._safe)
        faults = self._counters.faults
        if message not in faults:
            log.warning("%s", message)
        faults[message] = faults.get(message, 0) + 1

    def _choose_config(self, variant: int) -> int:
        """Index of the configuration the simulator's runtime rule picks for ``variant`` under the last
        reading (:func:`~adascale_rl.sim.latency_model.choose_config`: energy-aware among those leaving
        half the budget for queueing, else the fastest; configurations whose cores background holds are
        out). If none can be placed, the one with the fewest cores still runs — a real machine shares.
        Also keeps the latency model's slow-down per configuration for the online profiler."""
        placement = place_background(self.profile, self._bg, self._fill)
        condition = condition_factor(self._freq, self._temp, self.profile.throttle_c)
        share = placement_share_factors(self.profile, self._counts, placement)
        # for the profiler: a configuration the model cannot place still runs here, sharing the held
        # cores — the model's share at full load is half a core, so it counts as a slow-down of 2
        self._slowdown = np.where(np.isfinite(share), share, 2.0) * condition
        if self._pinned is not None:
            return self._pinned
        latency = service_ms(self.costs.latency_ms[variant], share, condition, self._overhead_ms[variant])
        if not np.isfinite(latency).any():
            return int(np.argmin(np.where(np.isfinite(self.costs.latency_ms[variant]), self._counts.sum(axis=1),
                                          np.inf)))
        power = np.array([self.profile.active_power_w(cfg, self._freq) for cfg in self.table.configs])
        return int(choose_config(latency, power, self.scenario.latency_budget_ms))

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
        """Serve ``action``'s variant from the next request on (built first if needed, clock paused); the
        safe variant instead if it is quarantined or fails to build."""
        variant = self.contract.action_to_variant(action)
        if variant not in self._modules and variant not in self.broken:
            if self._thread is None:
                self._build(variant)
            else:
                self._build_paused(variant)
        with self._lock:
            if variant in self.broken:
                self._quarantine(variant, self.broken[variant])
                variant = self._safe
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
            self._epoch_end = self._free_since = now
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
            self._report = DeviceReport(
                int(self.contract.variant_action[self._variant]), self._build_ms,
                tuple(f"{m} (x{n})" if n > 1 else m for m, n in counters.faults.items()) + tuple(self.reader.faults),
                served_config=self.table.configs[self._config])
            self._build_ms = 0.0
            self.reader.faults.clear()
        return self._stats(counters, switched, queue_len)

    def epoch_report(self) -> DeviceReport:
        """The variant in force at the end of the last epoch, its build time, its faults."""
        return self._report

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
        """The serving thread: one request at a time until closed. Never dies on an error: anything
        unexpected is logged and reported as a fault, and serving goes on."""
        served = 0
        while not self._stop.is_set():
            try:
                served += self._serve_next(served)
            except Exception as exc:
                with self._wake:
                    self._in_service = False
                    self._wake.notify_all()
                    message = f"serving error {type(exc).__name__}: {exc}"
                    if message not in self._counters.faults:
                        log.exception("%s", message)
                    self._counters.faults[message] = self._counters.faults.get(message, 0) + 1

    def _serve_next(self, served: int) -> int:
        """Wait for the next request and serve it; returns how many inferences ran (0 or 1)."""
        torch = self.torch
        with self._wake:
            self._admit(time.perf_counter())
            if not self._queue:
                self._wake.wait(max(0.0, self._next_arrival - time.perf_counter()))
                return 0
            arrival = self._queue.popleft()
            variant, config, freq = self._variant, self._config, self._freq
            slowdown = float(self._slowdown[config])
            switch, self._pending_switch = self._pending_switch, False
            ready = max(arrival, self._free_since)  # when the server could start it
            self._in_service = True
        t0 = time.perf_counter()
        module = self._modules[variant]
        load_ms = (time.perf_counter() - t0) * 1000.0 if switch else 0.0
        threads = self._threads[config]
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        x = self._inputs[served % len(self._inputs): served % len(self._inputs) + 1]
        error: Exception | None = None
        start = time.perf_counter()
        try:
            with torch.inference_mode():
                module(x)
        except Exception as exc:  # MemoryError included: a failing variant must not stop serving
            error = exc
        done = time.perf_counter()
        power_w = self.profile.active_power_w(self.table.configs[config], freq)
        latency_ms = (done - arrival) * 1000.0
        with self._wake:
            self._in_service = False
            self._free_since = done
            self._wake.notify_all()
            c = self._counters
            c.load_ms += load_ms
            if error is not None:
                c.failed += 1
                if isinstance(error, MemoryError):
                    c.oom = True
                else:
                    self._quarantine(variant, f"raised {type(error).__name__}: {error}")
                return 1
            c.completed += 1
            c.latencies.append(latency_ms)
            c.late += latency_ms > self.scenario.latency_budget_ms
            c.accuracy_sum += float(self.table.accuracy[variant])
            c.busy_s += done - start
            c.energy_j += power_w * (done - start)
        self.profiler.record(variant, config, latency_ms=latency_ms, service_ms=(done - ready) * 1000.0,
                             slowdown=slowdown, energy_mj=power_w * (done - start) * 1000.0)
        return 1

    def _stats(self, c: _Counters, switched: bool, queue_len: int) -> EpochStats:
        return EpochStats.from_tallies(
            requests=c.requests, completed=c.completed, dropped=c.dropped, failed=c.failed, late=c.late,
            latencies_ms=c.latencies, energy_j=c.energy_j, accuracy_sum=c.accuracy_sum, switched=switched,
            out_of_memory=c.oom, load_ms=c.load_ms, queue_len=queue_len,
        )
