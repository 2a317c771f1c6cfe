"""The ``Device`` protocol: what the closed loop needs from anything that serves inference requests."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from adascale_rl.envs.contract import Reading
from adascale_rl.sim.stats import EpochStats


@runtime_checkable
class Device(Protocol):
    """A device serving a model variant chosen per epoch.

    The loop calls, per epoch: :meth:`sample` (the resource state the controller decides on),
    :meth:`apply` (switch to the chosen action's variant), :meth:`serve_epoch` (serve requests for one
    epoch and report what happened, in the same :class:`EpochStats` terms as the simulator).
    """

    name: str
    """Short label for reports (``sim``, ``local``, ``adb:SERIAL``)."""

    energy_source: str
    """How ``EpochStats.energy_j`` is obtained (e.g. ``modelled: ...``): energy is never silently invented."""

    reading_is: str
    """``"coming"`` if :meth:`sample` describes the epoch about to be served (a replayed trace),
    ``"previous"`` if it was measured over the epoch that just ended (real utilisation counters)."""

    def sample(self) -> Reading:
        """The device's resource reading now (NaN where a sensor is missing)."""
        ...

    def apply(self, action: int) -> None:
        """Serve the variant of ``action`` from now on."""
        ...

    def serve_epoch(self, duration_s: float) -> EpochStats:
        """Serve requests for ``duration_s`` seconds (wall or simulated) and report the epoch."""
        ...

    def close(self) -> None:
        """Release threads, processes and connections (idempotent)."""
        ...
