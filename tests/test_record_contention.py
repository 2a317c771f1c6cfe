"""Recording this machine while the contention injector replays a bundled board (``traces record --inject``):
real worker processes, the real local sampler, the replayed trace's state labels on every sample."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import psutil

from adascale_rl.hardware_bridge.record_contention import record_under_contention, states_at
from adascale_rl.traces import find_entry, load_trace

TEST_BOARD = "rpi4b4gb_1200mhz_pattern_12h"  # 'stream' until 3603.8 s, then 'augmented_reality'


def test_states_at_follows_the_step_function() -> None:
    trace = find_entry(TEST_BOARD).load()
    t0 = trace.t_s[0]
    change = float(trace.t_s[np.flatnonzero(trace.state == "augmented_reality")[0]] - t0)
    labels = states_at(trace, np.array([0.0, change - 0.01, change, change + 1.0, 1e9]))
    assert list(labels[:2]) == [trace.state[0], "stream"]
    assert list(labels[2:4]) == ["augmented_reality", "augmented_reality"]
    assert labels[4] == trace.state[-1]  # past the end: the last sample holds


def test_recording_under_replayed_contention_is_labelled_and_cleaned_up(tmp_path: Path) -> None:
    replayed = find_entry(TEST_BOARD).load()
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    trace = record_under_contention(replayed, 3.0, 1.0, start_s=3602.0, name="host-under-load")
    assert len(trace) == 3 and trace.meta.name == "host-under-load"
    assert list(trace.state) == ["stream", "stream", "augmented_reality"]
    assert np.all((trace.cpu_bg_util >= 0) & (trace.cpu_bg_util <= 1))
    assert any(f"replaying trace '{TEST_BOARD}'" in note and "from 3602 s for 3 s" in note for note in trace.meta.notes)
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= before  # every worker is gone


def test_cli_records_with_inject_and_refuses_state(tmp_path: Path) -> None:
    out = tmp_path / "host.csv"
    cli = [sys.executable, "-m", "adascale_rl", "traces", "record", "--duration", "2", "--interval", "1",
           "--out", str(out), "--inject", TEST_BOARD, "--inject-start", "100"]
    done = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    trace = load_trace(out)
    assert len(trace) == 2 and set(trace.state) == {replayed_state(100.0)}
    refused = subprocess.run([*cli, "--state", "idle"], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "cannot be combined with --adb or --state" in refused.stderr
    past_end = subprocess.run([*cli[:-1], "1e7"], capture_output=True, text=True, timeout=120)
    assert past_end.returncode == 2 and "error: --inject" in past_end.stderr and "outside" in past_end.stderr


def replayed_state(t_s: float) -> str:
    return str(states_at(find_entry(TEST_BOARD).load(), np.array([t_s]))[0])
