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

Per ``step`` the work is proportional to that epoch's requests (one or two SimPy events each): the
per-epoch latency/power lookups are computed once per epoch, counters are reset each epoch, and no
history is kept.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import simpy

from adascale_rl.catalog import DeviceProfile, VariantTable
from adascale_rl.sim.latency_model import (
    choose_config,
    condition_factor,
    config_core_counts,
    service_ms,
    serving_overhead,
    share_factors,
)
from adascale_rl.sim.placement import Placement, cluster_fill_order, place_background
from adascale_rl.sim.random_streams import EpochStreams
from adascale_rl.sim.stats import EpochStats
from adascale_rl.traces.schema import Trace

_LOAD = -1.0  # queue marker for a model load (real requests carry their arrival time)
_MISSING = object()


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
    """Simulates a device serving inference requests under a trace's contention (see module docstring)."""

    def __init__(self, profile: DeviceProfile, table: VariantTable, config: SimConfig) -> None:
        self.profile = profile
        self.table = table
        self.config = config
        self._counts = config_core_counts(profile, table.configs)
        self._fill_order = cluster_fill_order(profile)
        self._load_cluster = max(profile.clusters, key=lambda cluster: cluster.max_mhz)  # loads run on the fastest core
        # lognormal spread of one service: the catalog's measured spread plus the serving overhead's
        self._overhead_ms, overhead_sd_ms = serving_overhead(profile, table)
        total = table.latency_ms + self._overhead_ms
        variance = np.square(table.latency_sd_ms) + np.square(overhead_sd_ms)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio_sq = np.where(np.isfinite(total), variance / np.square(total), 0.0)
        self._log_sigma = np.sqrt(np.log1p(ratio_sq))
        self._accuracy = table.accuracy.astype(float).tolist()
        self._model_mb = (table.model_bytes / 1e6).tolist()
        self.env: simpy.Environment | None = None
        self._choice_cache: dict[tuple, list[tuple[float, float, float] | None]] = {}
        self._power_cache: dict[float, np.ndarray] = {}

    # -- episode ---------------------------------------------------------------------------------
    def reset(self, seed: int, variant: int, start_epoch: int = 0) -> None:
        """Start with ``variant`` loaded and no requests queued, at epoch ``start_epoch``.

        Randomness comes from per-epoch streams of ``seed`` (:mod:`adascale_rl.sim.random_streams`).
        """
        self._streams = EpochStreams(int(seed))
        self.env = simpy.Environment(initial_time=start_epoch * self.config.epoch_s)
        self.cores = [simpy.Container(self.env, capacity=c.cores, init=c.cores) for c in self.profile.clusters]
        self.queue: deque[float] = deque()  # admitted requests (arrival times) and load markers
        self._pending: deque[float] = deque()  # this epoch's arrivals not yet admitted
        self._idle: simpy.Event | None = None
        self.variant = variant
        self.epoch = start_epoch
        self._bg_held: tuple[int, ...] = (0,) * len(self.profile.clusters)
        self._counters = _EpochCounters()
        self._oom = False
        self._service: tuple[float, float, float] | None = None
        self.env.process(self._server())

    def step(self, variant: int, conditions: EpochConditions) -> EpochStats:
        """Run one epoch with ``variant`` selected under ``conditions``; return what it produced."""
        if self.env is None:
            raise RuntimeError("call reset() before step()")
        self.rng = self._streams.at_epoch(self.epoch)
        self._counters = counters = _EpochCounters()
        switched = variant != self.variant
        self.variant = variant
        self._apply_conditions(conditions)
        self._oom = self.table.mem_mb[variant] > conditions.usable_memory_mb(self.profile, self.config.mem_reserve_mb)
        if switched and not self._oom:
            self.queue.appendleft(_LOAD)
        now = self.env.now
        end = (self.epoch + 1) * self.config.epoch_s
        n_arrivals = int(self.rng.poisson(self.config.request_rate_hz * self.config.epoch_s))
        if n_arrivals:
            self._pending.extend((now + np.sort(self.rng.random(n_arrivals)) * (end - now)).tolist())
        if self._idle is not None and not self._idle.triggered:
            self._idle.succeed()
        self.env.run(until=end)
        self._admit(end)
        self.epoch += 1
        return self._stats(counters, switched)

    # -- internals ---------------------------------------------------------------------------------
    def _apply_conditions(self, conditions: EpochConditions) -> None:
        """Background placement, then per-epoch service time and power of the current variant."""
        placement = place_background(self.profile, conditions.cpu_bg_util, self._fill_order)
        self._hold_background(placement)
        self._freq_frac = 1.0 if math.isnan(conditions.cpu_freq_frac) else conditions.cpu_freq_frac
        self._condition = condition_factor(conditions.cpu_freq_frac, conditions.temp_c, self.profile.throttle_c)
        self._rho = placement.rho
        self._service = self._choose_config(self.variant)

    def _choose_config(self, variant: int) -> tuple[float, float, float] | None:
        """Configuration the runtime picks for ``variant`` on the free cores (energy-aware rule of
        :func:`~adascale_rl.sim.latency_model.choose_config`): (service ms, log-sigma, power W).

        Memoised per situation (free cores, sharing, clock, heat) for all variants at once: traces hold
        each sample for several epochs and a policy revisits variants, so the same lookups recur."""
        free = tuple(container.level for container in self.cores)
        key = (free, self._rho, self._condition, self._freq_frac)
        choices = self._choice_cache.get(key)
        if choices is None:
            if len(self._choice_cache) > 20_000:
                self._choice_cache.clear()
            choices = self._choice_cache[key] = self._choices_for_all_variants(free)
        return choices[variant]

    def _choices_for_all_variants(self, free: tuple[int, ...]) -> list[tuple[float, float, float] | None]:
        share = share_factors(self._counts, np.array(free), np.array(self._rho))
        latency = service_ms(self.table.latency_ms, share, self._condition, self._overhead_ms)
        power = self._config_power(self._freq_frac)
        configs = choose_config(latency, power, self.config.latency_budget_ms)
        rows = np.arange(len(configs))
        service = latency[rows, configs].tolist()
        sigma = self._log_sigma[rows, configs].tolist()
        watts = power[configs].tolist()
        return [(service[v], sigma[v], watts[v]) if math.isfinite(service[v]) else None for v in rows.tolist()]

    def _config_power(self, freq_frac: float) -> np.ndarray:
        """Active power (W) of every configuration's cores at a frequency fraction (memoised)."""
        power = self._power_cache.get(freq_frac)
        if power is None:
            power = np.array([self.profile.active_power_w(cfg, freq_frac) for cfg in self.table.configs])
            self._power_cache[freq_frac] = power
        return power

    def _hold_background(self, placement: Placement) -> None:
        """Background takes or gives back the cores by which its placement changed (never waiting:
        the server reads free cores but does not hold them)."""
        for index, (before, now) in enumerate(zip(self._bg_held, placement.held, strict=True)):
            if now > before:
                self.cores[index].get(now - before)
            elif now < before:
                self.cores[index].put(before - now)
        self._bg_held = placement.held

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

    def _server(self):
        env, queue, pending = self.env, self.queue, self._pending
        while True:
            self._admit(env.now)
            if queue:
                arrival = queue.popleft()
                if arrival == _LOAD:
                    yield from self._load_model()
                elif self._oom:  # swapped for a variant that does not fit while this request waited
                    self._counters.failed += 1
                else:
                    yield from self._serve(arrival)
            elif pending:  # idle: the next arrival starts service at once (one timeout covers both)
                arrival = pending.popleft()
                if self._accept(arrival):
                    yield from self._serve(arrival)
            else:
                self._idle = env.event()
                yield self._idle

    def _serve(self, arrival: float):
        """Serve one request that starts at ``max(now, arrival)``; record it when it completes."""
        env = self.env
        while self._service is None:  # no configuration fits the free cores: wait for the next epoch
            yield env.timeout(self.config.epoch_s * (self.epoch + 1) - env.now + 1e-9)
        service, sigma, power_w = self._service
        variant = self.variant
        if sigma > 0:
            service *= math.exp(sigma * self.rng.standard_normal() - 0.5 * sigma * sigma)
        yield env.timeout(max(0.0, arrival - env.now) + service / 1000.0)
        counters = self._counters
        counters.energy_j += power_w * service / 1000.0
        latency_ms = (env.now - arrival) * 1000.0
        counters.completed += 1
        counters.accuracy_sum += self._accuracy[variant]
        counters.latencies.append(latency_ms)
        if latency_ms > self.config.latency_budget_ms:
            counters.late += 1

    def _load_model(self):
        self._service = self._choose_config(self.variant)
        load_s = self._model_mb[self.variant] / self.profile.load_mb_per_s
        yield self.env.timeout(load_s)
        self._counters.load_ms += load_s * 1000.0
        self._counters.energy_j += self._load_cluster.core_power_w(True, self._freq_frac) * load_s

    def _stats(self, counters: _EpochCounters, switched: bool) -> EpochStats:
        return EpochStats.from_tallies(
            requests=counters.requests, completed=counters.completed, dropped=counters.dropped,
            failed=counters.failed, late=counters.late, latencies_ms=counters.latencies, energy_j=counters.energy_j,
            accuracy_sum=counters.accuracy_sum, switched=switched, out_of_memory=self._oom,
            load_ms=counters.load_ms, queue_len=len(self.queue),
        )
