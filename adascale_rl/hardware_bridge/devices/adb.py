"""``AdbDevice``: an Android phone running the model in an on-device app, driven over adb.

**Not exercised against a phone.** No phone was attached when this was written; the stats parser is
tested on sample text and the device on a scripted stand-in for the phone's shell. The wire protocol
below is what an app must implement.

Reading the phone reuses the traces package's adb sampler
(:class:`~adascale_rl.traces.record_adb.AdbSampler`: ``/proc/stat``, ``/proc/meminfo``, cpufreq policies,
``dumpsys battery``, parsed by :mod:`adascale_rl.traces.parsers`).

Protocol between the bridge (host) and the app (package ``org.adascale.runtime`` by default):

1. **Decision** — the bridge sends an explicit broadcast to the app's package::

       am broadcast -a org.adascale.SET_VARIANT -p org.adascale.runtime --ei epoch K --ei action A \\
           --es variant_id 'V' --es branch 'B' --es compression 'C'

   The app switches its interpreter to variant ``V`` (loading it if needed) and keeps serving.
2. **End of epoch** — after the epoch's duration the bridge sends::

       am broadcast -a org.adascale.END_EPOCH -p org.adascale.runtime --ei epoch K

   The app closes epoch ``K`` and appends one line to ``/data/local/tmp/adascale/epochs.log`` (the same
   line may also go to logcat under tag ``AdaScaleEpoch``; the parser accepts logcat prefixes)::

       epoch=K requests=N completed=N dropped=N failed=N p50_ms=X p95_ms=X max_ms=X late=N busy_ms=X
       queue=N switched=0|1 oom=0|1 load_ms=X variant_id=V [config=NAME]

   space-separated ``key=value`` pairs, values without spaces, in any order; ``late`` = completed past
   the budget, ``busy_ms`` = total inference time in the epoch, ``config`` = the device profile's compute
   configuration the app ran on (optional). Counting follows :class:`EpochStats`: requests in the epoch
   they arrive, completions in the epoch they finish, latency from arrival to result.
3. The bridge reads ``tail -n 20`` of that file until the line for epoch ``K`` appears (default timeout
   2 s) and converts it to :class:`EpochStats`.

**Energy is modelled**: the profile's active power of ``config`` (or of the variant's fastest
configuration when the app does not say) × ``busy_ms`` — phones do not expose per-app energy.
"""

from __future__ import annotations

import math
import re
import shlex
import time
from dataclasses import dataclass

from adascale_rl.envs.contract import DecisionContract, Reading
from adascale_rl.errors import DataError
from adascale_rl.hardware_bridge.devices.base import DeviceReport
from adascale_rl.scenario import Scenario
from adascale_rl.sim.stats import EpochStats
from adascale_rl.traces.record_adb import AdbSampler, ShellDevice

PACKAGE = "org.adascale.runtime"
SET_VARIANT = "org.adascale.SET_VARIANT"
END_EPOCH = "org.adascale.END_EPOCH"
STATS_PATH = "/data/local/tmp/adascale/epochs.log"
LOG_TAG = "AdaScaleEpoch"

_INT_KEYS = ("epoch", "requests", "completed", "dropped", "failed", "late", "queue")
_FLOAT_KEYS = ("p50_ms", "p95_ms", "max_ms", "busy_ms", "load_ms")
_FLAG_KEYS = ("switched", "oom")
_REQUIRED = (*_INT_KEYS, *_FLOAT_KEYS, *_FLAG_KEYS, "variant_id")
_OPTIONAL = ("config",)
_PAIR = re.compile(r"^([a-z_0-9]+)=(\S+)$")


@dataclass(frozen=True)
class AppEpoch:
    """One epoch as the app reported it (see the module docstring for the fields)."""

    epoch: int
    requests: int
    completed: int
    dropped: int
    failed: int
    late: int
    queue: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    busy_ms: float
    load_ms: float
    switched: bool
    oom: bool
    variant_id: str
    config: str | None = None


