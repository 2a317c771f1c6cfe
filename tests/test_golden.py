"""Results for a fixed seed are bit-identical to the golden episodes recorded from main's code before the
speed work (``tests/golden_episodes.py`` documents the cases and how the JSON was generated)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from golden_episodes import GOLDEN_PATH, dense_obs, record_all


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(GOLDEN_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def replayed() -> dict:
    return record_all()


def first_difference(expected: list, actual: list) -> str:
    """Where two recorded columns first differ (for a readable failure)."""
    if len(expected) != len(actual):
        return f"{len(expected)} values recorded, {len(actual)} replayed"
    for step, (want, got) in enumerate(zip(expected, actual, strict=True)):
        if want != got:
            return f"step {step}: golden {want!r}, replayed {got!r}"
    return ""


def test_golden_file_covers_every_path(golden):
    """The recorded episodes exercise switches, queueing, misses, drops and memory failures."""
    steps = [case["steps"] for case in golden.values() if "steps" in case]
    assert sum(sum(s["switched"]) for s in steps) > 100
    assert sum(sum(s["dropped"]) for s in steps) > 0
    assert sum(sum(s["failed"]) for s in steps) > 0 and sum(sum(s["out_of_memory"]) for s in steps) > 0
    assert max(max(s["queue_len"]) for s in steps) >= 2
    assert all(len(case["steps"]["action"]) == 40 for case in golden.values() if "steps" in case)


@pytest.mark.parametrize("case", ["pixel4/train/fixed", "pixel4/train/random", "pixel4/eval/fixed",
                                  "pixel4/eval/random", "local/train/fixed", "local/train/random",
                                  "local/eval/fixed", "local/eval/random", "stress/eval/unmasked"])
def test_episode_is_bit_identical(golden, replayed, case):
    want, got = golden[case], replayed[case]
    assert got["resets"] == want["resets"]
    n_obs = want["n_obs"]
    for key, column in want["steps"].items():
        if key == "obs":
            for step, (a, b) in enumerate(zip(column, got["steps"]["obs"], strict=True)):
                np.testing.assert_array_equal(dense_obs(a, n_obs), dense_obs(b, n_obs), err_msg=f"{case} step {step}")
        else:
            assert column == got["steps"][key], f"{case} {key}: {first_difference(column, got['steps'][key])}"


def test_oracle_plan_and_rewards_are_bit_identical(golden, replayed):
    assert replayed["oracle"] == golden["oracle"]


def test_sim_device_is_bit_identical(golden, replayed):
    for key, column in golden["sim_device"].items():
        assert replayed["sim_device"][key] == column, f"{key}: {first_difference(column, replayed['sim_device'][key])}"
