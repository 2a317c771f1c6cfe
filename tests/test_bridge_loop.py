"""The closed loop: simulated device through the CLI, and real closed loops on this machine (real readings,
real supernet inference, real latency, real contention processes)."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest

from adascale_rl.agents.bundled import bundled_policy
from adascale_rl.cli import main
from adascale_rl.envs.contract import DecisionContract
from adascale_rl.hardware_bridge.devices.base import Device
from adascale_rl.hardware_bridge.devices.local import LocalDevice, LocalReader
from adascale_rl.hardware_bridge.loop import CSV_COLUMNS
from adascale_rl.hardware_bridge.session import run_bridge
from adascale_rl.hardware_bridge.testing import exported_tiny_policy

TEST_TRACE = "rpi4b4gb_1200mhz_pattern_12h"


@pytest.fixture(scope="module")
def pixel4_policy(tmp_path_factory) -> Path:
    return exported_tiny_policy(tmp_path_factory.getbasetemp() / "bridge_pixel4")


@pytest.fixture(scope="module")
def local_policy() -> Path:
    """The policy bundled for the ``local`` scenario, whose supernet variants run on this machine."""
    return bundled_policy("local")


def _no_children() -> bool:
    return not [p for p in psutil.Process().children(recursive=True)
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_cli_run_on_sim_writes_csv_and_comparison(pixel4_policy, tmp_path, capsys) -> None:
    out = tmp_path / "epochs.csv"
    code = main(["bridge", "run", "--device", "sim", "--policy", str(pixel4_policy), "--trace", TEST_TRACE,
                 "--duration", "120", "--trace-start", "7200", "--out", str(out), "--compare-sim"])
    assert code == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == list(CSV_COLUMNS) and len(frame) == 120
    assert frame["requests"].sum() > 0 and not frame["fallback"].any()
    assert (frame["injected_bg_util"] == frame["cpu_bg_util"]).all()  # the sim reads the trace itself
    assert out.with_suffix(".sim_vs_real.png").stat().st_size > 10_000
    text = capsys.readouterr().out
    # Sim against itself with the same seed and actions: identical epochs, zero error.
    assert "sim_vs_real_p95_error_median" in text
    result = run_bridge(device="sim", policy=pixel4_policy, trace=TEST_TRACE, duration_s=60, trace_start_s=7200,
                        compare_sim=True)
    assert result.comparison.median_error == 0.0 and result.comparison.n_epochs > 50


def test_run_rejects_bad_arguments(pixel4_policy) -> None:
    with pytest.raises(ValueError, match="device"):
        run_bridge(device="phone", policy=pixel4_policy, trace=TEST_TRACE, duration_s=10)
    with pytest.raises(ValueError, match="at least one epoch"):
        run_bridge(device="sim", policy=pixel4_policy, trace=TEST_TRACE, duration_s=0.1)
    with pytest.raises(ValueError, match="fewer than"):
        run_bridge(device="sim", policy=pixel4_policy, trace=TEST_TRACE, duration_s=10**6)
    with pytest.raises(ValueError, match="not a supernet variant"):  # phone catalog: nothing runnable here
        run_bridge(device="local", policy=pixel4_policy, trace=TEST_TRACE, duration_s=2)


def test_local_reader_excludes_own_cpu() -> None:
    reader = LocalReader()
    stop = time.monotonic() + 1.0

    def spin() -> None:
        while time.monotonic() < stop:
            pass

    thread = threading.Thread(target=spin)
    thread.start()
    thread.join()
    reading = reader.read()
    assert reader.last_own_share > 0.2  # one spinning thread of this process on a 2-core machine
    assert reading.cpu_bg_util <= max(0.0, reader.last_system_util - reader.last_own_share) + 1e-9
    assert 0.0 < reading.mem_avail_frac <= 1.0


def test_local_device_serves_real_requests(local_policy) -> None:
    from adascale_rl.scenario import get_scenario

    scenario = get_scenario("local")
    contract = DecisionContract(scenario)
    with LocalDevice(scenario, seed=1) as device:
        assert isinstance(device, Device)
        device.sample()
        first = device.serve_epoch(1.0)
        biggest = int(contract.variant_action[int(np.argmax(scenario.table.latency_ms.min(axis=1)))])
        device.apply(biggest)
        second = device.serve_epoch(1.0)
    rate = scenario.request_rate_hz
    for stats in (first, second):
        assert 0.5 * rate < stats.requests < 1.5 * rate
        assert stats.completed + stats.dropped > 0.8 * stats.requests
        assert stats.latency_p50_ms > 0 and stats.energy_j > 0
    assert not first.switched and second.switched
    assert second.accuracy <= float(scenario.table.accuracy[contract.action_to_variant(biggest)]) + 1e-9


def _check_live_frame(frame: pd.DataFrame, epochs: int) -> None:
    assert list(frame.columns) == list(CSV_COLUMNS) and len(frame) == epochs
    # loose on purpose: a busy machine delays real serving, but most requests must still be served
    assert (frame["requests"] > 0).all() and frame["completed"].sum() > 0.5 * frame["requests"].sum()
    assert (frame["latency_p95_ms"] >= frame["latency_p50_ms"]).all()
    assert frame["injected_bg_util"].map(math.isfinite).all()
    assert (frame["energy_j_modelled"] > 0).all() and (frame["decision_us"] > 0).all()
    assert frame["t_s"].diff().dropna().between(0.5, 5.0).all()  # real time: about one epoch per second


def test_short_local_closed_loop(local_policy, tmp_path) -> None:
    """~8 s real closed loop with the trace's contention injected; CSV, comparison and PNG written."""
    out = tmp_path / "local.csv"
    result = run_bridge(device="local", policy=local_policy, trace=TEST_TRACE, duration_s=8, trace_start_s=3600,
                        out=out, compare_sim=True, mem_cap_frac=0.01, seed=3)
    frame = pd.read_csv(out)
    _check_live_frame(frame, 8)
    assert result.comparison is not None and result.comparison.n_epochs >= 6
    assert math.isfinite(result.summary["sim_vs_real_p95_error_median"])
    assert result.png_path is not None and result.png_path.stat().st_size > 10_000
    assert any("energy: modelled" in note for note in result.notes)
    assert _no_children()


@pytest.mark.slow
def test_thirty_second_local_closed_loop_via_cli(local_policy, tmp_path, capsys) -> None:
    out = tmp_path / "local30.csv"
    code = main(["bridge", "run", "--device", "local", "--policy", str(local_policy), "--trace", TEST_TRACE,
                 "--duration", "30", "--trace-start", "10800", "--out", str(out), "--compare-sim",
                 "--mem-cap-frac", "0.02"])
    assert code == 0
    _check_live_frame(pd.read_csv(out), 30)
    assert "sim_vs_real_p95_error_median" in capsys.readouterr().out
    assert _no_children()
