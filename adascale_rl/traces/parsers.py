"""Pure parsers for the kernel and Android text the recorders read.

Every function takes the text and a ``source`` naming where it came from (a file path, or
``adb:SERIAL:/proc/stat``) and raises :class:`~adascale_rl.errors.DataError` naming that source, the
line, the field, the value and what was expected. They do no I/O, so they are tested on real captured
outputs (``tests/data/``) and shared by the local and the adb recorder.

Formats:

- ``/proc/stat`` (proc(5)): ``cpu  user nice system idle iowait irq softirq steal guest guest_nice``
  cumulative clock ticks, one aggregate line then one ``cpuN`` line per online CPU.
- ``/proc/meminfo``: ``Key:   value kB`` lines.
- ``dumpsys battery`` (AOSP ``BatteryService.dumpInternal``): ``Current Battery Service state:`` then
  indented ``key: value`` lines; ``level``/``scale`` give the charge, ``temperature`` is in tenths
  of °C. Vendors append their own lines (Samsung adds dozens); those are kept but not interpreted.
- sysfs listings as printed by ``grep -H . FILES``: ``dir/file:value`` per line (used for cpufreq
  policies and thermal zones, so one parser serves both the phone and this machine).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from adascale_rl.errors import DataError

# ---------------------------------------------------------------------------------------------- /proc/stat

CPU_FIELDS: tuple[str, ...] = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
                               "guest", "guest_nice")


@dataclass(frozen=True)
class CpuTimes:
    """Cumulative CPU time of one ``/proc/stat`` cpu line, in clock ticks (USER_HZ, usually 1/100 s).

    ``guest``/``guest_nice`` are already counted inside ``user``/``nice`` by the kernel, so they are
    kept for completeness but left out of :attr:`total` (adding them would count that time twice).
    """

    user: int
    nice: int
    system: int
    idle: int
    iowait: int = 0
    irq: int = 0
    softirq: int = 0
    steal: int = 0
    guest: int = 0
    guest_nice: int = 0

    @property
    def total(self) -> int:
        """All ticks spent (busy or idle), without the double-counted guest time."""
        return (self.user + self.nice + self.system + self.idle + self.iowait + self.irq + self.softirq
                + self.steal)

    @property
    def idle_all(self) -> int:
        """Idle ticks including waiting on I/O (a CPU waiting on I/O is free to run other work)."""
        return self.idle + self.iowait


@dataclass(frozen=True)
class ProcStat:
    """The CPU part of one ``/proc/stat`` read: the all-CPU line and each online CPU's line."""

    total: CpuTimes
    per_cpu: dict[int, CpuTimes]

    @property
    def online_cpus(self) -> int:
        """CPUs listed in this read (offline CPUs have no ``cpuN`` line)."""
        return len(self.per_cpu)


_CPU_LINE = re.compile(r"^cpu(\d*)$")


def parse_proc_stat(text: str, source: str = "/proc/stat") -> ProcStat:
    """Parse the ``cpu`` lines of ``/proc/stat`` (other lines — intr, ctxt, btime … — are ignored)."""
    total: CpuTimes | None = None
    per_cpu: dict[int, CpuTimes] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        match = _CPU_LINE.match(parts[0])
        if match is None:
            continue
        counters = parts[1:]
        if not 4 <= len(counters) <= len(CPU_FIELDS):
            raise DataError(source, f"'{parts[0]}' line has {len(counters)} counters", row=line_no,
                            column=parts[0], value=line.strip(),
                            expected=f"4 to {len(CPU_FIELDS)} counters ({' '.join(CPU_FIELDS)})")
        values = [_non_negative_int(token, source, line_no, field)
                  for token, field in zip(counters, CPU_FIELDS, strict=False)]
        times = CpuTimes(*values)
        if match.group(1) == "":
            if total is not None:
                raise DataError(source, "second aggregate 'cpu' line", row=line_no, column="cpu",
                                value=line.strip(), expected="one 'cpu' line")
            total = times
        else:
            per_cpu[int(match.group(1))] = times
    if total is None:
        raise DataError(source, "no aggregate 'cpu' line", value=_excerpt(text),
                        expected="/proc/stat text starting with 'cpu  user nice system idle ...'")
    return ProcStat(total, per_cpu)


