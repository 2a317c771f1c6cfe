"""IQM with stratified-bootstrap CIs, checked against rliable 1.2.0 and on the grid's cell table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adascale_rl.experiments.aggregate import aggregate_scores, iqm, stratified_bootstrap

# 5 runs x 3 tasks and 4 runs x 2 tasks; the expected values were computed by rliable 1.2.0
# (`rly.get_interval_estimates(..., metrics.aggregate_iqm, reps=50000)`, arch 7.2, pandas 2.3, numpy 2.4)
A = np.array([[0.91, 0.55, 0.72], [0.88, 0.61, 0.70], [0.95, 0.40, 0.77], [0.80, 0.58, 0.69], [0.93, 0.66, 0.81]])
B = np.array([[0.20, 0.95], [0.35, 0.90], [0.10, 0.99], [0.50, 0.85]])
RLIABLE = {  # (point, low, high): all tasks, then each task alone
    "A": [(0.737777778, 0.707777778, 0.768888889), (0.906666667, 0.826666667, 0.943333333),
          (0.58, 0.45, 0.643333333), (0.73, 0.693333333, 0.796666667)],
    "B": [(0.65, 0.525, 0.7125), (0.275, 0.1, 0.5), (0.925, 0.85, 0.99)],
}


@pytest.mark.parametrize("name", ["A", "B"])
def test_matches_rliable(name):
    scores = {"A": A, "B": B}[name]
    intervals = [stratified_bootstrap(list(scores.T))] + [stratified_bootstrap([scores[:, j]])
                                                          for j in range(scores.shape[1])]
    for interval, expected in zip(intervals, RLIABLE[name], strict=True):
        assert (interval.point, interval.low, interval.high) == pytest.approx(expected, abs=0.01)


def test_iqm_is_the_mean_of_the_middle_half():
    assert iqm(np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 100.0])) == pytest.approx(np.mean([2, 3, 4, 5]))


def test_interval_contains_the_point_and_narrows_with_more_runs():
    rng = np.random.default_rng(3)
    few = stratified_bootstrap([rng.normal(0.8, 0.1, 3), rng.normal(0.6, 0.1, 3)], reps=4000)
    many = stratified_bootstrap([rng.normal(0.8, 0.1, 30), rng.normal(0.6, 0.1, 30)], reps=4000)
    for interval in (few, many):
        assert interval.low <= interval.point <= interval.high
    assert many.high - many.low < few.high - few.low
    single = stratified_bootstrap([np.array([0.4])], reps=100)
    assert single.point == single.low == single.high == pytest.approx(0.4)


def test_stratified_resamples_stay_within_tasks():
    # task means 0 and 1 with no spread: resampling runs within each task can never move the pooled IQM
    interval = stratified_bootstrap([np.zeros(4), np.ones(4)], reps=2000)
    assert interval.low == interval.high == interval.point == pytest.approx(0.5)


def test_aggregate_scores_per_task_and_overall_drops_nan():
    table = pd.DataFrame({
        "controller": ["ppo"] * 6 + ["greedy"] * 2,
        "seed": [0, 1, 2, 0, 1, 2, None, None],
        "scenario": ["pixel4"] * 8,
        "fold": ["a", "a", "a", "b", "b", "b", "a", "b"],
        "score": [0.9, 0.8, np.nan, 0.7, 0.6, 0.65, 0.5, 0.4],
    })
    result = aggregate_scores(table, reps=2000)
    assert list(result.columns) == ["controller", "task", "runs", "tasks", "iqm", "ci_low", "ci_high", "mean"]
    ppo = result[result["controller"] == "ppo"].set_index("task")
    assert list(ppo.index) == ["pixel4 / a", "pixel4 / b", "overall"]
    assert ppo.loc["pixel4 / a", "runs"] == 2 and ppo.loc["overall", "runs"] == 5 and ppo.loc["overall", "tasks"] == 2
    assert ppo.loc["overall", "mean"] == pytest.approx(np.mean([0.9, 0.8, 0.7, 0.6, 0.65]))
    greedy = result[result["controller"] == "greedy"].set_index("task")
    assert (greedy["ci_low"] == greedy["ci_high"]).all()  # one run per task: no run-to-run variation


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="non-empty"):
        stratified_bootstrap([np.array([])])
    with pytest.raises(ValueError, match="confidence"):
        stratified_bootstrap([np.array([1.0])], confidence=1.5)
