"""The ``Device`` protocol: what the closed loop needs from anything that serves inference requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from adascale_rl.envs.contract import Reading
from adascale_rl.sim.stats import EpochStats


@dataclass(frozen=True)
class DeviceReport:
    """What the device did in the epoch just served, beyond its :class:`EpochStats`."""

    served_action: int
    """The action whose variant was in force at the end of the epoch: the applied one, or the safe
    fallback when the applied variant failed (or is quarantined after failing)."""
    build_ms: float = 0.0
    """Time spent building variants on first use before this epoch, excluded from serving (the
    device's clock for arrivals and latency was paused meanwhile)."""
    faults: tuple[str, ...] = ()
    """What went wrong and what the device did about it (each also logged)."""
    served_config: str = ""
    """The compute configuration (catalog column suffix, e.g. ``1t``) the device's runtime served on at the
    end of the epoch; empty where the device does not choose one itself. Recorded so a sim-vs-real
    comparison can tell a slower device from a different configuration."""


@runtime_checkable
class Device(Protocol):
    """A device serving a model variant chosen per epoch.

    The loop calls, per epoch: :meth:`sample` (the resource state the controller decides on),
    :meth:`apply` (switch to the chosen action's variant), :meth:`serve_epoch` (serve requests for one
    epoch and report what happened, in the same :class:`EpochStats` terms as the simulator), then
    :meth:`epoch_report` (which variant was really served, faults). A device is fail-safe: a variant that
    cannot be built or raises while serving is quarantined and the safe variant served instead, never an
    exception out of :meth:`serve_epoch`.
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

    def epoch_report(self) -> DeviceReport:
        """What happened in the epoch :meth:`serve_epoch` just served (variant really served, build time,
        faults); called once per epoch after it."""
        ...

    def close(self) -> None:
        """Release threads, processes and connections (idempotent)."""
        ...
