"""The simulator's prediction in a sim-vs-real comparison: median over replays, its band and coverage.

The frames come from runs on the simulated device (the loop's real code path, fast), where the truth is
known: a run replayed with its own seed must come back exactly, and one more seeded draw of the same
epochs is what a real run is to the simulator when the simulator is right."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adascale_rl.hardware_bridge.session import run_bridge
from adascale_rl.hardware_bridge.sim_vs_real import compare_with_sim, run_to_run_error, served_cells
from adascale_rl.hardware_bridge.testing import exported_tiny_policy

TEST_TRACE = "rpi4b4gb_1200mhz_pattern_12h"


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    return exported_tiny_policy(tmp_path_factory.getbasetemp() / "svr_policy")


def _sim_frame(policy, seed: int):
    """A 200-epoch run on the simulated pixel4 device from the trace's start (epoch numbering as in a replay)."""
    run = run_bridge(device="sim", policy=policy, trace=TEST_TRACE, duration_s=200, trace_start_s=0, seed=seed)
    return run.frame, run.scenario


@pytest.fixture(scope="module")
def sim_run(policy):
    return _sim_frame(policy, seed=5)


def _compare(frame: pd.DataFrame, scenario, seed: int, replications: int):
    return compare_with_sim(frame, scenario, epoch_s=scenario.epoch_s, reading_is="coming", seed=seed,
                            replications=replications)


def test_one_replay_with_the_run_seed_reproduces_the_run(sim_run) -> None:
    frame, scenario = sim_run
    comparison = _compare(frame, scenario, seed=5, replications=1)
    assert comparison.n_epochs > 150 and comparison.replications == 1
    assert comparison.median_error == 0.0 and comparison.p90_error == 0.0 and comparison.coverage == 1.0
    assert comparison.p50_median_error == 0.0 and 0.0 < comparison.noise_floor < 1.0
    c = comparison.frame
    assert np.array_equal(c["sim_completed"], c["real_completed"])
    assert np.allclose(c["sim_energy_j"], c["real_energy_j"])


def test_replays_give_a_band_around_a_median_prediction(sim_run) -> None:
    frame, scenario = sim_run
    comparison = _compare(frame, scenario, seed=100, replications=16)
    c = comparison.frame.dropna(subset=["sim_p95_ms"])
    assert (c["sim_p95_lo_ms"] <= c["sim_p95_ms"]).all() and (c["sim_p95_ms"] <= c["sim_p95_hi_ms"]).all()
    assert (c["sim_p95_hi_ms"] > c["sim_p95_lo_ms"]).mean() > 0.9  # replays differ: a real band
    # the run is one more draw of what the replays simulate: its p95 falls in their p10-p90 band about
    # 80 % of the time (deterministic for these seeds; bounds wide enough for 200 epochs of sampling)
    assert 0.65 <= comparison.coverage <= 0.95
    again = _compare(frame, scenario, seed=100, replications=16)
    pd.testing.assert_frame_equal(comparison.frame, again.frame)  # same seeds, same numbers


def test_median_of_replays_predicts_an_unseen_draw_better_than_one_replay(sim_run) -> None:
    """Why the comparison replays: scoring one simulated draw against one real draw counts the per-epoch
    sampling noise twice; the median of replays removes the simulator's share of it."""
    frame, scenario = sim_run
    single = _compare(frame, scenario, seed=100, replications=1).median_error
    median = _compare(frame, scenario, seed=100, replications=32).median_error
    assert median < 0.85 * single


def test_replications_must_be_positive(sim_run) -> None:
    frame, scenario = sim_run
    with pytest.raises(ValueError, match="replications must be at least 1"):
        _compare(frame, scenario, seed=0, replications=0)


def test_run_to_run_error_and_served_cells(sim_run, policy) -> None:
    frame = sim_run[0]
    assert run_to_run_error(frame, frame) == 0.0
    other = _sim_frame(policy, seed=6)[0]
    floor = run_to_run_error(frame, other)
    assert 0.05 < floor < 1.0  # two draws of the same epochs differ by their sampling noise
    half = frame.assign(served_variant_id="exit1|w0.25", served_config=["1t"] * 150 + ["2t"] * 50)
    assert served_cells(half) == "exit1|w0.25@1t 75%, exit1|w0.25@2t 25%"