def cpu_util_between(before: ProcStat | CpuTimes, after: ProcStat | CpuTimes,
                     source: str = "/proc/stat") -> float:
    """Share of all CPU capacity that was busy between two reads, in [0, 1].

    busy = Δ(total − idle − iowait) / Δtotal, over the aggregate line — the same definition psutil's
    ``cpu_percent`` uses, so phone and host traces mean the same thing. A counter that went backwards
    (on Android the aggregate idle count can drop when a core is hot-unplugged) contributes 0 rather
    than a negative share; if no time passed at all the two reads are unusable and this raises.
    """
    a = before.total if isinstance(before, ProcStat) else before
    b = after.total if isinstance(after, ProcStat) else after
    deltas = {field: max(0, getattr(b, field) - getattr(a, field)) for field in CPU_FIELDS}
    delta = CpuTimes(**deltas)
    if delta.total <= 0:
        raise DataError(source, "CPU time counters did not advance between the two reads",
                        value=f"total {a.total} -> {b.total}", expected="a later read with more ticks")
    return min(1.0, max(0.0, (delta.total - delta.idle_all) / delta.total))


# ------------------------------------------------------------------------------------------- /proc/meminfo

_MEMINFO_LINE = re.compile(r"^([A-Za-z0-9_()]+):\s*(\S+)(?:\s+(kB))?\s*$")


def parse_meminfo(text: str, source: str = "/proc/meminfo") -> dict[str, int]:
    """``/proc/meminfo`` as ``{key: value}``; values with a ``kB`` unit are in kB, the rest are counts."""
    fields: dict[str, int] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _MEMINFO_LINE.match(line.strip())
        if match is None:
            raise DataError(source, "not a 'Key: value [kB]' line", row=line_no, value=line.strip(),
                            expected="lines like 'MemTotal:  3794356 kB'")
        key, token, _unit = match.groups()
        fields[key] = _non_negative_int(token, source, line_no, key)
    if "MemTotal" not in fields:
        raise DataError(source, "no MemTotal line", column="MemTotal", value=_excerpt(text),
                        expected="/proc/meminfo text with 'MemTotal: N kB'")
    return fields


def mem_available_fraction(meminfo: Mapping[str, int], source: str = "/proc/meminfo") -> tuple[float, bool]:
    """(MemAvailable / MemTotal, estimated?) from parsed meminfo.

    Kernels before 3.14 have no MemAvailable; then MemFree + Buffers + Cached is used (an
    over-estimate: not all cache can be dropped) and the second element is ``True`` so the recorder can
    say so in the trace notes.
    """
    total = meminfo["MemTotal"]
    if total <= 0:
        raise DataError(source, "MemTotal is zero", column="MemTotal", value=total, expected="a positive size")
    if "MemAvailable" in meminfo:
        available, estimated = meminfo["MemAvailable"], False
    else:
        missing = [key for key in ("MemFree", "Buffers", "Cached") if key not in meminfo]
        if missing:
            raise DataError(source, "neither MemAvailable nor MemFree/Buffers/Cached", column=missing[0],
                            expected="MemAvailable (kernel ≥ 3.14) or MemFree, Buffers and Cached")
        available, estimated = meminfo["MemFree"] + meminfo["Buffers"] + meminfo["Cached"], True
    return min(1.0, available / total), estimated


# ------------------------------------------------------------------------------------------ dumpsys battery

BATTERY_HEADER = "Current Battery Service state:"


@dataclass(frozen=True)
class BatteryReading:
    """What the trace needs from ``dumpsys battery`` (NaN when the battery is reported absent)."""

    level_frac: float
    temp_c: float
    present: bool
    updates_stopped: bool  # someone ran `dumpsys battery set/unplug`: values are frozen, not measured
    fields: dict[str, str]


