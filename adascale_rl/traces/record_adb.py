"""Record an Android phone's resources over adb into the canonical trace schema.

Talks to the phone through ``adbutils`` (a pure-Python adb client: ``adbutils.adb.device(serial)``
returns an ``AdbDevice`` whose ``shell(cmd) -> str`` runs a command and returns its output). The
sampler itself only needs an object with that ``shell`` method, so everything except the connection
is independent of adbutils.

=================  ==========================================================================
column             where it comes from (each sample runs the four shell commands below)
=================  ==========================================================================
``cpu_bg_util``    ``cat /proc/stat``: busy share of the aggregate ``cpu`` line between two
                   samples (:func:`~adascale_rl.traces.parsers.cpu_util_between`). Includes the
                   recorder's own shell commands (``cat``, ``grep``, ``dumpsys``) on the phone.
``cpu_freq_frac``  ``grep -H .`` over ``/sys/devices/system/cpu/cpufreq/policy*/`` files
                   ``scaling_cur_freq``, ``cpuinfo_max_freq``, ``related_cpus``: capacity-weighted
                   mean of cur/max over clusters, Σ nᵢ·curᵢ / Σ nᵢ·maxᵢ with nᵢ the cluster's CPUs
                   (:func:`~adascale_rl.traces.parsers.frequency_fraction`).
``mem_avail_frac`` ``cat /proc/meminfo``: MemAvailable / MemTotal.
``temp_c``         ``dumpsys battery``: ``temperature`` / 10 — the *battery* temperature, which
                   is what Android exposes without root; it lags the SoC temperature.
``battery_frac``   ``dumpsys battery``: ``level`` / ``scale``.
=================  ==========================================================================

Not exercised on a real phone in this repository's tests: the parsers are tested on real captured
outputs, and the sampler on those outputs replayed, but no device was attached when it was written.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Protocol

from adascale_rl.errors import DataError
from adascale_rl.traces.parsers import (
    CpuCluster,
    ProcStat,
    cpu_util_between,
    frequency_fraction,
    mem_available_fraction,
    parse_cpu_list,
    parse_cpufreq_policies,
    parse_dumpsys_battery,
    parse_meminfo,
    parse_proc_stat,
)
from adascale_rl.traces.recorder import Reading, record
from adascale_rl.traces.schema import Trace, TraceMeta

PROC_STAT_CMD = "cat /proc/stat"
MEMINFO_CMD = "cat /proc/meminfo"
# grep -H prints "policy0/scaling_cur_freq:1804800"; errors (an offline policy) go to /dev/null.
CPUFREQ_CMD = ("cd /sys/devices/system/cpu/cpufreq && grep -H . policy*/scaling_cur_freq "
               "policy*/cpuinfo_max_freq policy*/related_cpus 2>/dev/null")
BATTERY_CMD = "dumpsys battery"
POSSIBLE_CPUS_CMD = "cat /sys/devices/system/cpu/possible"


class ShellDevice(Protocol):
    """What the sampler needs from a device: run a shell command, get its output as text."""

    def shell(self, cmdargs: str) -> str:
        """Output of ``cmdargs`` run by the device's shell."""


def connect(serial: str | None = None) -> ShellDevice:
    """The adbutils ``AdbDevice`` for ``serial`` (or the only attached device), checked to be online.

    Raises :class:`DataError` naming the serial when the adb server or the device cannot be reached, so
    the CLI can print one line instead of an adbutils traceback.
    """
    from adbutils import AdbError, adb

    where = f"adb:{serial or '(default device)'}"
    try:
        device = adb.device(serial=serial)
        state = device.get_state()
    except (AdbError, OSError) as exc:
        raise DataError(where, f"cannot reach the device ({exc})",
                        expected="a phone listed by `adb devices` with USB debugging enabled") from None
    if state != "device":
        raise DataError(where, "device is not ready", value=state, expected="state 'device' (see `adb devices`)")
    return device


