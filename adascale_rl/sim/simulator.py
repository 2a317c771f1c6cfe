"""The SimPy contention simulator: one ``simpy.Environment`` per episode, advanced one epoch per step.

Inside an epoch:

- **Cores** are ``simpy.Container`` resources, one per cluster, holding that cluster's cores.
  At each epoch boundary the background takes the cores the placement rule assigns it
  (:mod:`adascale_rl.sim.placement`) and gives back last epoch's.
- **Requests** arrive as a Poisson process at the scenario's rate (arrival times drawn per epoch from
  ``(seed, epoch)``). A request that finds ``queue_limit`` requests waiting is dropped; while the
  chosen variant does not fit free memory, arriving requests fail at once. Arrivals are admitted to
  the queue in order whenever the server looks at it (and at every epoch end), each seeing the queue
  as it was at its arrival instant — exact for a FIFO single server, and one SimPy event per request
  cheaper than an arrival process.
- **One inference server** (the app's interpreter) takes requests in FIFO order. For each it runs the
  configuration of the current variant that the runtime's energy-aware rule picks among those that fit
  the cores the containers have free (:func:`~adascale_rl.sim.latency_model.choose_config`; waiting
  for the next epoch if none fits), for the service time of
  :mod:`adascale_rl.sim.latency_model` with lognormal noise matching the catalog's measured spread.
- **Switching** variant puts a model load ahead of waiting requests: the server is busy for
  ``model_bytes / load_mb_per_s`` on one core of the biggest cluster.
- **Energy** integrates the power model over busy cores (service and load time), at the epoch's
  frequency fraction; idle and background power are not attributed to the model.

Per ``step`` the work is proportional to that epoch's requests (one SimPy event each, plus one per
epoch for the idle server's wake-up): the per-epoch latency/power lookups come from a
:class:`~adascale_rl.sim.situations.SituationTable` (memoised per device state, shareable between
simulators), each epoch's service-time noise is drawn in one call, counters are reset each epoch, and
no history is kept.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import simpy

from adascale_rl.catalog import DeviceProfile, VariantTable
from adascale_rl.sim.random_streams import EpochStreams
from adascale_rl.sim.situations import Situation, SituationTable
from adascale_rl.sim.stats import EpochStats
from adascale_rl.traces.schema import Trace

_LOAD = -1.0  # queue marker for a model load (real requests carry their arrival time)


@dataclass(frozen=True)
class SimConfig:
    """The scenario settings the simulator needs."""

    epoch_s: float
    request_rate_hz: float
    latency_budget_ms: float
    queue_limit: int
    mem_reserve_mb: float


@dataclass(frozen=True)
class EpochConditions:
    """The device state during one epoch (one resampled trace sample)."""

    cpu_freq_frac: float
    cpu_bg_util: float
    mem_avail_frac: float
    temp_c: float

    @classmethod
    def from_trace(cls, trace: Trace, index: int) -> EpochConditions:
        """The conditions of epoch ``index`` of a trace resampled to the decision epoch."""
        return cls(float(trace.cpu_freq_frac[index]), float(trace.cpu_bg_util[index]),
                   float(trace.mem_avail_frac[index]), float(trace.temp_c[index]))

    def usable_memory_mb(self, profile: DeviceProfile, reserve_mb: float) -> float:
        """Memory a model may use now: what is available minus what the OS keeps in reserve."""
        return self.mem_avail_frac * profile.ram_mb - reserve_mb


class _EpochCounters:
    """Mutable per-epoch tallies, reset at every step (no history is kept)."""

    __slots__ = ("accuracy_sum", "completed", "dropped", "energy_j", "failed", "late", "latencies", "load_ms",
                 "requests")

    def __init__(self) -> None:
        self.requests = self.completed = self.dropped = self.failed = self.late = 0
        self.accuracy_sum = self.energy_j = self.load_ms = 0.0
        self.latencies: list[float] = []


class ContentionSim:
    """Simulates a device serving inference requests under a trace's contention (see module docstring).

    ``situations``: the memo of per-epoch lookups; pass one table to several simulators of the same
    scenario to share it (default: a table of this simulator's own)."""

    def __init__(self, profile: DeviceProfile, table: VariantTable, config: SimConfig,
                 situations: SituationTable | None = None) -> None:
        self.profile = profile
        self.table = table
        self.config = config
        if situations is None:
            situations = SituationTable(profile, table, config.latency_budget_ms)
        elif (situations.profile, situations.table, situations.latency_budget_ms) != (
                profile, table, config.latency_budget_ms):
            raise ValueError("a shared SituationTable must be built for the same device profile, catalog and "
                             "latency budget as the simulator")
        self.situations = situations
        self._accuracy = table.accuracy.astype(float).tolist()
        self._model_mb = (table.model_bytes / 1e6).tolist()
        self._mem_mb = table.mem_mb.astype(float).tolist()
        self.env: simpy.Environment | None = None
        self._on_served, self._on_loaded, self._on_waited = self._served, self._loaded, self._waited  # bound once

    # -- episode ---------------------------------------------------------------------------------
    def reset(self, seed: int, variant: int, start_epoch: int = 0, request_rate_hz: float | None = None) -> None:
        """Start with ``variant`` loaded and no requests queued, at epoch ``start_epoch``.

        Randomness comes from per-epoch streams of ``seed`` (:mod:`adascale_rl.sim.random_streams`).
        ``request_rate_hz`` overrides the scenario's arrival rate for this episode.
        """
        rate = self.config.request_rate_hz if request_rate_hz is None else float(request_rate_hz)
        if not (math.isfinite(rate) and rate >= 0.0):
            raise ValueError(f"request_rate_hz must be a finite rate >= 0, got {request_rate_hz!r}")
        self._arrivals_per_epoch = rate * self.config.epoch_s
        self._streams = EpochStreams(int(seed))
        self.env = simpy.Environment(initial_time=start_epoch * self.config.epoch_s)
        self.cores = [simpy.Container(self.env, capacity=c.cores, init=c.cores) for c in self.profile.clusters]
        self.queue: deque[float] = deque()  # admitted requests (arrival times) and load markers
        self._pending: deque[float] = deque()  # this epoch's arrivals not yet admitted
        self._idle = True  # the server waits for the first epoch's work
        self.variant = variant
        self.epoch = start_epoch
        self._bg_held: tuple[int, ...] = (0,) * len(self.profile.clusters)
        self._counters = _EpochCounters()
        self._oom = False
        self._situation: Situation | None = None
        self._service: tuple[float, float, float] | None = None
        self._normals: list[float] = []
        self._next_normal = 0
        self._arrival = 0.0  # the request in service (or waiting for cores), what it costs, and a load's length
        self._serving: tuple[float, float, float] = (0.0, 0.0, 0.0)  # service ms, power W, accuracy
        self._load_s = 0.0
        self._timeout = self.env.timeout

    def step(self, variant: int, conditions: EpochConditions) -> EpochStats:
        """Run one epoch with ``variant`` selected under ``conditions``; return what it produced."""
        situation = self.situations.get(conditions.cpu_bg_util, conditions.cpu_freq_frac, conditions.temp_c)
        return self.step_situation(variant, situation, conditions.mem_avail_frac)

    def step_situation(self, variant: int, situation: Situation, mem_avail_frac: float) -> EpochStats:
        """:meth:`step` with the epoch's situation already looked up (the env fetches a whole episode's
        from :meth:`SituationTable.segment` at reset) and its available-memory fraction."""
        env = self.env
        if env is None:
            raise RuntimeError("call reset() before step()")
        rng = self._streams.at_epoch(self.epoch)
        self._counters = counters = _EpochCounters()
        switched = variant != self.variant
        self.variant = variant
        self._situation = situation
        self._hold_background(situation.held)
        self._service = self._choice(variant)
        self._oom = self._mem_mb[variant] > mem_avail_frac * self.profile.ram_mb - self.config.mem_reserve_mb
        queue = self.queue
        if switched and not self._oom:
            queue.appendleft(_LOAD)
        now = env.now
        end = (self.epoch + 1) * self.config.epoch_s
        n_arrivals = int(rng.poisson(self._arrivals_per_epoch))
        if n_arrivals:
            span = end - now
            self._pending.extend([now + u * span for u in sorted(rng.random(n_arrivals).tolist())])
        # every service that starts this epoch draws its noise next, in service order: at most the queued
        # requests, this epoch's arrivals and one request already taken off the queue
        self._normals = rng.standard_normal(len(queue) + n_arrivals + 1).tolist()
        self._next_normal = 0
        if self._idle:
            self._idle = False
            self._next()
        env.run(until=end)
        self._admit(end)
        self.epoch += 1
        return self._stats(counters, switched)

    # -- internals ---------------------------------------------------------------------------------
    def _choice(self, variant: int) -> tuple[float, float, float] | None:
        """Configuration the runtime picks for ``variant`` on the free cores now (energy-aware rule of
        :func:`~adascale_rl.sim.latency_model.choose_config`): (service ms, log-sigma, power W), or None
        when no configuration fits."""
        service, sigma, power_w = self._situation.choices[variant].tolist()
        return (service, sigma, power_w) if math.isfinite(service) else None

    def _hold_background(self, held: tuple[int, ...]) -> None:
        """Background takes or gives back the cores by which its placement changed (never waiting:
        the server reads free cores but does not hold them)."""
        if held == self._bg_held:
            return
        for index, (before, now) in enumerate(zip(self._bg_held, held, strict=True)):
            if now > before:
                self.cores[index].get(now - before)
            elif now < before:
                self.cores[index].put(before - now)
        self._bg_held = held

    def _admit(self, until: float) -> None:
        """Admit arrivals up to ``until`` in order: each sees the queue as it was at its arrival."""
        pending = self._pending
        while pending and pending[0] <= until:
            arrival = pending.popleft()
            if self._accept(arrival):
                self.queue.append(arrival)

    def _accept(self, arrival: float) -> bool:
        """Count an arrival; False if it fails (variant out of memory) or is dropped (queue full)."""
        counters = self._counters
        counters.requests += 1
        if self._oom:
            counters.failed += 1
            return False
        if len(self.queue) >= self.config.queue_limit:
            counters.dropped += 1
            return False
        return True

    # The inference server is a state machine driven by SimPy events: each request's service, each model
    # load and each wait for free cores is one ``Timeout`` whose callback resumes the server. (A
    # generator process would do the same with one more frame switch per event; the idle server is
    # woken by ``step`` directly, at the same simulated instant.)
    def _next(self) -> None:
        """The server is free at ``env.now``: take the next job, or go idle until the next epoch."""
        queue, pending, accept = self.queue, self._pending, self._accept
        now = self.env.now
        while True:
            while pending and pending[0] <= now:
                arrival = pending.popleft()
                if accept(arrival):
                    queue.append(arrival)
            if queue:
                arrival = queue.popleft()
                if arrival == _LOAD:
                    self._service = self._choice(self.variant)
                    self._load_s = load_s = self._model_mb[self.variant] / self.profile.load_mb_per_s
                    self._timeout(load_s).callbacks.append(self._on_loaded)
                    return
                if self._oom:  # swapped for a variant that does not fit while this request waited
                    self._counters.failed += 1
                    continue
            elif pending:  # idle: the next arrival starts service at once (one timeout covers both)
                arrival = pending.popleft()
                if not accept(arrival):
                    continue
            else:
                self._idle = True
                return
            self._serve(arrival)
            return

    def _serve(self, arrival: float) -> None:
        """Start serving one request at ``max(now, arrival)``; :meth:`_served` records it."""
        env = self.env
        if self._service is None:  # no configuration fits the free cores: wait for the next epoch
            self._arrival = arrival
            self._timeout(self.config.epoch_s * (self.epoch + 1) - env.now + 1e-9).callbacks.append(self._on_waited)
            return
        service, sigma, power_w = self._service
        if sigma > 0:
            service *= math.exp(sigma * self._normals[self._next_normal] - 0.5 * sigma * sigma)
            self._next_normal += 1
        self._arrival, self._serving = arrival, (service, power_w, self._accuracy[self.variant])
        self._timeout(max(0.0, arrival - env.now) + service / 1000.0).callbacks.append(self._on_served)

    def _waited(self, _event: simpy.Event) -> None:
        self._serve(self._arrival)

    def _served(self, _event: simpy.Event) -> None:
        service, power_w, accuracy = self._serving
        counters = self._counters
        counters.energy_j += power_w * service / 1000.0
        latency_ms = (self.env.now - self._arrival) * 1000.0
        counters.completed += 1
        counters.accuracy_sum += accuracy
        counters.latencies.append(latency_ms)
        if latency_ms > self.config.latency_budget_ms:
            counters.late += 1
        self._next()

    def _loaded(self, _event: simpy.Event) -> None:
        counters = self._counters
        counters.load_ms += self._load_s * 1000.0
        counters.energy_j += self._situation.load_power_w * self._load_s
        self._next()

    def _stats(self, counters: _EpochCounters, switched: bool) -> EpochStats:
        return EpochStats.from_tallies(
            requests=counters.requests, completed=counters.completed, dropped=counters.dropped,
            failed=counters.failed, late=counters.late, latencies_ms=counters.latencies, energy_j=counters.energy_j,
            accuracy_sum=counters.accuracy_sum, switched=switched, out_of_memory=self._oom,
            load_ms=counters.load_ms, queue_len=len(self.queue),
        )