def parse_dumpsys_battery(text: str, source: str = "dumpsys battery") -> BatteryReading:
    """Parse ``dumpsys battery``: charge = level / scale, temperature = ``temperature`` / 10 °C.

    Keys are matched exactly and case-sensitively (Samsung prints both ``Charge counter`` and
    ``charge counter``); when a key repeats, the first (AOSP) line wins. ``key:value`` without a space
    (Android 4's ``voltage:4200``) is accepted.
    """
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or lines[first].strip() != BATTERY_HEADER:
        found = lines[first].strip() if first is not None else ""
        raise DataError(source, "not dumpsys battery output", row=(first or 0) + 1, value=found,
                        expected=f"first line '{BATTERY_HEADER}'")
    fields: dict[str, str] = {}
    rows: dict[str, int] = {}
    updates_stopped = False
    for line_no, line in enumerate(lines[first + 1:], start=first + 2):
        stripped = line.strip()
        if stripped.startswith("(UPDATES STOPPED"):
            updates_stopped = True
            continue
        key, sep, value = stripped.partition(":")
        key = key.strip()
        if sep and key and key not in fields:
            fields[key] = value.strip()
            rows[key] = line_no

    def integer(key: str) -> int:
        if key not in fields:
            raise DataError(source, f"no '{key}' line", column=key, expected=f"a line '  {key}: <integer>'")
        try:
            return int(fields[key])
        except ValueError:
            raise DataError(source, "not an integer", row=rows[key], column=key, value=fields[key],
                            expected="an integer") from None

    level, scale, tenths = integer("level"), integer("scale"), integer("temperature")
    if scale <= 0:
        raise DataError(source, "battery scale must be positive", row=rows["scale"], column="scale", value=scale,
                        expected="a positive integer (usually 100)")
    if not 0 <= level <= scale:
        raise DataError(source, "battery level outside 0..scale", row=rows["level"], column="level", value=level,
                        expected=f"an integer in [0, {scale}]")
    present = fields.get("present", "true").lower() != "false"
    level_frac = level / scale if present else math.nan
    temp_c = tenths / 10.0 if present else math.nan
    return BatteryReading(level_frac, temp_c, present, updates_stopped, fields)


# ------------------------------------------------------------------------------------------ sysfs listings


def parse_sysfs_listing(text: str, source: str) -> dict[str, dict[str, str]]:
    """``grep -H . DIR/FILE …`` output → ``{DIR: {FILE: value}}``.

    Lines are ``path:value``; the path's last component is the file, the rest the group (e.g.
    ``policy4`` or ``cpu0/cpufreq``). The value may itself contain ``:`` (only the first splits).
    """
    groups: dict[str, dict[str, str]] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        path, sep, value = line.partition(":")
        directory, slash, name = path.strip().rpartition("/")
        if not sep or not slash or not directory or not name:
            raise DataError(source, "not a 'dir/file:value' line", row=line_no, value=line.strip(),
                            expected="lines like 'policy0/scaling_cur_freq:1804800' (grep -H . output)")
        groups.setdefault(directory, {})[name] = value.strip()
    return groups


def parse_cpu_list(text: str, source: str = "cpu list", line: int | None = None) -> list[int]:
    """A kernel CPU list (``0-3,6`` or ``0 1 2 3``) → ``[0, 1, 2, 3, 6]``."""
    cpus: list[int] = []
    for token in re.split(r"[,\s]+", text.strip()):
        if not token:
            continue
        low, dash, high = token.partition("-")
        try:
            first, last = int(low), int(high) if dash else int(low)
        except ValueError:
            raise DataError(source, "not a CPU list", row=line, value=text.strip(),
                            expected="CPU numbers and ranges such as '0-3,6' or '4 5 6 7'") from None
        if first < 0 or last < first:
            raise DataError(source, "bad CPU range", row=line, value=token, expected="'low-high' with low ≤ high")
        cpus.extend(range(first, last + 1))
    return cpus


@dataclass(frozen=True)
class CpuCluster:
    """One cpufreq policy: its CPUs, current and maximum frequency (kHz, as sysfs reports them).

    ``cur_khz`` is 0 when the policy has no readable current frequency (all its CPUs offline).
    """

    name: str
    cpus: tuple[int, ...]
    cur_khz: int
    max_khz: int

    @property
    def capacity_khz(self) -> int:
        """Weight of this cluster in the frequency fraction: CPUs × maximum frequency."""
        return len(self.cpus) * self.max_khz


