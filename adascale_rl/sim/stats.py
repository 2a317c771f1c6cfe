"""``EpochStats``: what one decision epoch produced, in the simulator and on a real device alike."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class EpochStats:
    """Outcome of one decision epoch.

    Requests are counted in the epoch they arrive (``requests``, ``dropped``, ``failed``); completed
    requests and their latencies in the epoch they complete. Latencies include queueing and any model
    (re)load. ``miss_frac`` = (completed past the budget + dropped + failed) / max(1, resolved), where
    resolved = completed + dropped + failed. Energy is modelled from the device power model (J).
    """

    requests: int
    completed: int
    dropped: int
    failed: int
    latency_p50_ms: float
    latency_p95_ms: float
    latency_max_ms: float
    miss_frac: float
    energy_j: float
    accuracy: float  # mean accuracy over resolved requests (dropped/failed count as 0)
    switched: bool
    out_of_memory: bool
    load_ms: float
    queue_len: int  # requests waiting at the end of the epoch

    @property
    def resolved(self) -> int:
        return self.completed + self.dropped + self.failed

    @property
    def energy_per_request_mj(self) -> float:
        """Modelled energy per completed request (mJ); the epoch's energy if nothing completed."""
        return 1000.0 * self.energy_j / max(1, self.completed)

    def to_dict(self) -> dict:
        return asdict(self)

    def __copy__(self) -> EpochStats:
        return self  # immutable: sharing is safe, and vectorised envs deep-copy every step's info

    def __deepcopy__(self, memo: dict) -> EpochStats:
        return self
