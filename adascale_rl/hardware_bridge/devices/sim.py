"""``SimDevice``: the SimPy contention simulator behind the ``Device`` protocol, replaying one trace.

It lets the closed loop, the CLI and the tests run without hardware, and it is the "sim" half of the
sim-vs-real comparison. Semantics match :class:`~adascale_rl.envs.AdaScaleEnv` exactly: epoch ``i``'s
reading is the trace sample the epoch is served under, the start state is the fallback variant, and the
simulator's randomness comes from one seeded generator.
"""

from __future__ import annotations

import math

from adascale_rl.envs.contract import DecisionContract, Reading
from adascale_rl.hardware_bridge.devices.base import DeviceReport
from adascale_rl.scenario import Scenario
from adascale_rl.sim.simulator import ContentionSim, EpochConditions, SimConfig
from adascale_rl.sim.stats import EpochStats
from adascale_rl.traces import Trace, resample


class SimDevice:
    """A simulated device under ``trace`` (resampled to ``epoch_s``), starting ``start_epoch`` epochs in."""

    energy_source = "modelled: simulator power model (device profile active power x busy time)"
    reading_is = "coming"  # the reading is the trace sample the coming epoch is served under (as in the env)

    def __init__(self, scenario: Scenario, trace: Trace, *, epoch_s: float | None = None,
                 start_epoch: int = 0, seed: int = 0) -> None:
        self.scenario = scenario
        self.epoch_s = float(epoch_s or scenario.epoch_s)
        self.trace = resample(trace, self.epoch_s)
        if not 0 <= start_epoch < len(self.trace):
            raise ValueError(f"start_epoch {start_epoch} outside the trace's {len(self.trace)} epochs")
        self.contract = DecisionContract(scenario)
        s = scenario
        self.sim = ContentionSim(s.profile, s.table, SimConfig(self.epoch_s, s.request_rate_hz, s.latency_budget_ms,
                                                               s.queue_limit, s.mem_reserve_mb))
        self.name = "sim"
        self.index = start_epoch
        self._action = self.contract.fallback_action
        self._variant = self.contract.action_to_variant(self._action)
        self.sim.reset(seed, self._variant)

    @property
    def epochs_left(self) -> int:
        return len(self.trace) - self.index

    @property
    def trace_bg_util(self) -> float:
        """The background utilisation the trace plays during the coming epoch."""
        return float(self.trace.cpu_bg_util[min(self.index, len(self.trace) - 1)])

    def sample(self) -> Reading:
        t, i = self.trace, min(self.index, len(self.trace) - 1)
        return Reading(float(t.cpu_freq_frac[i]), float(t.cpu_bg_util[i]), float(t.mem_avail_frac[i]),
                       float(t.temp_c[i]), float(t.battery_frac[i]))

    def apply(self, action: int) -> None:
        self._variant = self.contract.action_to_variant(action)
        self._action = int(action)

    def serve_epoch(self, duration_s: float) -> EpochStats:
        if not math.isclose(duration_s, self.epoch_s, rel_tol=1e-9):
            raise ValueError(f"SimDevice serves {self.epoch_s:g} s epochs (the trace was resampled to that), "
                             f"got {duration_s:g} s")
        if self.index >= len(self.trace):
            raise RuntimeError(f"trace {self.trace.meta.name!r} has no epochs left")
        stats = self.sim.step(self._variant, EpochConditions.from_trace(self.trace, self.index))
        self.index += 1
        return stats

    def epoch_report(self) -> DeviceReport:
        """The simulator always serves the applied variant."""
        return DeviceReport(self._action)

    def close(self) -> None:
        """Nothing to release."""
