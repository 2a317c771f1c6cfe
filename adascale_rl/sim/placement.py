"""Where the trace's background load goes on the device's cores (the placement rule).

Background demand is ``cpu_bg_util × n_cores`` core-equivalents (utilisation is a share of total
capacity, so a trace recorded on a 4-core board maps to the same share of a phone's 8 cores). It fills
clusters from the lowest-power (little) cluster up — Android keeps background work on the little cores
(its ``background`` cpuset) and only spills onto bigger ones when the little ones are full. Whole
core-equivalents *hold* cores (they are taken from the SimPy core resources); the fractional remainder
sits on the next core as a time-share ``rho`` in [0, 1]. At most ``n_cores − 1`` cores are held: the
scheduler's fair share always leaves the inference thread one core to share (at full demand that core
has ``rho = 1``, i.e. the inference gets half of it — CFS between two runnable threads).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from adascale_rl.catalog import DeviceProfile


@dataclass(frozen=True)
class Placement:
    """Per cluster (in profile order): cores held by background, and the share on the next core."""

    held: tuple[int, ...]
    rho: tuple[float, ...]


def cluster_fill_order(profile: DeviceProfile) -> list[int]:
    """Cluster indices from the slowest to the fastest core (little cores first, the prime core last)."""
    return sorted(range(len(profile.clusters)), key=lambda i: profile.clusters[i].max_mhz)


def place_background(profile: DeviceProfile, bg_util: float, order: list[int] | None = None) -> Placement:
    """Apply the placement rule for a background utilisation in [0, 1]."""
    order = order if order is not None else cluster_fill_order(profile)
    n_cores = profile.n_cores
    demand = min(max(bg_util, 0.0), 1.0) * n_cores
    whole = min(math.floor(demand + 1e-9), n_cores - 1)
    remainder = min(demand - whole, 1.0)
    held = [0] * len(profile.clusters)
    rho = [0.0] * len(profile.clusters)
    for index in order:
        take = min(whole, profile.clusters[index].cores)
        held[index] = take
        whole -= take
        if whole == 0 and remainder > 0 and held[index] < profile.clusters[index].cores:
            rho[index] = remainder
            remainder = 0.0
    return Placement(tuple(held), tuple(rho))
