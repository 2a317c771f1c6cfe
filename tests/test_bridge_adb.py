"""AdbDevice: the app's epoch-stats format parsed from sample text, and the decision protocol driven against a
scripted stand-in for a phone's shell (no phone was attached: this checks our side of the protocol only)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from adascale_rl.errors import DataError
from adascale_rl.hardware_bridge.devices.adb import (
    END_EPOCH,
    SET_VARIANT,
    STATS_PATH,
    AdbDevice,
    parse_epoch_line,
    parse_epoch_log,
)
from adascale_rl.hardware_bridge.devices.base import Device
from adascale_rl.hardware_bridge.loop import run_loop
from adascale_rl.hardware_bridge.runtime import PolicyRuntime
from adascale_rl.hardware_bridge.testing import exported_tiny_policy
from adascale_rl.scenario import get_scenario
from adascale_rl.traces.record_adb import BATTERY_CMD, CPUFREQ_CMD, MEMINFO_CMD, POSSIBLE_CPUS_CMD, PROC_STAT_CMD

DATA = Path(__file__).parent / "data"
LINE = ("epoch=3 requests=10 completed=9 dropped=1 failed=0 p50_ms=12.5 p95_ms=28.0 max_ms=31.2 late=2 "
        "busy_ms=101.5 queue=0 switched=1 oom=0 load_ms=4.2 variant_id=mobilenet_w1|int8")
LOGCAT = """--------- beginning of main
11-27 23:59:00.001  4242  4260 I ActivityManager: Start proc 4242:org.adascale.runtime
11-27 23:59:01.123  4242  4260 I AdaScaleEpoch: epoch=0 requests=9 completed=9 dropped=0 failed=0 \
p50_ms=11.0 p95_ms=14.2 max_ms=15.0 late=0 busy_ms=99.0 queue=0 switched=0 oom=0 load_ms=0 \
variant_id=mobilenet_w1|int8 config=1large

