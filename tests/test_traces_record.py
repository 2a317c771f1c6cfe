"""Recorders: the local one for real on this machine; the adb one on real captured outputs replayed.

No phone is attached here, so the adb sampler talks to :class:`ReplayDevice`, which answers each shell
command the sampler sends with a real captured output (tests/data). It is a stand-in for the phone, not a
mock of our code: every parser and the sampling loop run for real, and the exact commands are pinned.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from adascale_rl.traces import load_trace, save_trace
from adascale_rl.traces.parsers import cpu_util_between, parse_proc_stat
from adascale_rl.traces.record_adb import (
    BATTERY_CMD,
    CPUFREQ_CMD,
    MEMINFO_CMD,
    POSSIBLE_CPUS_CMD,
    PROC_STAT_CMD,
    AdbSampler,
)
from adascale_rl.traces.record_local import CPU_SYSFS, LocalSampler, record_local
from adascale_rl.traces.recorder import Reading, record

DATA = Path(__file__).parent / "data"


def test_local_recorder_on_this_machine(tmp_path: Path) -> None:
    trace = record_local(3.0, 0.5, name="here", state="idle")
    assert len(trace) == 6
    assert trace.t_s[0] == 0.0 and np.all(np.diff(trace.t_s) > 0)
    assert np.all((trace.cpu_bg_util >= 0) & (trace.cpu_bg_util <= 1))
    assert np.all((trace.mem_avail_frac > 0) & (trace.mem_avail_frac <= 1))
    assert set(trace.state) == {"idle"}
    meta = trace.meta
    assert meta.name == "here" and meta.cores and meta.cores >= 1 and meta.ram_mb and meta.ram_mb > 0
    notes = " | ".join(meta.notes)
    assert "includes the recorder's own small load" in notes
    has_cpufreq = any(CPU_SYSFS.glob("cpu[0-9]*/cpufreq/scaling_cur_freq"))
    assert np.isnan(trace.cpu_freq_frac).all() == (not has_cpufreq)
    assert ("cpu_freq_frac unavailable" in notes) == (not has_cpufreq)
    if np.isnan(trace.temp_c).all():
        assert "temp_c unavailable" in notes
    else:
        assert "temp_c from" in notes
    if np.isnan(trace.battery_frac).all():
        assert "battery_frac unavailable" in notes
    loaded = load_trace(save_trace(trace, tmp_path / "host.csv"))
    assert loaded == trace


class StopAfter(LocalSampler):
    """The real local sampler, with a Ctrl-C arriving before read number ``n + 1``."""

    def __init__(self, n: int) -> None:
        super().__init__("stopped")
        self.left = n

    def read(self) -> Reading:
        if self.left == 0:
            raise KeyboardInterrupt
        self.left -= 1
        return super().read()


def test_ctrl_c_keeps_what_was_recorded() -> None:
    trace = record(StopAfter(2), 10.0, 0.05)
    assert len(trace) == 2
    assert "stopped early by the user after 2 of 200 samples" in trace.meta.notes
    with pytest.raises(KeyboardInterrupt):
        record(StopAfter(0), 1.0, 0.05)


@pytest.mark.parametrize(("duration", "interval"), [(1.0, 0.0), (1.0, -1.0), (0.1, 0.5), (math.inf, 1.0)])
def test_record_rejects_bad_timing(duration: float, interval: float) -> None:
    with pytest.raises(ValueError):
        record(LocalSampler(), duration, interval)


class ReplayDevice:
    """Answers the adb sampler's shell commands with captured outputs, in order for /proc/stat."""

    def __init__(self, battery: str = "dumpsys_battery.txt") -> None:
        self.stats = [(DATA / "proc" / "stat_0.txt").read_text(), (DATA / "proc" / "stat_1.txt").read_text()]
        self.answers = {
            MEMINFO_CMD: (DATA / "proc" / "meminfo.txt").read_text(),
            CPUFREQ_CMD: (DATA / "android" / "cpufreq_policies_pixel4_layout.txt").read_text(),
            BATTERY_CMD: (DATA / "android" / battery).read_text() if battery else "Can't find service: battery",
            POSSIBLE_CPUS_CMD: "0-7",
            "getprop ro.product.manufacturer": "Google",
            "getprop ro.product.model": "Pixel 4",
            "getprop ro.soc.model": "SM8150",
            "getprop ro.board.platform": "msmnile",
        }
        self.commands: list[str] = []

    def shell(self, cmdargs: str) -> str:
        self.commands.append(cmdargs)
        if cmdargs == PROC_STAT_CMD:
            return self.stats.pop(0)
        if cmdargs not in self.answers:
            raise AssertionError(f"unexpected shell command {cmdargs!r}")
        return self.answers[cmdargs].rstrip()  # adbutils strips the trailing newline


def test_adb_sampler_on_replayed_real_outputs(tmp_path: Path) -> None:
    device = ReplayDevice()
    trace = record(AdbSampler(device, "R58M123", name="phone"), 0.01, 0.01)
    assert len(trace) == 1
    stat_0, stat_1 = (parse_proc_stat((DATA / "proc" / f"stat_{i}.txt").read_text()) for i in (0, 1))
    assert trace.cpu_bg_util[0] == pytest.approx(cpu_util_between(stat_0, stat_1))
    expected_freq = (4 * 1209600 + 3 * 710400 + 2841600) / (4 * 1785600 + 3 * 2419200 + 2841600)
    assert trace.cpu_freq_frac[0] == pytest.approx(expected_freq)
    assert (trace.battery_frac[0], trace.temp_c[0]) == (1.0, 35.0)
    meta = trace.meta
    assert meta.device == "Google Pixel 4 (SM8150, adb R58M123)"
    assert (meta.cores, meta.max_mhz) == (8, 2841.6)
    assert any(note.startswith("clusters: policy0 cpus 0,1,2,3 max 1785.6 MHz") for note in meta.notes)
    assert any("battery temperature" in note for note in meta.notes)
    assert device.commands.count(PROC_STAT_CMD) == 2
    assert load_trace(save_trace(trace, tmp_path / "phone.csv")) == trace


def test_adb_sampler_without_battery_service_records_nan_and_says_why() -> None:
    trace = record(AdbSampler(ReplayDevice(battery=""), "tv", name="tv"), 0.01, 0.01)
    assert math.isnan(trace.battery_frac[0]) and math.isnan(trace.temp_c[0])
    assert any(note.startswith("battery_frac and temp_c unavailable (NaN): adb:tv:dumpsys battery, line 1")
               for note in trace.meta.notes)


def test_adb_sampler_notes_frozen_battery_values() -> None:
    trace = record(AdbSampler(ReplayDevice("dumpsys_battery_aosp_updates_stopped.txt"), "x"), 0.01, 0.01)
    assert trace.battery_frac[0] == pytest.approx(0.85)
    assert any("UPDATES STOPPED" in note for note in trace.meta.notes)
