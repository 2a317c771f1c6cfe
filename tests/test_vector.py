"""The batched vector env and the SB3 vectorised envs: they reproduce single envs / SB3's own
``make_vec_env`` exactly, share what they should, and train the same policy for the same seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

import adascale_rl
from adascale_rl.agents.ppo import load_hyperparams, train
from adascale_rl.agents.vec_env import SB3VecEnv, make_training_vec_env
from adascale_rl.envs import AdaScaleEnv, AdaScaleVectorEnv
from adascale_rl.scenario import get_scenario

SCENARIO = get_scenario("pixel4")
EPOCHS = 12


def random_allowed(masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.array([rng.choice(np.flatnonzero(row)) for row in masks])


def test_vector_env_steps_each_simulator_like_a_lone_env():
    """Sub-env i seeded s + i plays what a lone env seeded s + i plays, across autoresets."""
    vector = AdaScaleVectorEnv(3, SCENARIO, episode_epochs=EPOCHS)
    singles = [AdaScaleEnv(SCENARIO, episode_epochs=EPOCHS) for _ in range(3)]
    observations, infos = vector.reset(seed=40)
    for i, env in enumerate(singles):
        obs, info = env.reset(seed=40 + i)
        np.testing.assert_array_equal(observations[i], obs)
        np.testing.assert_array_equal(infos["action_mask"][i], info["action_mask"])
    rng = np.random.default_rng(0)
    for step in range(2 * EPOCHS + 3):
        actions = random_allowed(infos["action_mask"], rng)
        observations, rewards, terminations, truncations, infos = vector.step(actions)
        for i, env in enumerate(singles):
            obs, reward, terminated, truncated, info = env.step(actions[i])
            assert (rewards[i], terminations[i], truncations[i]) == (reward, terminated, truncated)
            if truncated:
                np.testing.assert_array_equal(infos["final_obs"][i], obs)
                obs, info = env.reset()
            np.testing.assert_array_equal(observations[i], obs)
            np.testing.assert_array_equal(infos["action_mask"][i], info["action_mask"])
        assert truncations.all() == ((step + 1) % EPOCHS == 0)


def test_vector_env_shares_traces_and_simulator_lookups():
    vector = AdaScaleVectorEnv(4, SCENARIO, episode_epochs=EPOCHS)
    assert len({id(env.source) for env in vector.envs}) == 1
    assert len({id(env.sim.situations) for env in vector.envs}) == 1
    assert len({id(env.sim) for env in vector.envs}) == 4


def test_make_vec_gives_the_batched_env_and_full_info_on_request():
    import gymnasium as gym

    envs = gym.make_vec(adascale_rl.ENV_ID, num_envs=2, scenario="pixel4", episode_epochs=5, full_info=True)
    assert isinstance(envs, AdaScaleVectorEnv)
    _, infos = envs.reset(seed=1)
    _, _, _, _, infos = envs.step(random_allowed(infos["action_mask"], np.random.default_rng(1)))
    assert infos["_stats"].all() and infos["stats"][0].requests >= 0
    with pytest.raises(ValueError, match="expected 2 actions"):
        envs.step(np.zeros(3, dtype=np.int64))


def rollout(vec, steps: int) -> list:
    """Everything PPO reads from a vectorised env: obs, rewards, dones, masks and the SB3 info keys."""
    records = [vec.reset()]
    rng = np.random.default_rng(3)
    for _ in range(steps):
        masks = np.stack(vec.env_method("action_masks"))
        obs, rewards, dones, infos = vec.step(random_allowed(masks, rng))
        keys = [(info["TimeLimit.truncated"], info.get("episode", {}).get("r"), info.get("episode", {}).get("l"),
                 None if "terminal_observation" not in info else info["terminal_observation"].tolist())
                for info in infos]
        records.append((obs, rewards, rewards.dtype, dones, masks, keys))
    vec.close()
    return records


def assert_same_rollouts(first: list, second: list) -> None:
    np.testing.assert_array_equal(first[0], second[0])
    for a, b in zip(first[1:], second[1:], strict=True):
        for x, y in zip(a, b, strict=True):
            if isinstance(x, np.ndarray):
                np.testing.assert_array_equal(x, y)
            else:
                assert x == y


def test_sb3_batched_env_reproduces_make_vec_env():
    kwargs = {"scenario": SCENARIO, "episode_epochs": EPOCHS}
    reference = rollout(make_training_vec_env("dummy", 3, 5, **kwargs), 2 * EPOCHS + 5)
    batched = make_training_vec_env("batched", 3, 5, **kwargs)
    assert isinstance(batched, SB3VecEnv) and batched.env_is_wrapped(type(None)) == [False] * 3
    assert_same_rollouts(reference, rollout(batched, 2 * EPOCHS + 5))


@pytest.mark.slow
def test_sb3_subproc_env_reproduces_make_vec_env():
    kwargs = {"scenario": SCENARIO, "episode_epochs": EPOCHS}
    reference = rollout(make_training_vec_env("dummy", 2, 5, **kwargs), EPOCHS + 5)
    assert_same_rollouts(reference, rollout(make_training_vec_env("subproc", 2, 5, **kwargs), EPOCHS + 5))


def test_unknown_vec_env_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="vec_env must be one of batched, subproc, dummy"):
        make_training_vec_env("ray", 1, 0, scenario=SCENARIO)


@pytest.fixture(scope="module")
def small_hyperparams(tmp_path_factory):
    params = load_hyperparams("pixel4")
    params.update(n_envs=2, n_steps=64, batch_size=64, n_epochs=2)
    path = tmp_path_factory.mktemp("hp") / "hp.yml"
    path.write_text(yaml.safe_dump({"pixel4": params}), encoding="utf-8")
    return path


def trained_parameters(out, hyperparams, vec_env: str, seed: int = 0) -> tuple[list[torch.Tensor], np.ndarray]:
    from adascale_rl.agents.ppo import load_policy
    from adascale_rl.envs.contract import DecisionContract

    train(SCENARIO, out, timesteps=384, seed=seed, hyperparams=hyperparams, eval_freq=128, eval_episodes=1,
          progress_bar=False, vec_env=vec_env)
    model = load_policy(out / "model.zip", DecisionContract(SCENARIO))
    evaluations = np.load(out / "eval" / "evaluations.npz")["results"]
    return [p.detach().clone() for p in model.policy.parameters()], evaluations


def test_training_is_the_same_run_with_the_batched_env(tmp_path, small_hyperparams):
    """Same seed: SB3's make_vec_env and the batched env train the same policy and validate it alike;
    another seed trains another policy."""
    reference, reference_eval = trained_parameters(tmp_path / "dummy", small_hyperparams, "dummy")
    batched, batched_eval = trained_parameters(tmp_path / "batched", small_hyperparams, "batched")
    again, _ = trained_parameters(tmp_path / "again", small_hyperparams, "batched")
    other, _ = trained_parameters(tmp_path / "other", small_hyperparams, "batched", seed=1)
    for a, b, c in zip(reference, batched, again, strict=True):
        assert torch.equal(a, b) and torch.equal(b, c)
    np.testing.assert_array_equal(reference_eval, batched_eval)
    assert not all(torch.equal(a, b) for a, b in zip(batched, other, strict=True))
