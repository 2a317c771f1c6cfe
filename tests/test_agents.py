"""Controllers, the hindsight oracle, PPO training through the CLI, and evaluation output."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from adascale_rl.agents.baselines import GreedyController, RandomController, StaticController, most_accurate_action
from adascale_rl.agents.evaluate import SUMMARY_COLUMNS, EpisodeSpec, evaluate, run_episode, summarize
from adascale_rl.agents.factory import best_static_action
from adascale_rl.agents.oracle import OracleController, best_plan
from adascale_rl.cli import main
from adascale_rl.envs import AdaScaleEnv
from adascale_rl.scenario import get_scenario

SCENARIO = get_scenario("pixel4")


@pytest.fixture(scope="module")
def env():
    return AdaScaleEnv(SCENARIO, mode="eval")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    assert main(["train", "--timesteps", "1024", "--n-envs", "1", "--eval-freq", "512", "--out", str(run)]) == 0
    return run


def random_masks(contract, rng, n):
    for _ in range(n):
        mask = contract.exists & (rng.random(contract.n_actions) < 0.4)
        if not mask.any():
            mask[contract.fallback_action] = True
        yield mask


def test_baselines_return_allowed_actions(env):
    contract = env.contract
    rng = np.random.default_rng(0)
    controllers = [GreedyController(contract), RandomController(contract, 3),
                   StaticController(contract, most_accurate_action(contract), "static-full")]
    for mask in random_masks(contract, rng, 200):
        observation = contract.observation_space.sample()
        for controller in controllers:
            assert mask[controller.decide(observation, mask)]


def test_static_full_is_the_most_accurate_variant(env):
    variant = env.contract.action_to_variant(most_accurate_action(env.contract))
    assert env.contract.table.accuracy[variant] == env.contract.table.accuracy.max()


def test_greedy_meets_budget_when_calm_and_shrinks_under_load(env):
    greedy = GreedyController(env.contract)
    calm = np.zeros(env.contract.n_obs, dtype=np.float32)
    calm[[0, 2]] = 1.0
    loaded = calm.copy()
    loaded[0], loaded[1] = 0.5, 0.95
    mask = env.contract.exists.copy()
    table = env.contract.table
    pick_calm = env.contract.action_to_variant(greedy.decide(calm, mask))
    pick_loaded = env.contract.action_to_variant(greedy.decide(loaded, mask))
    latency_calm, _ = greedy.predict(calm)
    assert latency_calm[pick_calm] <= SCENARIO.latency_budget_ms
    assert table.accuracy[pick_loaded] <= table.accuracy[pick_calm]


def test_dynamic_programming_matches_brute_force():
    rng = np.random.default_rng(4)
    stay = rng.normal(size=(5, 3))
    switch = stay - rng.uniform(0.0, 0.5, size=(5, 3))
    plan, value = best_plan(stay, switch, initial_action=0)
    best = -np.inf
    for sequence in itertools.product(range(3), repeat=5):
        total, previous = 0.0, 0
        for t, action in enumerate(sequence):
            total += stay[t, action] if action == previous else switch[t, action]
            previous = action
        best = max(best, total)
    assert value == pytest.approx(best)
    replay, previous = 0.0, 0
    for t, action in enumerate(plan):
        replay += stay[t, action] if action == previous else switch[t, action]
        previous = action
    assert replay == pytest.approx(best)


def test_oracle_is_an_upper_bound_on_a_small_trace(env):
    contract = env.contract
    specs = [EpisodeSpec(0, 12_000, 40, 1), EpisodeSpec(0, 30_000, 40, 2)]
    others = [GreedyController(contract), RandomController(contract, 0)]
    others += [StaticController(contract, int(a), f"static:{a}") for a in np.flatnonzero(contract.exists)]
    records = evaluate(env, [OracleController(), *others], specs)
    totals = records.groupby("controller")["reward"].sum()
    assert (totals.drop("oracle") <= totals["oracle"] + 1e-6).all(), totals.sort_values().tail()


def test_oracle_plan_value_matches_its_evaluated_reward(env):
    oracle = OracleController()
    frame = run_episode(env, oracle, EpisodeSpec(0, 20_000, 30, 5))
    assert frame["reward"].sum() == pytest.approx(oracle.planned_reward, rel=0.02)


def test_best_static_is_chosen_on_train_traces():
    contract = AdaScaleEnv(SCENARIO).contract
    action = best_static_action(contract, n_episodes=1, episode_epochs=20)
    assert contract.exists[action]


def test_short_training_run_produces_a_loadable_policy(trained_run, env):
    from adascale_rl.agents.ppo import PPOController, load_policy

    run = json.loads((trained_run / "run.json").read_text())
    assert run["scenario"] == "pixel4" and run["scenario_digest"] == SCENARIO.digest()
    assert (trained_run / "tb").is_dir() and any((trained_run / "tb").rglob("events.out.tfevents*"))
    controller = PPOController(load_policy(trained_run, env.contract))
    for mask in random_masks(env.contract, np.random.default_rng(1), 50):
        assert mask[controller.decide(env.contract.observation_space.sample(), mask)]


def test_evaluate_cli_writes_documented_report(trained_run, tmp_path):
    out = tmp_path / "report"
    code = main(["evaluate", "--policy", str(trained_run), "--controllers", "ppo,greedy,static-full,random,oracle",
                 "--episodes", "1", "--episode-epochs", "12", "--out", str(out)])
    assert code == 0
    summary = pd.read_csv(out / "summary.csv")
    assert tuple(summary.columns) == SUMMARY_COLUMNS
    assert list(summary["controller"]) == ["ppo", "greedy", "static-full", "random", "oracle"]
    assert summary.set_index("controller").loc["oracle", "score"] == pytest.approx(1.0)
    assert summary.set_index("controller").loc["random", "score"] == pytest.approx(0.0)
    for name in ("summary.md", "epochs.csv", "timeline.png", "tradeoff.png", "meta.json"):
        assert (out / name).stat().st_size > 0


def test_summary_metrics_follow_their_definitions(env):
    records = evaluate(env, [StaticController(env.contract, 1, "s")], [EpisodeSpec(0, 100, 30, 0)])
    summary = summarize(records, SCENARIO).iloc[0]
    completed = records["completed"].sum()
    assert summary["energy_mj"] == pytest.approx(1000 * records["energy_j"].sum() / completed)
    assert summary["epochs"] == 30 and summary["switches_per_hour"] == pytest.approx(1 / (30 / 3600))
    assert np.isnan(summary["score"])


def test_scenarios_cli_lists_bundled_scenarios(capsys):
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    assert "pixel4" in out and "s10" in out and "local" in out


def test_evaluate_defaults_to_the_bundled_policy(tmp_path):
    out = tmp_path / "bundled"
    assert main(["evaluate", "--controllers", "ppo,static-full", "--episodes", "1", "--episode-epochs", "20",
                 "--out", str(out)]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["policy"].endswith("policies/pixel4")


def test_unknown_controller_is_a_clear_cli_error(capsys):
    assert main(["evaluate", "--controllers", "genius", "--episodes", "1", "--out", "/tmp/never"]) == 2
    assert "unknown controller 'genius'" in capsys.readouterr().err


@pytest.mark.slow
def test_quickstart_runs_end_to_end(tmp_path):
    assert main(["quickstart", "--timesteps", "2048", "--episodes", "1", "--out", str(tmp_path)]) == 0
    summary = pd.read_csv(tmp_path / "report" / "summary.csv")
    assert set(summary["controller"]) == {"ppo", "greedy", "best-static", "static-full", "random", "oracle"}
    assert (tmp_path / "run" / "best_model.zip").is_file()
