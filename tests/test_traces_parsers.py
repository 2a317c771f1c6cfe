"""Parsers on real captured outputs (tests/data/proc: this machine; tests/data/android: see SOURCES.md)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from adascale_rl.errors import DataError
from adascale_rl.traces.parsers import (
    CpuTimes,
    cpu_util_between,
    frequency_fraction,
    mem_available_fraction,
    parse_cpu_list,
    parse_cpufreq_policies,
    parse_dumpsys_battery,
    parse_meminfo,
    parse_proc_stat,
    parse_sysfs_listing,
    pick_thermal_zone,
)

DATA = Path(__file__).parent / "data"
PROC = DATA / "proc"
ANDROID = DATA / "android"


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------- /proc/stat


def first_line_counters(path: Path) -> list[int]:
    return [int(x) for x in read(path).splitlines()[0].split()[1:]]


def test_proc_stat_real_capture() -> None:
    stat = parse_proc_stat(read(PROC / "stat_0.txt"), "stat_0.txt")
    counters = first_line_counters(PROC / "stat_0.txt")
    assert stat.total == CpuTimes(*counters)
    cpu_lines = [line for line in read(PROC / "stat_0.txt").splitlines() if line[:3] == "cpu" and line[3].isdigit()]
    assert stat.online_cpus == len(cpu_lines) >= 1
    assert sum(t.user for t in stat.per_cpu.values()) == pytest.approx(stat.total.user, abs=len(cpu_lines))


def test_cpu_util_between_real_reads_one_second_apart() -> None:
    before = parse_proc_stat(read(PROC / "stat_0.txt"))
    after = parse_proc_stat(read(PROC / "stat_1.txt"))
    a, b = first_line_counters(PROC / "stat_0.txt"), first_line_counters(PROC / "stat_1.txt")
    delta = [y - x for x, y in zip(a, b, strict=True)]
    total = sum(delta[:8])  # guest and guest_nice are already inside user and nice
    expected = (total - delta[3] - delta[4]) / total
    util = cpu_util_between(before, after)
    assert util == pytest.approx(expected)
    assert 0.0 <= util <= 1.0


# Written here, not captured: an 8-CPU /proc/stat in the kernel's format (proc(5)), as an octa-core phone
# prints it (big.LITTLE: cpu4-7 busier). No complete real Android capture could be found (tests/data/android/
# SOURCES.md); the real-capture tests above cover the same format on this machine.
OCTA_0 = """cpu  1000 10 500 8000 100 20 30 0 0 0
cpu0 100 1 50 1000 10 2 3 0 0 0
cpu1 100 1 50 1000 10 2 3 0 0 0
cpu2 100 1 50 1000 10 2 3 0 0 0
cpu3 100 1 50 1000 10 2 3 0 0 0
cpu4 150 1 75 1000 15 3 4 0 0 0
cpu5 150 1 75 1000 15 3 4 0 0 0
cpu6 150 2 75 1000 15 3 5 0 0 0
cpu7 150 2 75 1000 15 2 4 0 0 0
intr 123 0 0
ctxt 456
btime 1700000000
processes 789
procs_running 2
procs_blocked 0
softirq 10 1 2 3 4 0 0 0 0 0 0
"""


def test_eight_cpus_and_busy_share() -> None:
    stat = parse_proc_stat(OCTA_0, "octa")
    assert stat.online_cpus == 8 and sorted(stat.per_cpu) == list(range(8))
    later = OCTA_0.replace("cpu  1000 10 500 8000 100 20 30", "cpu  1300 10 600 8500 100 20 30", 1)
    # 400 busy ticks of 900: 44 % of all eight cores' capacity
    assert cpu_util_between(stat, parse_proc_stat(later)) == pytest.approx(400 / 900)


def test_counter_going_backwards_counts_as_zero() -> None:
    # Android hot-unplug can make the aggregate idle count drop; that must not produce a share above 1
    before = CpuTimes(100, 0, 100, 1000, 50)
    after = CpuTimes(200, 0, 150, 900, 50)
    assert cpu_util_between(before, after) == 1.0


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("cpu  1 2 x 4 5 6 7\n", ["line 1", "column 'system'", "'x'", "not an integer"]),
        ("cpu  1 2 -3 4\n", ["line 1", "column 'system'", "'-3'", "negative counter"]),
        ("intr 1\ncpu  1 2 3\n", ["line 2", "column 'cpu'", "has 3 counters", "4 to 10 counters"]),
        ("cat: /proc/stat: Permission denied\n", ["no aggregate 'cpu' line", "Permission denied"]),
        ("", ["no aggregate 'cpu' line"]),
        ("cpu  1 2 3 4\ncpu  1 2 3 4\n", ["line 2", "second aggregate"]),
    ],
)
def test_malformed_proc_stat(text: str, fragments: list[str]) -> None:
    with pytest.raises(DataError) as info:
        parse_proc_stat(text, "adb:X:/proc/stat")
    message = str(info.value)
    assert message.startswith("adb:X:/proc/stat")
    for fragment in fragments:
        assert fragment in message


def test_counters_that_did_not_advance() -> None:
    stat = parse_proc_stat(read(PROC / "stat_0.txt"))
    with pytest.raises(DataError, match="did not advance"):
        cpu_util_between(stat, stat, "stat_0.txt")


# ------------------------------------------------------------------------------------------- /proc/meminfo


def test_meminfo_real_capture() -> None:
    text = read(PROC / "meminfo.txt")
    info = parse_meminfo(text, "meminfo.txt")
    lines = dict(line.split(":", 1) for line in text.splitlines())
    assert info["MemTotal"] == int(lines["MemTotal"].split()[0])
    assert info["MemAvailable"] == int(lines["MemAvailable"].split()[0])
    assert "HugePages_Total" in info  # count lines without a kB unit parse too
    fraction, estimated = mem_available_fraction(info)
    assert fraction == pytest.approx(info["MemAvailable"] / info["MemTotal"]) and not estimated


def test_meminfo_without_memavailable_is_estimated() -> None:
    old_kernel = "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n"
    assert mem_available_fraction(parse_meminfo(old_kernel)) == (0.4, True)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("MemTotal: 1000 kB\nMemFree 12 kB\n", ["line 2", "not a 'Key: value [kB]' line", "'MemFree 12 kB'"]),
        ("MemTotal: lots kB\n", ["line 1", "column 'MemTotal'", "'lots'"]),
        ("MemFree: 12 kB\n", ["no MemTotal line", "column 'MemTotal'"]),
    ],
)
def test_malformed_meminfo(text: str, fragments: list[str]) -> None:
    with pytest.raises(DataError) as info:
        parse_meminfo(text, "adb:X:/proc/meminfo")
    for fragment in ["adb:X:/proc/meminfo", *fragments]:
        assert fragment in str(info.value)


# ------------------------------------------------------------------------------------------ dumpsys battery


def test_dumpsys_battery_real_capture() -> None:
    reading = parse_dumpsys_battery(read(ANDROID / "dumpsys_battery.txt"))
    assert (reading.level_frac, reading.temp_c, reading.present) == (1.0, 35.0, True)
    assert reading.fields["technology"] == "Li-poly" and not reading.updates_stopped


def test_dumpsys_battery_samsung_with_vendor_lines() -> None:
    reading = parse_dumpsys_battery(read(ANDROID / "dumpsys_battery_samsung.txt"))
    assert reading.level_frac == pytest.approx(0.84) and reading.temp_c == pytest.approx(32.6)
    assert reading.fields["Charge counter"] == "0" and reading.fields["charge counter"] == "0"
    assert reading.fields["mSavedBatteryMaxTemp"] == "490"  # vendor lines are kept, not interpreted


def test_dumpsys_battery_aosp_format_with_updates_stopped() -> None:
    reading = parse_dumpsys_battery(read(ANDROID / "dumpsys_battery_aosp_updates_stopped.txt"))
    assert reading.level_frac == pytest.approx(0.85) and reading.temp_c == pytest.approx(28.5)
    assert reading.updates_stopped and reading.fields["Charging policy"] == "0"


def test_dumpsys_battery_android4_style_and_absent_battery() -> None:
    text = "Current Battery Service state:\n  present: false\n  level: 0\n  scale: 100\n  voltage:0\n  temperature: 0\n"
    reading = parse_dumpsys_battery(text)
    assert not reading.present and math.isnan(reading.level_frac) and math.isnan(reading.temp_c)
    assert reading.fields["voltage"] == "0"


GOOD = read(ANDROID / "dumpsys_battery.txt")


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("Can't find service: battery\n", ["line 1", "not dumpsys battery output", "Can't find service"]),
        ("", ["not dumpsys battery output"]),
        (GOOD.replace("  temperature: 350\n", ""), ["no 'temperature' line", "column 'temperature'"]),
        (GOOD.replace("temperature: 350", "temperature: hot"), ["line 14", "column 'temperature'", "'hot'"]),
        (GOOD.replace("scale: 100", "scale: 0"), ["line 12", "column 'scale'", "must be positive"]),
        (GOOD.replace("level: 100", "level: 120"), ["line 11", "column 'level'", "(got 120)", "[0, 100]"]),
    ],
)
def test_malformed_dumpsys_battery(text: str, fragments: list[str]) -> None:
    with pytest.raises(DataError) as info:
        parse_dumpsys_battery(text, "adb:X:dumpsys battery")
    for fragment in ["adb:X:dumpsys battery", *fragments]:
        assert fragment in str(info.value)


# ------------------------------------------------------------------------------------------ cpufreq/sysfs


def test_cpufreq_policies_big_little() -> None:
    clusters = parse_cpufreq_policies(read(ANDROID / "cpufreq_policies_pixel4_layout.txt"))
    assert [(c.name, c.cpus, c.max_khz) for c in clusters] == [
        ("policy0", (0, 1, 2, 3), 1785600), ("policy4", (4, 5, 6), 2419200), ("policy7", (7,), 2841600)]
    expected = (4 * 1209600 + 3 * 710400 + 1 * 2841600) / (4 * 1785600 + 3 * 2419200 + 1 * 2841600)
    assert frequency_fraction(clusters) == pytest.approx(expected)
    plain_mean = (1209600 / 1785600 + 710400 / 2419200 + 1.0) / 3
    assert frequency_fraction(clusters) != pytest.approx(plain_mean)  # capacity-weighted, not per cluster


def test_cpufreq_per_cpu_layout_of_a_linux_host() -> None:
    text = ("cpu0/cpufreq/scaling_cur_freq:1500000\ncpu1/cpufreq/scaling_cur_freq:3000000\n"
            "cpu0/cpufreq/cpuinfo_max_freq:3000000\ncpu1/cpufreq/cpuinfo_max_freq:3000000\n")
    clusters = parse_cpufreq_policies(text)
    assert [c.cpus for c in clusters] == [(0,), (1,)]
    assert frequency_fraction(clusters) == pytest.approx(0.75)


def test_offline_policy_counts_as_zero() -> None:
    text = "policy0/scaling_cur_freq:1000\npolicy0/cpuinfo_max_freq:1000\npolicy0/related_cpus:0 1\n" \
           "policy2/cpuinfo_max_freq:2000\npolicy2/related_cpus:2 3\n"
    assert frequency_fraction(parse_cpufreq_policies(text)) == pytest.approx(2000 / 6000)


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("policy0/scaling_cur_freq 1804800\n", ["line 1", "not a 'dir/file:value' line"]),
        ("policy0/scaling_cur_freq:fast\npolicy0/cpuinfo_max_freq:1000\n",
         ["column 'policy0/scaling_cur_freq'", "'fast'", "kHz"]),
        ("policy0/scaling_cur_freq:2000\npolicy0/cpuinfo_max_freq:1000\n",
         ["current frequency above the maximum", "(got 2000)", "at most cpuinfo_max_freq=1000"]),
        ("policy0/scaling_cur_freq:900\n", ["has no cpuinfo_max_freq", "column 'cpuinfo_max_freq'"]),
        ("policy0/scaling_cur_freq:9\npolicy0/cpuinfo_max_freq:10\npolicy0/related_cpus:0-x\n",
         ["not a CPU list", "'0-x'"]),
        ("", ["no cpufreq groups"]),
    ],
)
def test_malformed_cpufreq(text: str, fragments: list[str]) -> None:
    with pytest.raises(DataError) as info:
        parse_cpufreq_policies(text, "adb:X:cpufreq")
    for fragment in ["adb:X:cpufreq", *fragments]:
        assert fragment in str(info.value)


def test_cpu_lists() -> None:
    assert parse_cpu_list("0-3,6") == [0, 1, 2, 3, 6]
    assert parse_cpu_list("4 5 6 7\n") == [4, 5, 6, 7]
    with pytest.raises(DataError, match="bad CPU range"):
        parse_cpu_list("3-1")


def test_thermal_zone_choice() -> None:
    listing = parse_sysfs_listing("thermal_zone0/type:acpitz\nthermal_zone0/temp:27800\n"
                                  "thermal_zone1/type:x86_pkg_temp\nthermal_zone1/temp:45000\n", "thermal")
    assert pick_thermal_zone(listing) == (45.0, "thermal_zone1", "x86_pkg_temp")
    no_cpu_zone = parse_sysfs_listing("thermal_zone0/type:acpitz\nthermal_zone0/temp:27800\n"
                                      "thermal_zone1/type:iwlwifi_1\nthermal_zone1/temp:38000\n", "thermal")
    assert pick_thermal_zone(no_cpu_zone) == (38.0, "thermal_zone1", "iwlwifi_1, hottest")
    temp, zone, _ = pick_thermal_zone({})
    assert math.isnan(temp) and zone == ""
    with pytest.raises(DataError, match=r"column 'thermal_zone0/temp': .* \(got 'warm'\)"):
        pick_thermal_zone({"thermal_zone0": {"type": "cpu-thermal", "temp": "warm"}})