11-27 23:59:02.124  4242  4260 I AdaScaleEpoch: """ + LINE + "\n"


def test_parse_epoch_line() -> None:
    epoch = parse_epoch_line(LINE)
    assert (epoch.epoch, epoch.requests, epoch.completed, epoch.dropped, epoch.late) == (3, 10, 9, 1, 2)
    assert epoch.p95_ms == 28.0 and epoch.switched and not epoch.oom
    assert epoch.variant_id == "mobilenet_w1|int8" and epoch.config is None


def test_parse_logcat_text() -> None:
    epochs = parse_epoch_log(LOGCAT)
    assert [e.epoch for e in epochs] == [0, 3]
    assert epochs[0].config == "1large"


@pytest.mark.parametrize("line, column, fragment", [
    (LINE.replace("completed=9 ", ""), "completed", "missing key"),
    (LINE + " watts=3", "watts", "unknown key"),
    (LINE.replace("requests=10", "requests=ten"), "requests", "not an integer"),
    (LINE.replace("queue=0", "queue=-1"), "queue", "negative count"),
    (LINE.replace("p95_ms=28.0", "p95_ms=nan"), "p95_ms", "not a non-negative number"),
    (LINE.replace("switched=1", "switched=yes"), "switched", "not a flag"),
    (LINE.replace("late=2", "late=12"), "late", "more late requests"),
    (LINE.replace("queue=0", "queue=0 queue=1"), "queue", "given twice"),
])
def test_parse_errors_name_line_and_field(line, column, fragment) -> None:
    with pytest.raises(DataError, match=fragment) as info:
        parse_epoch_log("\n" + line, "adb:test:epochs.log")
    assert info.value.column == column and info.value.row == 2
    assert "adb:test:epochs.log" in str(info.value)


def test_parse_rejects_free_text_in_a_stats_line() -> None:
    with pytest.raises(DataError, match="key=value"):
        parse_epoch_line("epoch=1 hello world")


class ScriptedPhone:
    """Answers the shell commands the bridge sends with captured/constructed outputs and plays the app's
    side of the protocol (switch on SET_VARIANT, append a stats line on END_EPOCH)."""

    def __init__(self, write_stats: bool = True, deliver: bool = True) -> None:
        self.write_stats = write_stats
        self.deliver = deliver
        self.busy = self.idle = 0
        self.variant = None
        self.log: list[str] = []
        self.commands: list[str] = []

    def _proc_stat(self) -> str:
        self.busy += 30  # 30 busy ticks per 100: 30 % utilisation between reads
        self.idle += 70
        return f"cpu  {self.busy} 0 0 {self.idle} 0 0 0 0 0 0\ncpu0 {self.busy} 0 0 {self.idle} 0 0 0 0 0 0\n"

    def shell(self, cmdargs: str) -> str:
        self.commands.append(cmdargs)
        fixed = {MEMINFO_CMD: DATA / "proc" / "meminfo.txt", BATTERY_CMD: DATA / "android" / "dumpsys_battery.txt",
                 CPUFREQ_CMD: DATA / "android" / "cpufreq_policies_pixel4_layout.txt"}
        if cmdargs in fixed:
            return fixed[cmdargs].read_text()
        if cmdargs == PROC_STAT_CMD:
            return self._proc_stat()
        if cmdargs == POSSIBLE_CPUS_CMD:
            return "0-7\n"
        if cmdargs.startswith("getprop"):
            return {"ro.product.manufacturer": "Google", "ro.product.model": "Pixel 4"}.get(cmdargs.split()[1], "")
        if cmdargs.startswith("am broadcast"):
            if not self.deliver:
                return "Error: Activity manager not running"
            args = shlex.split(cmdargs)
            extras = {args[i + 1]: args[i + 2] for i in range(len(args) - 2) if args[i] in ("--ei", "--es")}
            if args[3] == SET_VARIANT:
                self.variant = extras["variant_id"]
            elif args[3] == END_EPOCH and self.write_stats:
                epoch = int(extras["epoch"])
                self.log.append(f"epoch={epoch} requests=10 completed=10 dropped=0 failed=0 p50_ms=10.0 "
                                f"p95_ms=20.0 max_ms=22.0 late=1 busy_ms=100.0 queue=0 switched=0 oom=0 "
                                f"load_ms=0 variant_id={self.variant} config=1large")
            return f"Broadcasting: Intent {{ act={args[3]} }}\nBroadcast completed: result=0\n"
        if cmdargs.startswith("tail -n 20"):
            assert shlex.split(cmdargs)[3] == STATS_PATH
            return "\n".join(self.log[-20:]) + "\n"
        raise AssertionError(f"unexpected command {cmdargs!r}")


@pytest.fixture(scope="module")
def runtime(tmp_path_factory) -> PolicyRuntime:
    return PolicyRuntime(exported_tiny_policy(tmp_path_factory.getbasetemp() / "bridge_pixel4"))


def test_adb_device_closed_loop_against_scripted_phone(runtime) -> None:
    phone = ScriptedPhone()
    device = AdbDevice(get_scenario("pixel4"), phone, serial="emulated")
    assert isinstance(device, Device)
    frame = run_loop(device, runtime, epochs=4, epoch_s=0.02)
    assert len(frame) == 4 and not frame["fallback"].any()
    assert frame["cpu_bg_util"].round(6).eq(0.3).all()  # /proc/stat deltas through the traces parser
    assert frame["cpu_freq_frac"].between(0, 1).all() and frame["battery_frac"].eq(1.0).all()
    assert frame["latency_p95_ms"].eq(20.0).all() and frame["miss_frac"].eq(0.1).all()
    scenario = get_scenario("pixel4")
    power = scenario.profile.active_power_w("1large")
    assert frame["energy_j_modelled"].round(9).eq(round(power * 0.1, 9)).all()
    broadcasts = [c for c in phone.commands if SET_VARIANT in c]
    assert len(broadcasts) == 4 and phone.variant == frame["variant_id"].iloc[-1]
    assert "'" in broadcasts[0]  # variant ids contain '|': they are shell-quoted


def test_adb_device_reports_missing_stats_and_undelivered_broadcasts() -> None:
    scenario = get_scenario("pixel4")
    device = AdbDevice(scenario, ScriptedPhone(write_stats=False), poll_timeout_s=0.1)
    device.apply(device.contract.fallback_action)
    with pytest.raises(DataError, match="no stats line for epoch 0"):
        device.serve_epoch(0.01)
    device = AdbDevice(scenario, ScriptedPhone(deliver=False))
    with pytest.raises(DataError, match="not delivered"):
        device.apply(device.contract.fallback_action)


def test_app_report_with_unknown_variant_is_refused() -> None:
    device = AdbDevice(get_scenario("pixel4"), ScriptedPhone())
    with pytest.raises(DataError, match="unknown variant_id"):
        device.to_stats(parse_epoch_line(LINE.replace("mobilenet_w1|int8", "resnet999")))
