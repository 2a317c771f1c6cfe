"""Record this Linux machine's resources into the canonical trace schema.

=================  ==========================================================================
column             where it comes from
=================  ==========================================================================
``cpu_bg_util``    ``psutil.cpu_percent()`` between samples: system-wide utilisation of all
                   cores. On a real deployment this includes the recorder's own (small) load —
                   the recorder cannot tell itself apart from the competing apps it measures.
``cpu_freq_frac``  ``/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq`` over
                   ``cpuinfo_max_freq``, Σcur / Σmax over CPUs (see
                   :func:`~adascale_rl.traces.parsers.frequency_fraction`); NaN without cpufreq
                   (VMs and containers usually have none).
``mem_avail_frac`` ``psutil.virtual_memory()``: available / total.
``temp_c``         ``/sys/class/thermal/thermal_zone*/temp`` of the CPU/SoC zone (else the hottest
                   zone), chosen once at the start; NaN without thermal zones.
``battery_frac``   ``psutil.sensors_battery().percent / 100``; NaN without a battery.
=================  ==========================================================================

Every unavailable source is recorded as NaN *and* named in the trace's ``notes``, so a NaN column is
never mistaken for a recorder bug.
"""

from __future__ import annotations

import math
import platform
import socket
from datetime import datetime, timezone
from pathlib import Path

import psutil

from adascale_rl.errors import DataError
from adascale_rl.traces.parsers import (
    CpuCluster,
    frequency_fraction,
    parse_cpufreq_policies,
    parse_sysfs_listing,
    pick_thermal_zone,
)
from adascale_rl.traces.recorder import Reading, record
from adascale_rl.traces.schema import Trace, TraceMeta

CPU_SYSFS = Path("/sys/devices/system/cpu")
THERMAL_SYSFS = Path("/sys/class/thermal")


def sysfs_listing(root: Path, patterns: list[str]) -> str:
    """The ``grep -H . FILES`` text for files under ``root`` matching ``patterns`` (paths relative to root).

    Built here instead of spawning grep so the local and the adb recorder share one parser. Files that
    cannot be read (offline CPU, a thermal sensor returning EINVAL) are skipped, as grep would do.
    """
    lines = []
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            try:
                value = path.read_text().strip()
            except OSError:
                continue
            if value:
                lines.append(f"{path.relative_to(root).as_posix()}:{value}")
    return "\n".join(lines)


