"""The closed loop: simulated device through the CLI, and real closed loops on this machine (real readings,
real supernet inference, real latency, real contention processes)."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from adascale_rl.agents.bundled import bundled_policy
from adascale_rl.catalog import VariantTable
from adascale_rl.catalog.calibrate import LiveProfile
from adascale_rl.cli import main
from adascale_rl.envs.contract import DecisionContract
from adascale_rl.hardware_bridge.devices.base import Device
from adascale_rl.hardware_bridge.devices.local import LocalDevice, LocalReader
from adascale_rl.hardware_bridge.loop import CSV_COLUMNS
from adascale_rl.hardware_bridge.session import run_bridge
from adascale_rl.hardware_bridge.sim_vs_real import RunInfo, sidecar
from adascale_rl.hardware_bridge.testing import exported_tiny_policy
from adascale_rl.scenario import get_scenario

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


def test_cli_run_on_sim_writes_csv_record_and_progress(pixel4_policy, tmp_path, capsys) -> None:
    out = tmp_path / "epochs.csv"
    code = main(["bridge", "run", "--device", "sim", "--policy", str(pixel4_policy), "--trace", TEST_TRACE,
                 "--duration", "120", "--warmup-s", "10", "--trace-start", "7200", "--out", str(out)])
    assert code == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == list(CSV_COLUMNS) and len(frame) == 130
    assert frame["warmup"].tolist() == [True] * 10 + [False] * 120
    assert frame["requests"].sum() > 0 and not frame["fallback"].any()
    assert (frame["served_action"] == frame["action"]).all() and (frame["build_ms"] == 0).all()
    assert (frame["injected_bg_util"] == frame["cpu_bg_util"]).all()  # the sim reads the trace itself
    info = RunInfo.load(sidecar(out, ".run.json"))
    assert (info.device, info.reading_is, info.warmup_epochs, info.trace_start_s) == ("sim", "coming", 10, 7200.0)
    assert info.scenario_digest == get_scenario("pixel4").digest()
    assert not sidecar(out, ".live_profile.csv").exists()  # nothing real was measured
    captured = capsys.readouterr()
    assert "130/130" in captured.err  # one progress-bar step per epoch
    assert "| epochs" in captured.out or "epochs" in captured.out


def test_compare_sim_on_the_simulator_is_refused(pixel4_policy, tmp_path, capsys) -> None:
    """Issue 14 item 6: the simulator against itself is 0 % by construction and must not be labelled real."""
    code = main(["bridge", "run", "--device", "sim", "--policy", str(pixel4_policy), "--trace", TEST_TRACE,
                 "--duration", "20", "--out", str(tmp_path / "e.csv"), "--compare-sim"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --compare-sim") and "simulator with itself" in err and "--device local" in err
    assert not (tmp_path / "e.csv").exists()
    with pytest.raises(ValueError, match="simulator with itself"):
        run_bridge(device="sim", policy=pixel4_policy, trace=TEST_TRACE, duration_s=20, compare_sim=True)


def test_report_refuses_a_simulated_run(pixel4_policy, tmp_path, capsys) -> None:
    out = tmp_path / "sim.csv"
    run_bridge(device="sim", policy=pixel4_policy, trace=TEST_TRACE, duration_s=10, out=out)
    assert main(["bridge", "report", str(out), "--out", str(tmp_path / "rep")]) == 2
    assert "simulator with itself" in capsys.readouterr().err


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
    wall0, cpu0 = time.monotonic(), time.process_time()
    stop = wall0 + 1.0

    def spin() -> None:
        while time.monotonic() < stop:
            pass

    thread = threading.Thread(target=spin)
    thread.start()
    thread.join()
    reading = reader.read()
    # this process's own share is what it really used (however much CPU a busy machine let it have)
    expected = (time.process_time() - cpu0) / ((time.monotonic() - wall0) * psutil.cpu_count())
    assert expected > 0.02 and reader.last_own_share == pytest.approx(expected, rel=0.25, abs=0.02)
    assert reading.cpu_bg_util <= max(0.0, reader.last_system_util - reader.last_own_share) + 1e-9
    assert 0.0 < reading.mem_avail_frac <= 1.0


def test_local_device_serves_real_requests_and_builds_lazily(local_policy) -> None:
    scenario = get_scenario("local")
    contract = DecisionContract(scenario)
    table = scenario.table
    with LocalDevice(scenario, seed=1) as device:
        assert isinstance(device, Device)
        assert device.n_built == 1  # only the safe variant before anything is chosen
        device.sample()
        first = device.serve_epoch(1.0)
        # an int8 variant: building it runs post-training calibration, far longer than serving a request
        int8 = [v for v in range(len(table)) if table.compression[v].endswith("int8") and v != device.safe_variant]
        slowest = max(int8, key=lambda v: float(table.latency_ms[v].min()))
        device.apply(int(contract.variant_action[slowest]))
        assert device.n_built == 2
        second = device.serve_epoch(1.0)
        report = device.epoch_report()
        profile = device.profiler.live_profile().frame
    rate = scenario.request_rate_hz
    for stats in (first, second):
        assert 0.5 * rate < stats.requests < 1.5 * rate
        assert stats.completed + stats.dropped > 0.8 * stats.requests
        assert stats.latency_p50_ms > 0 and stats.energy_j > 0
    assert not first.switched and second.switched
    assert report.served_action == int(contract.variant_action[slowest]) and not report.faults
    # the build was excluded from serving: no request waited for it
    assert report.build_ms > 0 and second.latency_max_ms < report.build_ms
    assert second.accuracy <= float(table.accuracy[slowest]) + 1e-9
    # every served request entered the online profiler, per variant and configuration
    assert profile["count"].sum() == first.completed + second.completed
    assert set(profile["variant_id"]) <= {str(table.variant_id[device.safe_variant]), str(table.variant_id[slowest])}


def _check_live_frame(frame: pd.DataFrame, epochs: int) -> None:
    assert list(frame.columns) == list(CSV_COLUMNS) and len(frame) == epochs
    # loose on purpose: a busy machine delays real serving, but most requests must still be served
    assert (frame["requests"] > 0).all() and frame["completed"].sum() > 0.5 * frame["requests"].sum()
    assert (frame["latency_p95_ms"] >= frame["latency_p50_ms"]).all()
    assert frame["injected_bg_util"].map(math.isfinite).all()
    assert (frame["energy_j_modelled"] > 0).all() and (frame["decision_us"] > 0).all()
    assert frame["t_s"].diff().dropna().between(0.5, 5.0).all()  # real time: about one epoch per second


def test_short_local_closed_loop_then_report_and_calibrate(local_policy, tmp_path, capsys) -> None:
    """~10 s real closed loop with the trace's contention injected; then the report and calibration verbs
    on what it wrote."""
    out = tmp_path / "local.csv"
    result = run_bridge(device="local", policy=local_policy, trace=TEST_TRACE, duration_s=8, warmup_s=2,
                        trace_start_s=3600, out=out, compare_sim=True, mem_cap_frac=0.01, seed=3, min_count=20)
    frame = pd.read_csv(out)
    _check_live_frame(frame, 10)
    assert frame["warmup"].sum() == 2 and result.summary["epochs"] == 8 and result.summary["warmup_epochs"] == 2
    assert result.comparison is not None and 6 <= result.comparison.n_epochs <= 8
    assert math.isfinite(result.summary["sim_vs_real_p95_error_median"])
    for key in ("sim_p50_ms", "sim_p95_ms", "sim_budget_miss_pct", "sim_energy_mj_modelled"):
        assert math.isfinite(result.summary[key])
    assert result.png_path is not None and result.png_path.stat().st_size > 10_000
    assert any("energy: modelled" in note for note in result.notes)
    assert any("on first use" in note for note in result.notes)
    assert _no_children()
    live, corrected = sidecar(out, ".live_profile.csv"), sidecar(out, ".catalog.csv")
    assert live.is_file() and corrected.is_file()
    served = set(frame["served_variant_id"])
    profile = LiveProfile.load(live)
    assert set(profile.frame["variant_id"]) == served
    # every request completed in an epoch entered the profiler, plus at most those still in flight at the end
    extra = profile.frame["count"].sum() - frame["completed"].sum()
    assert 0 <= extra <= 1 + frame["queue_len"].iloc[-1]
    calibrated = VariantTable.load(corrected)
    assert calibrated.has_overhead and len(calibrated) == len(get_scenario("local").table)

    report_dir = tmp_path / "report"
    assert main(["bridge", "report", str(out), "--out", str(report_dir)]) == 0
    table = pd.read_csv(report_dir / "summary.csv")
    assert len(table) == 1 and table["real_p95_ms"].iloc[0] == pytest.approx(result.summary["p95_ms"])
    assert table["p95_error_median"].iloc[0] == pytest.approx(result.comparison.median_error)
    assert (report_dir / f"{result.controller.replace(':', '_')}.sim_vs_real.png").stat().st_size > 10_000
    assert "p95_error_median" in capsys.readouterr().out
    # the same run replayed on the catalog corrected from it
    assert main(["bridge", "report", str(out), "--out", str(tmp_path / "rep2"), "--catalog", str(corrected)]) == 0
    again = pd.read_csv(tmp_path / "rep2" / "summary.csv")
    assert again["real_p95_ms"].iloc[0] == table["real_p95_ms"].iloc[0]


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