def parse_epoch_line(line: str, source: str = STATS_PATH, line_no: int | None = None) -> AppEpoch:
    """Parse one stats line (optionally with a logcat prefix ending in ``AdaScaleEpoch:``)."""
    text = line.strip()
    tag = text.find(f"{LOG_TAG}:")
    if tag >= 0:
        text = text[tag + len(LOG_TAG) + 1:].strip()
    values: dict[str, str] = {}
    for token in text.split():
        match = _PAIR.match(token)
        if match is None:
            raise DataError(source, "not a key=value pair", row=line_no, value=token,
                            expected="space-separated key=value pairs such as 'completed=10'")
        key, value = match.groups()
        if key not in _REQUIRED and key not in _OPTIONAL:
            raise DataError(source, f"unknown key '{key}'", row=line_no, column=key, value=value,
                            expected=f"keys {', '.join(_REQUIRED + _OPTIONAL)}")
        if key in values:
            raise DataError(source, f"key '{key}' given twice", row=line_no, column=key, value=value)
        values[key] = value
    missing = [key for key in _REQUIRED if key not in values]
    if missing:
        raise DataError(source, f"missing key(s) {', '.join(missing)}", row=line_no, column=missing[0],
                        expected=f"all of {', '.join(_REQUIRED)}")
    parsed: dict[str, object] = {"variant_id": values["variant_id"], "config": values.get("config")}
    for key in _INT_KEYS:
        try:
            number = int(values[key])
        except ValueError:
            raise DataError(source, "not an integer", row=line_no, column=key, value=values[key],
                            expected="a non-negative integer") from None
        if number < 0:
            raise DataError(source, "negative count", row=line_no, column=key, value=number,
                            expected="a non-negative integer")
        parsed[key] = number
    for key in _FLOAT_KEYS:
        try:
            number = float(values[key])
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and number >= 0):
            raise DataError(source, "not a non-negative number", row=line_no, column=key, value=values[key],
                            expected="a finite number of milliseconds ≥ 0")
        parsed[key] = number
    for key in _FLAG_KEYS:
        if values[key] not in ("0", "1"):
            raise DataError(source, "not a flag", row=line_no, column=key, value=values[key], expected="0 or 1")
        parsed[key] = values[key] == "1"
    epoch = AppEpoch(**parsed)
    if epoch.late > epoch.completed:
        raise DataError(source, "more late requests than completed ones", row=line_no, column="late",
                        value=epoch.late, expected=f"at most completed={epoch.completed}")
    return epoch


def parse_epoch_log(text: str, source: str = STATS_PATH) -> list[AppEpoch]:
    """Every stats line of a log (blank lines and logcat lines of other tags are skipped)."""
    epochs = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or (LOG_TAG not in stripped and not stripped.startswith("epoch=")):
            continue
        epochs.append(parse_epoch_line(stripped, source, line_no))
    return epochs