class LocalSampler:
    """Reads this machine with psutil and sysfs (see the module docstring for each column)."""

    def __init__(self, name: str | None = None, cpu_sysfs: Path = CPU_SYSFS,
                 thermal_sysfs: Path = THERMAL_SYSFS) -> None:
        self.cpu_sysfs = cpu_sysfs
        self.thermal_sysfs = thermal_sysfs
        self.started_at = datetime.now(timezone.utc)
        self.name = name or f"{socket.gethostname()}_{self.started_at:%Y%m%dT%H%M%SZ}"
        self.notes: list[str] = [
            "cpu_bg_util is system-wide CPU utilisation (psutil), so it includes the recorder's own small load",
            "cpu_bg_util at t_s is the mean over the interval from t_s to the next sample, the other columns "
            "are read at the end of that interval",
        ]
        self._max_mhz: float | None = None
        self._has_cpufreq = False
        self._thermal_file: Path | None = None
        self._has_battery = False

    # -- Sampler protocol --------------------------------------------------------------------------------

    def start(self) -> None:
        """Find which sources exist, note the missing ones, and prime psutil's CPU counters."""
        clusters = self._cpufreq()
        if clusters:
            self._has_cpufreq = True
            self._max_mhz = max(c.max_khz for c in clusters) / 1000.0
        else:
            self.notes.append(f"cpu_freq_frac unavailable (NaN): no readable {self.cpu_sysfs}/cpu*/cpufreq/"
                              "scaling_cur_freq and cpuinfo_max_freq (common in VMs and containers)")
        zones = parse_sysfs_listing(sysfs_listing(self.thermal_sysfs, ["thermal_zone*/type", "thermal_zone*/temp"]),
                                    str(self.thermal_sysfs))
        celsius, zone, kind = pick_thermal_zone(zones, str(self.thermal_sysfs))
        if math.isnan(celsius):
            self.notes.append(f"temp_c unavailable (NaN): no readable {self.thermal_sysfs}/thermal_zone*/temp")
        else:
            self._thermal_file = self.thermal_sysfs / zone / "temp"
            self.notes.append(f"temp_c from {self.thermal_sysfs}/{zone} ({kind})")
        sensors_battery = getattr(psutil, "sensors_battery", None)
        self._has_battery = sensors_battery is not None and sensors_battery() is not None
        if not self._has_battery:
            self.notes.append("battery_frac unavailable (NaN): psutil.sensors_battery() reports no battery")
        psutil.cpu_percent(interval=None)  # first call only primes the counters (it returns a meaningless 0)

    def read(self) -> Reading:
        """One sample: utilisation since the previous call, everything else now."""
        util = psutil.cpu_percent(interval=None) / 100.0
        memory = psutil.virtual_memory()
        return Reading(
            cpu_freq_frac=self._frequency(),
            cpu_bg_util=min(1.0, max(0.0, util)),
            mem_avail_frac=min(1.0, memory.available / memory.total),
            temp_c=self._temperature(),
            battery_frac=self._battery(),
        )

    def meta(self) -> TraceMeta:
        """Device = hostname + CPU model; cores, RAM and max frequency where known."""
        return TraceMeta(
            name=self.name,
            device=f"{socket.gethostname()} ({cpu_model()}, {platform.machine()})",
            source=f"adascale-rl traces record (local psutil + sysfs), started {self.started_at:%Y-%m-%dT%H:%M:%SZ}",
            cores=psutil.cpu_count(logical=True),
            max_mhz=self._max_mhz,
            ram_mb=float(round(psutil.virtual_memory().total / 2**20)),
            notes=tuple(self.notes),
        )

    # -- sources ----------------------------------------------------------------------------------------

    def _cpufreq(self) -> list[CpuCluster]:
        text = sysfs_listing(self.cpu_sysfs, ["cpu[0-9]*/cpufreq/scaling_cur_freq",
                                              "cpu[0-9]*/cpufreq/cpuinfo_max_freq"])
        if not text:
            return []
        return parse_cpufreq_policies(text, f"{self.cpu_sysfs}/cpu*/cpufreq")

    def _frequency(self) -> float:
        if not self._has_cpufreq:
            return math.nan
        try:
            return frequency_fraction(self._cpufreq())
        except DataError:
            return math.nan  # a CPU went offline between listing and reading: skip this one sample's value

    def _temperature(self) -> float:
        if self._thermal_file is None:
            return math.nan
        try:
            return int(self._thermal_file.read_text().strip()) / 1000.0
        except (OSError, ValueError):
            return math.nan

    def _battery(self) -> float:
        if not self._has_battery:
            return math.nan
        battery = psutil.sensors_battery()
        return math.nan if battery is None else min(1.0, max(0.0, battery.percent / 100.0))


def cpu_model() -> str:
    """CPU model from /proc/cpuinfo (x86 ``model name``; ARM boards' ``Model`` or ``Hardware``)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.processor() or "unknown CPU"
    for key in ("model name", "Model", "Hardware"):
        for line in text.splitlines():
            name, sep, value = line.partition(":")
            if sep and name.strip() == key and value.strip():
                return value.strip()
    return platform.processor() or "unknown CPU"


def record_local(duration_s: float, interval_s: float, *, name: str | None = None, state: str = "",
                 progress: bool = False) -> Trace:
    """Record this machine for ``duration_s`` seconds, one sample every ``interval_s`` seconds."""
    return record(LocalSampler(name), duration_s, interval_s, state=state, progress=progress)
