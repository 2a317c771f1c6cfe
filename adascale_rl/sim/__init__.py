"""The SimPy contention simulator."""

from adascale_rl.sim.simulator import ContentionSim, EpochConditions, SimConfig
from adascale_rl.sim.stats import EpochStats

__all__ = ["ContentionSim", "EpochConditions", "EpochStats", "SimConfig"]