class AdbDevice:
    """An Android phone over adb running the decision protocol above (``device``: an adbutils device or
    anything with ``shell(cmd) -> str``)."""

    reading_is = "previous"

    def __init__(self, scenario: Scenario, device: ShellDevice, *, serial: str = "device", package: str = PACKAGE,
                 stats_path: str = STATS_PATH, poll_timeout_s: float = 2.0, poll_interval_s: float = 0.05) -> None:
        self.scenario = scenario
        self.contract = DecisionContract(scenario)
        self.device = device
        self.serial = serial
        self.package = package
        self.stats_path = stats_path
        self.poll_timeout_s = poll_timeout_s
        self.poll_interval_s = poll_interval_s
        self.name = f"adb:{serial}"
        self.energy_source = (f"modelled: '{scenario.profile.name}' device profile active power x the app's "
                              "reported busy time (no per-app energy counter on Android)")
        self.sampler = AdbSampler(device, serial, name=f"bridge_{serial}")
        self.sampler.start()
        self.epoch = 0
        self._epoch_end: float | None = None
        self._action = self.contract.fallback_action
        self._served: int | None = None

    @classmethod
    def connect(cls, scenario: Scenario, serial: str | None = None, **kwargs) -> AdbDevice:
        """Connect with adbutils (see :func:`adascale_rl.traces.record_adb.connect`)."""
        from adascale_rl.traces.record_adb import connect

        device = connect(serial)
        return cls(scenario, device, serial=serial or getattr(device, "serial", None) or "device", **kwargs)

    def _shell(self, command: str) -> str:
        return self.device.shell(command)

    def _broadcast(self, action: str, extras: list[str]) -> None:
        command = " ".join(["am broadcast -a", action, "-p", shlex.quote(self.package), *extras])
        output = self._shell(command)
        if "Broadcast completed" not in output:
            raise DataError(f"adb:{self.serial}:am broadcast", "the broadcast was not delivered",
                            value=output.strip()[:200], expected="'Broadcast completed: result=...'")

    # -- Device protocol -------------------------------------------------------------------------------
    def sample(self) -> Reading:
        raw = self.sampler.read()
        return Reading(raw.cpu_freq_frac, raw.cpu_bg_util, raw.mem_avail_frac, raw.temp_c, raw.battery_frac)

    def apply(self, action: int) -> None:
        names = self.contract.describe(action)
        self._broadcast(SET_VARIANT, [f"--ei epoch {self.epoch}", f"--ei action {int(action)}",
                                      f"--es variant_id {shlex.quote(names['variant_id'])}",
                                      f"--es branch {shlex.quote(names['branch'])}",
                                      f"--es compression {shlex.quote(names['compression'])}"])
        self._action = int(action)

    def serve_epoch(self, duration_s: float) -> EpochStats:
        now = time.monotonic()
        self._epoch_end = max((self._epoch_end or now) + duration_s, now)
        while (left := self._epoch_end - time.monotonic()) > 0:
            time.sleep(min(left, 0.05))
        self._broadcast(END_EPOCH, [f"--ei epoch {self.epoch}"])
        report = self._wait_for_epoch(self.epoch)
        self.epoch += 1
        stats = self.to_stats(report)
        self._served = int(self.contract.variant_action[self.scenario.table.index(report.variant_id)])
        return stats

    def epoch_report(self) -> DeviceReport:
        """The variant the app says it served (it may have refused or failed to load the one applied)."""
        served = self._served if self._served is not None else self._action
        faults = () if served == self._action else (
            f"the app served {self.contract.describe(served)['variant_id']!r} instead of the applied "
            f"{self.contract.describe(self._action)['variant_id']!r}",)
        return DeviceReport(served, faults=faults)

    def _wait_for_epoch(self, epoch: int) -> AppEpoch:
        deadline = time.monotonic() + self.poll_timeout_s
        source = f"adb:{self.serial}:{self.stats_path}"
        while True:
            text = self._shell(f"tail -n 20 {shlex.quote(self.stats_path)} 2>/dev/null")
            for report in reversed(parse_epoch_log(text, source)):
                if report.epoch == epoch:
                    return report
            if time.monotonic() >= deadline:
                raise DataError(source, f"no stats line for epoch {epoch} after {self.poll_timeout_s:g} s",
                                expected="the app to append 'epoch=K ...' after END_EPOCH (see AdbDevice docs)")
            time.sleep(self.poll_interval_s)

    def to_stats(self, report: AppEpoch) -> EpochStats:
        """EpochStats from an app report: accuracy from the catalog, energy modelled (module docstring)."""
        table = self.scenario.table
        try:
            variant = table.index(report.variant_id)
        except KeyError:
            raise DataError(f"adb:{self.serial}:{self.stats_path}", "unknown variant_id in the app's report",
                            column="variant_id", value=report.variant_id,
                            expected=f"a variant of the {table.device} catalog") from None
        if report.config is not None:
            if report.config not in table.configs:
                raise DataError(f"adb:{self.serial}:{self.stats_path}", "unknown compute configuration",
                                column="config", value=report.config, expected=", ".join(table.configs))
            config = report.config
        else:
            config = table.configs[int(table.latency_ms[variant].argmin())]
        power_w = self.scenario.profile.active_power_w(config)
        resolved = report.completed + report.dropped + report.failed
        return EpochStats(
            requests=report.requests, completed=report.completed, dropped=report.dropped, failed=report.failed,
            latency_p50_ms=report.p50_ms, latency_p95_ms=report.p95_ms, latency_max_ms=report.max_ms,
            miss_frac=(report.late + report.dropped + report.failed) / resolved if resolved else 0.0,
            energy_j=power_w * report.busy_ms / 1000.0,
            accuracy=float(table.accuracy[variant]) * report.completed / resolved if resolved else 0.0,
            switched=report.switched, out_of_memory=report.oom, load_ms=report.load_ms, queue_len=report.queue,
        )

    def close(self) -> None:
        """Nothing held open on the host (the adb server owns the connection)."""
