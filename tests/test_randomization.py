"""Domain randomisation of training episodes: ranges read from the scenario TOML with clear errors, every
knob within its range and doing what it says, determinism per seed, eval mode untouched."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from adascale_rl.envs import AdaScaleEnv
from adascale_rl.errors import DataError
from adascale_rl.randomization import KNOBS, RANGE_KNOBS, Randomization, randomized_episode
from adascale_rl.scenario import get_scenario, load_scenario
from adascale_rl.traces import find_entry, resample

WIDE = Randomization(freq_scale=(0.6, 1.0), freq_floor=(0.1, 0.5), bg_gain=(0.7, 1.5), bg_offset=(-0.05, 0.15),
                     mem_shift=(-0.2, 0.05), temp_offset_c=(-10.0, 25.0), rate_scale=(0.8, 1.25),
                     time_warp=(0.5, 2.0), splice_prob=0.5, splice_max_pieces=3, sensor_dropout=0.3)


@pytest.fixture(scope="module")
def epoch_traces():
    return [resample(find_entry(name).load(), 1.0)
            for name in ("rpi4b8gb_1800mhz_pattern_6h", "rpi4b2gb_800mhz_pattern_12h")]


def _episode(traces, seed: int, randomization: Randomization = WIDE, n: int = 256):
    weights = np.array([len(t) for t in traces], dtype=float)
    return randomized_episode(traces, weights / weights.sum(), np.random.default_rng(seed), n, 1.0, randomization)


def test_default_is_the_identity_and_disabled() -> None:
    assert not Randomization().enabled and WIDE.enabled
    assert not WIDE.without("splice").splice_prob and WIDE.without("time_warp").time_warp == (1.0, 1.0)
    with pytest.raises(KeyError, match="unknown knob"):
        WIDE.without("gravity")
    assert not WIDE.without("sensor_dropout").sensor_dropout
    assert set(KNOBS) == {*RANGE_KNOBS, "splice", "sensor_dropout"}


def test_identity_draw_replays_the_trace_unchanged(epoch_traces) -> None:
    trace, draw = _episode(epoch_traces, 3, Randomization())
    assert draw.pieces == 1 and draw.rate_scale == 1.0
    source = next(t for t in epoch_traces if t.meta.name == trace.meta.name)
    windows = np.lib.stride_tricks.sliding_window_view(source.cpu_bg_util, 256)  # find the segment by content
    matches = np.flatnonzero((windows == trace.cpu_bg_util).all(axis=1))
    assert matches.size
    k = int(matches[0])
    for column in ("cpu_freq_frac", "mem_avail_frac", "temp_c", "state"):
        np.testing.assert_array_equal(getattr(trace, column), getattr(source, column)[k:k + 256])


def test_every_knob_stays_in_its_range_and_does_what_it_says(epoch_traces) -> None:
    for seed in range(40):
        trace, draw = _episode(epoch_traces, seed)
        for knob in RANGE_KNOBS:
            low, high = getattr(WIDE, knob)
            assert low <= getattr(draw, knob) <= high, knob
        assert 1 <= draw.pieces <= WIDE.splice_max_pieces and len(trace) == 256
        assert np.all(np.diff(trace.t_s) == 1.0)
        freq = trace.cpu_freq_frac
        assert np.isnan(freq).all() if draw.freq_unknown else np.isfinite(freq).all()
        assert np.isnan(trace.temp_c).all() if draw.temp_unknown else np.isfinite(trace.temp_c).all()
        if not draw.freq_unknown:
            assert np.all((freq >= max(draw.freq_floor, 0.05)) & (freq <= max(draw.freq_scale, draw.freq_floor)))
        assert np.all((trace.cpu_bg_util >= 0) & (trace.cpu_bg_util <= 1))
        assert np.all((trace.mem_avail_frac >= 0) & (trace.mem_avail_frac <= 1))
    # pieces > 1 happen about half of the time, and a spliced episode names its traces
    draws = [_episode(epoch_traces, seed)[1] for seed in range(200)]
    assert 0.35 < np.mean([d.pieces > 1 for d in draws]) < 0.65
    assert 0.2 < np.mean([d.freq_unknown for d in draws]) < 0.4 and 0.2 < np.mean([d.temp_unknown for d in draws]) < 0.4


def test_share_leaves_the_other_episodes_as_recorded(epoch_traces) -> None:
    half = replace(WIDE, share=0.5)
    draws = [_episode(epoch_traces, seed, half)[1] for seed in range(200)]
    identity = [d.freq_scale == 1.0 and d.bg_gain == 1.0 and d.pieces == 1 and not d.temp_unknown for d in draws]
    assert 0.35 < np.mean(identity) < 0.65
    assert not replace(WIDE, share=0.0).enabled and replace(Randomization(), share=0.5) == Randomization(share=0.5)
    assert not Randomization(share=0.5).enabled  # nothing to randomise


def test_single_knobs_transform_as_documented(epoch_traces) -> None:
    base, _ = _episode(epoch_traces, 11, Randomization())
    gain, draw = _episode(epoch_traces, 11, Randomization(bg_gain=(2.0, 2.0), bg_offset=(0.1, 0.1)))
    np.testing.assert_allclose(gain.cpu_bg_util, np.clip(base.cpu_bg_util * 2.0 + 0.1, 0, 1))
    hot, _ = _episode(epoch_traces, 11, Randomization(temp_offset_c=(20.0, 20.0)))
    np.testing.assert_allclose(hot.temp_c, base.temp_c + 20.0)
    floor, _ = _episode(epoch_traces, 11, Randomization(freq_scale=(0.5, 0.5), freq_floor=(0.4, 0.4)))
    np.testing.assert_allclose(floor.cpu_freq_frac, np.maximum(base.cpu_freq_frac * 0.5, 0.4))
    fuller, _ = _episode(epoch_traces, 11, Randomization(mem_shift=(-0.3, -0.3)))
    np.testing.assert_allclose(fuller.mem_avail_frac, np.clip(base.mem_avail_frac - 0.3, 0, 1))
    fast, draw = _episode(epoch_traces, 11, Randomization(time_warp=(2.0, 2.0)))
    assert draw.time_warp == pytest.approx(2.0)
    # twice as fast: each recorded 5 s sample now holds for 2-3 epochs instead of 5
    runs = np.diff(np.flatnonzero(np.diff(fast.cpu_bg_util) != 0))
    assert np.median(runs) <= 3


def test_same_seed_same_episodes_in_the_env() -> None:
    scenario = replace(get_scenario("pixel4"), randomize=WIDE)

    def rollout(seed: int) -> tuple[list, list]:
        env = AdaScaleEnv(scenario, mode="train", episode_epochs=30)
        env.reset(seed=seed)
        draws, rewards = [], []
        for _ in range(3):
            draws.append(env.draw)
            rng = np.random.default_rng(seed)
            for _ in range(30):
                _, reward, _, _, _ = env.step(int(rng.choice(np.flatnonzero(env.action_masks()))))
                rewards.append(reward)
            env.reset()
        return draws, rewards

    first, again, other = rollout(5), rollout(5), rollout(6)
    assert first == again and first[0] != other[0]
    assert all(np.isfinite(first[1]))


def test_randomised_rate_reaches_the_simulator() -> None:
    plain = replace(get_scenario("pixel4"), randomize=Randomization())
    tripled = replace(plain, randomize=Randomization(rate_scale=(3.0, 3.0)))
    totals = []
    for scenario in (plain, tripled):
        env = AdaScaleEnv(scenario, mode="train", episode_epochs=200, full_info=True)
        env.reset(seed=0)
        totals.append(sum(env.step(env.contract.fallback_action)[4]["stats"].requests for _ in range(200)))
    assert totals[1] / totals[0] == pytest.approx(3.0, rel=0.1)


def test_eval_mode_and_randomize_false_are_untouched() -> None:
    scenario = replace(get_scenario("pixel4"), randomize=WIDE)
    assert not AdaScaleEnv(scenario, mode="eval").randomization.enabled
    assert not AdaScaleEnv(scenario, mode="train", randomize=False).randomization.enabled
    with pytest.raises(ValueError, match="eval mode plays the recorded traces"):
        AdaScaleEnv(scenario, mode="eval", randomize=True)
    assert scenario.digest() == get_scenario("pixel4").digest()  # training-only: not in the digest


def test_randomize_table_is_read_and_checked(tmp_path: Path) -> None:
    source = Path(get_scenario("pixel4").source).read_text(encoding="utf-8").split("[randomize]")[0]
    good = tmp_path / "dr.toml"
    good.write_text(source + "\n[randomize]\nfreq_scale = [0.6, 1.0]\ntime_warp = [0.5, 2]\nsplice_prob = 0.25\n",
                    encoding="utf-8")
    scenario = load_scenario(good)
    assert scenario.randomize == Randomization(freq_scale=(0.6, 1.0), time_warp=(0.5, 2.0), splice_prob=0.25)
    assert scenario.to_dict()["randomize"]["freq_scale"] == [0.6, 1.0]
    for body, message in [("gravity = [0, 1]", "unknown \\[randomize\\] key"),
                          ("freq_scale = [1.0, 0.6]", "'freq_scale' is not a valid range"),
                          ("bg_gain = [0.5, 9]", "'bg_gain' is not a valid range"),
                          ("time_warp = 2", "'time_warp' is not a valid range"),
                          ("splice_prob = 1.5", "'splice_prob' must be a probability"),
                          ("sensor_dropout = -0.1", "'sensor_dropout' must be a probability"),
                          ("share = 2", "'share' must be a probability"),
                          ("splice_max_pieces = 1", "'splice_max_pieces' must be an integer")]:
        bad = tmp_path / "bad.toml"
        bad.write_text(source + f"\n[randomize]\n{body}\n", encoding="utf-8")
        with pytest.raises(DataError, match=message) as error:
            load_scenario(bad)
        assert "bad.toml" in str(error.value)