def parse_cpufreq_policies(text: str, source: str = "cpufreq") -> list[CpuCluster]:
    """cpufreq groups from a sysfs listing of ``scaling_cur_freq``, ``cpuinfo_max_freq`` and
    (optionally) ``related_cpus``.

    Works for Android's ``policyN`` directories (one per cluster, ``related_cpus`` listing its cores)
    and for per-CPU ``cpuN/cpufreq`` directories (no ``related_cpus``: the group is its own CPU).
    """
    clusters = []
    for group, files in parse_sysfs_listing(text, source).items():
        if "cpuinfo_max_freq" not in files:
            raise DataError(source, f"cpufreq group '{group}' has no cpuinfo_max_freq", column="cpuinfo_max_freq",
                            value=", ".join(sorted(files)), expected="scaling_cur_freq and cpuinfo_max_freq")
        max_khz = _positive_khz(files["cpuinfo_max_freq"], source, f"{group}/cpuinfo_max_freq")
        cur_text = files.get("scaling_cur_freq", "")
        cur_khz = _positive_khz(cur_text, source, f"{group}/scaling_cur_freq") if cur_text else 0
        if cur_khz > max_khz:
            raise DataError(source, "current frequency above the maximum", column=f"{group}/scaling_cur_freq",
                            value=cur_khz, expected=f"at most cpuinfo_max_freq={max_khz} kHz")
        if "related_cpus" in files:
            cpus = tuple(parse_cpu_list(files["related_cpus"], source))
        else:
            digits = re.search(r"(?:cpu|policy)(\d+)", group)
            cpus = (int(digits.group(1)),) if digits else (len(clusters),)
        clusters.append(CpuCluster(group, cpus, cur_khz, max_khz))
    if not clusters:
        raise DataError(source, "no cpufreq groups", expected="scaling_cur_freq/cpuinfo_max_freq lines")
    return sorted(clusters, key=lambda c: c.cpus[0] if c.cpus else 0)


def frequency_fraction(clusters: Iterable[CpuCluster]) -> float:
    """Capacity-weighted mean of cur/max over clusters: Σ nᵢ·curᵢ / Σ nᵢ·maxᵢ (nᵢ = CPUs in cluster i).

    Why weighted: on a big.LITTLE phone, four little cores at full speed and a big cluster at half
    speed leave much less than "75 %" of the compute on offer; weighting by cores × max frequency
    makes the fraction track deliverable cycles. A cluster whose CPUs are all offline counts as 0.
    """
    clusters = list(clusters)
    capacity = sum(c.capacity_khz for c in clusters)
    if capacity <= 0:
        return math.nan
    return sum(len(c.cpus) * c.cur_khz for c in clusters) / capacity


# Thermal zone types that measure the CPU/SoC (x86 package, Raspberry Pi, Qualcomm tsens, generic).
_SOC_ZONE = re.compile(r"x86_pkg_temp|coretemp|cpu|soc|tsens|k10temp|zen", re.IGNORECASE)


def pick_thermal_zone(listing: Mapping[str, Mapping[str, str]],
                      source: str = "thermal") -> tuple[float, str, str]:
    """(temperature °C, zone directory, zone type) from a ``thermal_zone*/{type,temp}`` listing.

    The first zone whose type names the CPU/SoC is used; otherwise the hottest zone (the one most
    likely to throttle, type suffixed ``, hottest``). ``temp`` is in millidegrees Celsius. Zones with
    no readable temp are skipped; with none left the result is ``(nan, "", "")``.
    """
    readings: list[tuple[str, str, float]] = []
    for zone, files in sorted(listing.items()):
        text = files.get("temp", "").strip()
        if not text:
            continue
        try:
            milli = int(text)
        except ValueError:
            raise DataError(source, "thermal zone temperature is not an integer", column=f"{zone}/temp", value=text,
                            expected="millidegrees Celsius, e.g. 45000") from None
        readings.append((zone, files.get("type", "?").strip(), milli / 1000.0))
    if not readings:
        return math.nan, "", ""
    for zone, kind, celsius in readings:
        if _SOC_ZONE.search(kind):
            return celsius, zone, kind
    zone, kind, celsius = max(readings, key=lambda r: r[2])
    return celsius, zone, f"{kind}, hottest"


# ---------------------------------------------------------------------------------------------- helpers


def _non_negative_int(token: str, source: str, line: int, column: str) -> int:
    try:
        value = int(token)
    except ValueError:
        raise DataError(source, "not an integer", row=line, column=column, value=token,
                        expected="a non-negative integer") from None
    if value < 0:
        raise DataError(source, "negative counter", row=line, column=column, value=token,
                        expected="a non-negative integer")
    return value


def _positive_khz(text: str, source: str, column: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise DataError(source, "frequency is not an integer", column=column, value=text,
                        expected="a frequency in kHz, e.g. 1804800") from None
    if value <= 0:
        raise DataError(source, "frequency must be positive", column=column, value=value,
                        expected="a frequency in kHz, e.g. 1804800")
    return value


def _excerpt(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "…"
