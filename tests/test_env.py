"""The Gymnasium environment: API compliance, determinism, invariants, and library compatibility."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import adascale_rl
from adascale_rl.envs import AdaScaleEnv
from adascale_rl.scenario import RewardWeights, get_scenario


@pytest.fixture(scope="module")
def scenario():
    return get_scenario("pixel4")


def rollout(env: AdaScaleEnv, seed: int, actions: list[int]):
    obs, _ = env.reset(seed=seed)
    trajectory = [obs]
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        trajectory.append((obs, reward, info["stats"]))
        if terminated or truncated:
            break
    return trajectory


def valid_actions(env: AdaScaleEnv, rng: np.random.Generator, n: int) -> list[int]:
    return [int(rng.choice(np.flatnonzero(env.contract.exists))) for _ in range(n)]


def test_registered_id_makes_the_env():
    env = gym.make(adascale_rl.ENV_ID, scenario="pixel4", episode_epochs=20)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert "trace" in info


def test_gymnasium_check_env(scenario):
    from gymnasium.utils.env_checker import check_env

    env = gym.make(adascale_rl.ENV_ID, scenario=scenario, episode_epochs=30)
    check_env(env.unwrapped, skip_render_check=False)


def test_sb3_check_env(scenario):
    from stable_baselines3.common.env_checker import check_env

    check_env(AdaScaleEnv(scenario, episode_epochs=30), warn=True)


def test_same_seed_same_actions_same_trajectory(scenario):
    env_a = AdaScaleEnv(scenario, episode_epochs=40, full_info=True)
    env_b = AdaScaleEnv(scenario, episode_epochs=40, full_info=True)
    actions = valid_actions(env_a, np.random.default_rng(1), 40)
    first, second = rollout(env_a, 7, actions), rollout(env_b, 7, actions)
    np.testing.assert_array_equal(first[0], second[0])
    for (obs_a, r_a, s_a), (obs_b, r_b, s_b) in zip(first[1:], second[1:], strict=True):
        np.testing.assert_array_equal(obs_a, obs_b)
        assert r_a == r_b and s_a == s_b


def test_different_seeds_differ(scenario):
    env = AdaScaleEnv(scenario, episode_epochs=40, full_info=True)
    actions = valid_actions(env, np.random.default_rng(1), 40)
    a, b = rollout(env, 1, actions), rollout(env, 2, actions)
    assert any(not np.array_equal(x[0], y[0]) for x, y in zip(a[1:], b[1:], strict=True))


def test_episode_ends_by_truncation_at_segment_length(scenario):
    env = AdaScaleEnv(scenario, episode_epochs=25)
    env.reset(seed=0)
    for step in range(25):
        _, _, terminated, truncated, _ = env.step(env.contract.fallback_action)
        assert not terminated
        assert truncated == (step == 24)


def test_eval_mode_plays_whole_test_trace(scenario):
    env = AdaScaleEnv(scenario, mode="eval")
    _, info = env.reset(seed=0)
    assert info["trace"] == "rpi4b4gb_1200mhz_pattern_12h"
    assert env._length == len(env.source.traces[0]) > 40_000


def test_invalid_action_is_rejected(scenario):
    env = AdaScaleEnv(scenario, episode_epochs=10)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="does not name a variant"):
        env.step(env.action_space.n)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rate=st.floats(0.5, 40.0), budget=st.floats(5.0, 400.0), queue_limit=st.integers(1, 30),
       reserve=st.floats(0.0, 6000.0), epoch_s=st.sampled_from([0.5, 1.0, 2.0, 5.0]),
       weights=st.tuples(*[st.floats(0.0, 5.0)] * 5), seed=st.integers(0, 2**31 - 1))
def test_property_observations_rewards_masks(scenario, rate, budget, queue_limit, reserve, epoch_s, weights, seed):
    varied = dataclasses.replace(
        scenario, request_rate_hz=rate, latency_budget_ms=budget, queue_limit=queue_limit, mem_reserve_mb=reserve,
        epoch_s=epoch_s, reward=RewardWeights(*weights, energy_ref_mj=50.0))
    env = AdaScaleEnv(varied, episode_epochs=15, full_info=True)
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(15):
        assert env.observation_space.contains(obs)
        mask = env.action_masks()
        assert mask.any()
        assert not (mask & ~env.contract.exists).any()
        action = int(rng.choice(np.flatnonzero(env.contract.exists)))
        obs, reward, _, truncated, info = env.step(action)
        assert np.isfinite(reward)
        assert np.isfinite(obs).all()
        stats = info["stats"]
        assert 0.0 <= stats.miss_frac <= 1.0 and 0.0 <= stats.accuracy <= 1.0 and stats.energy_j >= 0.0
        if truncated:
            break


def test_variant_too_big_for_memory_is_masked(scenario):
    env = AdaScaleEnv(scenario, episode_epochs=5)
    env.reset(seed=0)
    reading = env.reading()
    usable_before = reading.mem_avail_frac * scenario.profile.ram_mb
    table = scenario.table
    # Reserve memory so that only variants up to the median footprint fit.
    limit = float(np.median(table.mem_mb))
    tight = dataclasses.replace(scenario, mem_reserve_mb=usable_before - limit)
    env_tight = AdaScaleEnv(tight, episode_epochs=5)
    env_tight.reset(seed=0)
    mask = env_tight.action_masks()
    for action in np.flatnonzero(env_tight.contract.exists):
        variant = env_tight.contract.action_to_variant(action)
        assert mask[action] == (table.mem_mb[variant] <= limit + 1e-6)
    assert mask.any() and not mask[env_tight.contract.exists].all()


def test_mask_never_empty_even_when_nothing_fits(scenario):
    env = AdaScaleEnv(dataclasses.replace(scenario, mem_reserve_mb=1e9), episode_epochs=5, full_info=True)
    env.reset(seed=0)
    mask = env.action_masks()
    assert mask.sum() == 1 and mask[env.contract.fallback_action]
    _, reward, _, _, info = env.step(int(np.flatnonzero(mask)[0]))
    assert info["stats"].out_of_memory and np.isfinite(reward)


def test_render_modes(scenario):
    env = AdaScaleEnv(scenario, episode_epochs=5, render_mode="ansi")
    env.reset(seed=0)
    env.step(env.contract.fallback_action)
    assert "p95" in env.render()
    env = AdaScaleEnv(scenario, episode_epochs=5, render_mode="rgb_array")
    env.reset(seed=0)
    env.step(env.contract.fallback_action)
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8 and frame.std() > 0


def test_gymnasium_vector_env():
    envs = gym.make_vec(adascale_rl.ENV_ID, num_envs=2, vectorization_mode="sync", scenario="pixel4",
                        episode_epochs=10)
    obs, _ = envs.reset(seed=3)
    assert obs.shape == (2, envs.single_observation_space.shape[0])
    obs, rewards, *_ = envs.step(np.zeros(2, dtype=np.int64))
    assert np.isfinite(rewards).all()
    envs.close()


def test_sb3_vec_envs_and_maskable_ppo():
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import SubprocVecEnv

    kwargs = {"scenario": "pixel4", "episode_epochs": 32}
    vec = make_vec_env(AdaScaleEnv, n_envs=2, seed=0, env_kwargs=kwargs)
    model = MaskablePPO("MlpPolicy", vec, n_steps=32, batch_size=32, n_epochs=1, seed=0, verbose=0)
    model.learn(64)
    vec.close()
    subproc = make_vec_env(AdaScaleEnv, n_envs=2, seed=0, env_kwargs=kwargs, vec_env_cls=SubprocVecEnv)
    obs = subproc.reset()
    masks = np.stack(subproc.env_method("action_masks"))
    actions, _ = model.predict(obs, action_masks=masks, deterministic=True)
    assert masks[np.arange(2), actions].all()
    subproc.step(actions)
    subproc.close()


def test_train_infos_are_light_and_full_info_gives_stats(scenario):
    light = AdaScaleEnv(scenario, episode_epochs=5)
    _, info = light.reset(seed=0)
    assert set(info) == {"trace", "start_epoch", "action_mask"}
    _, _, _, _, info = light.step(light.contract.fallback_action)
    assert set(info) == {"action_mask"}
    full = AdaScaleEnv(scenario, episode_epochs=5, full_info=True)
    full.reset(seed=0)
    _, _, _, _, info = full.step(full.contract.fallback_action)
    assert {"stats", "epoch", "state", "variant_id", "branch", "compression", "action_mask"} == set(info)
    assert AdaScaleEnv(scenario, mode="eval").full_info
    assert not AdaScaleEnv(scenario, mode="eval", full_info=False).full_info


def test_info_mask_is_the_mask_of_the_returned_observation(scenario):
    # the test trace has 4,651-4,657 MB available over epochs 3000-3030: 6-12 MB usable, part of the catalog
    env = AdaScaleEnv(dataclasses.replace(scenario, mem_reserve_mb=4_645.0), mode="eval")
    _, info = env.reset(seed=5, options={"start": 3000, "length": 30})
    rng = np.random.default_rng(5)
    seen_masked = False
    for _ in range(30):
        expected = env.contract.action_mask(env.reading())
        np.testing.assert_array_equal(info["action_mask"], expected)
        np.testing.assert_array_equal(env.action_masks(), expected)
        assert not info["action_mask"].flags.writeable  # shared with the env: read-only
        seen_masked |= not expected[env.contract.exists].all()
        _, _, _, truncated, info = env.step(int(rng.choice(np.flatnonzero(info["action_mask"]))))
        if truncated:
            break
    assert seen_masked


def test_gym_make_exposes_masks_in_infos():
    env = gym.make(adascale_rl.ENV_ID, scenario="pixel4", episode_epochs=5)
    _, info = env.reset(seed=2)
    _, _, _, _, info = env.step(int(np.flatnonzero(info["action_mask"])[0]))
    assert info["action_mask"].dtype == bool and info["action_mask"].any()