class AdbSampler:
    """Samples a phone through four shell commands per tick (see the module docstring)."""

    def __init__(self, device: ShellDevice, serial: str = "device", name: str | None = None) -> None:
        self.device = device
        self.serial = serial
        self.started_at = datetime.now(timezone.utc)
        self.name = name or f"android_{serial}_{self.started_at:%Y%m%dT%H%M%SZ}"
        self.notes: list[str] = [
            "cpu_bg_util is system-wide busy share from /proc/stat deltas over online cores, including the "
            "recorder's own adb shell commands on the phone",
            "cpu_freq_frac is the capacity-weighted mean of cur/max over cpufreq policies "
            "(weights = cores x max frequency)",
            "temp_c is the battery temperature from dumpsys battery, not the SoC temperature",
        ]
        self._previous: ProcStat | None = None
        self._clusters: list[CpuCluster] = []
        self._has_battery = False
        self._meminfo_estimated = False
        self._battery_frozen = False
        self._ram_mb: float | None = None
        self._device_name = serial
        self._cores: int | None = None

    def _run(self, command: str) -> str:
        return self.device.shell(command)

    def _source(self, what: str) -> str:
        return f"adb:{self.serial}:{what}"

    # -- Sampler protocol --------------------------------------------------------------------------------

    def start(self) -> None:
        """Describe the phone, find which sources work, note the missing ones, read /proc/stat once."""
        self._device_name = self._describe()
        cpufreq = self._run(CPUFREQ_CMD).strip()
        if cpufreq:
            self._clusters = parse_cpufreq_policies(cpufreq, self._source("cpufreq/policy*"))
            layout = ", ".join(f"{c.name} cpus {','.join(map(str, c.cpus))} max {c.max_khz / 1000:g} MHz"
                               for c in self._clusters)
            self.notes.append(f"clusters: {layout}")
        else:
            self.notes.append("cpu_freq_frac unavailable (NaN): /sys/devices/system/cpu/cpufreq/policy* unreadable")
        try:
            parse_dumpsys_battery(self._run(BATTERY_CMD), self._source(BATTERY_CMD))
            self._has_battery = True
        except DataError as exc:
            self.notes.append(f"battery_frac and temp_c unavailable (NaN): {exc}".replace(";", ","))
        meminfo = parse_meminfo(self._run(MEMINFO_CMD), self._source("/proc/meminfo"))
        self._ram_mb = float(round(meminfo["MemTotal"] / 1024))
        self._previous = parse_proc_stat(self._run(PROC_STAT_CMD), self._source("/proc/stat"))
        self._cores = self._possible_cpus() or self._previous.online_cpus or None

    def read(self) -> Reading:
        """Utilisation since the previous read; frequency, memory and battery now."""
        stat = parse_proc_stat(self._run(PROC_STAT_CMD), self._source("/proc/stat"))
        if self._previous is None:
            raise RuntimeError("AdbSampler.read() called before start()")
        util = cpu_util_between(self._previous, stat, self._source("/proc/stat"))
        self._previous = stat
        mem, estimated = mem_available_fraction(parse_meminfo(self._run(MEMINFO_CMD), self._source("/proc/meminfo")))
        self._meminfo_estimated |= estimated
        freq = math.nan
        if self._clusters:
            freq = frequency_fraction(parse_cpufreq_policies(self._run(CPUFREQ_CMD), self._source("cpufreq/policy*")))
        battery, temp = math.nan, math.nan
        if self._has_battery:
            reading = parse_dumpsys_battery(self._run(BATTERY_CMD), self._source(BATTERY_CMD))
            battery, temp = reading.level_frac, reading.temp_c
            self._battery_frozen |= reading.updates_stopped
        return Reading(cpu_freq_frac=freq if freq > 0 else math.nan, cpu_bg_util=util, mem_avail_frac=mem,
                       temp_c=temp, battery_frac=battery)

    def meta(self) -> TraceMeta:
        """Device = manufacturer, model and SoC from getprop; cores, RAM, max frequency from the kernel."""
        notes = list(self.notes)
        if self._meminfo_estimated:
            notes.append("mem_avail_frac estimated as (MemFree + Buffers + Cached) / MemTotal: no MemAvailable")
        if self._battery_frozen:
            notes.append("dumpsys battery reported UPDATES STOPPED (dumpsys battery set/unplug was used): "
                         "battery values are frozen, not measured")
        max_mhz = max(c.max_khz for c in self._clusters) / 1000.0 if self._clusters else None
        return TraceMeta(
            name=self.name, device=self._device_name,
            source=f"adascale-rl traces record --adb {self.serial}, started {self.started_at:%Y-%m-%dT%H:%M:%SZ}",
            cores=self._cores, max_mhz=max_mhz, ram_mb=self._ram_mb, notes=tuple(notes),
        )

    # -- device description -----------------------------------------------------------------------------

    def _describe(self) -> str:
        def prop(key: str) -> str:
            return self._run(f"getprop {key}").strip()

        maker, model = prop("ro.product.manufacturer"), prop("ro.product.model")
        soc = prop("ro.soc.model") or prop("ro.board.platform")
        name = " ".join(part for part in (maker, model) if part) or self.serial
        return f"{name} ({soc}, adb {self.serial})" if soc else f"{name} (adb {self.serial})"

    def _possible_cpus(self) -> int | None:
        text = self._run(POSSIBLE_CPUS_CMD).strip()
        if not text:
            return None
        try:
            return len(parse_cpu_list(text, self._source("/sys/devices/system/cpu/possible"))) or None
        except DataError:
            return None


def record_adb(serial: str | None, duration_s: float, interval_s: float, *, name: str | None = None,
               state: str = "", progress: bool = False) -> Trace:
    """Record the phone ``serial`` (``None``: the only attached one) over adb."""
    device = connect(serial)
    sampler = AdbSampler(device, serial or getattr(device, "serial", None) or "device", name)
    return record(sampler, duration_s, interval_s, state=state, progress=progress)
