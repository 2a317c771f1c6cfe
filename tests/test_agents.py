"""Controllers, the hindsight oracle, PPO training through the CLI, and evaluation output."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from adascale_rl.agents.baselines import GreedyController, RandomController, StaticController, most_accurate_action
from adascale_rl.agents.evaluate import (
    SUMMARY_COLUMNS,
    EpisodeSpec,
    evaluate,
    run_episode,
    score_unavailable_reason,
    summarize,
)
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
    # 1000 steps: PPO trains whole rollouts (512 steps × 1 env), so 1024 run and the progress bar says so
    assert main(["train", "--timesteps", "1000", "--n-envs", "1", "--eval-freq", "512", "--out", str(run)]) == 0
    return run


def strict_json(path):
    """Parse as strict JSON: NaN and ±Infinity (Python's json extensions) are errors."""
    def refuse(token):
        raise ValueError(f"{path}: {token} is not JSON")
    return json.loads(path.read_text(), parse_constant=refuse)


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

    run = strict_json(trained_run / "run.json")
    assert run["scenario"] == "pixel4" and run["scenario_digest"] == SCENARIO.digest()
    assert (trained_run / "tb").is_dir() and any((trained_run / "tb").rglob("events.out.tfevents*"))
    controller = PPOController(load_policy(trained_run, env.contract))
    for mask in random_masks(env.contract, np.random.default_rng(1), 50):
        assert mask[controller.decide(env.contract.observation_space.sample(), mask)]


def test_training_runs_whole_rollouts_and_records_what_ran(trained_run, env):
    """The progress bar's total is the budget passed to learn(); it must be the steps that really run."""
    from adascale_rl.agents.ppo import load_policy, whole_rollouts

    run = strict_json(trained_run / "run.json")
    assert run["requested_timesteps"] == 1000 and run["timesteps"] == whole_rollouts(1000, 512, 1) == 1024
    assert load_policy(trained_run / "model.zip", env.contract).num_timesteps == run["timesteps"]
    assert whole_rollouts(150_000, 512, 4) == 151_552 and whole_rollouts(2048, 512, 4) == 2048


def test_training_writes_a_training_curve_from_its_logs(trained_run):
    from adascale_rl.agents.training_curve import training_curve, validation_curve

    steps, mean, sd = validation_curve(trained_run)
    assert steps.tolist() == [512, 1024] and np.isfinite(mean).all() and (sd >= 0).all()
    assert mean.min() >= -2.5 and mean.max() <= 1.0  # reward per epoch, in the documented range
    train_steps, train_reward = training_curve(trained_run)
    assert len(train_steps) >= 1 and np.isfinite(train_reward).all()
    assert (trained_run / "training_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_validation_plays_the_same_episodes(tmp_path):
    """With a frozen policy (learning rate 0) every validation must score exactly the same: same segments,
    same simulator seeds — so the best checkpoint is chosen on equal terms, not on luckier segments."""
    hyperparams = tmp_path / "frozen.yml"
    hyperparams.write_text("pixel4:\n  n_envs: 1\n  n_steps: 128\n  batch_size: 64\n  n_epochs: 1\n"
                           "  learning_rate: 0.0\n  policy_kwargs:\n    net_arch: [16]\n", encoding="utf-8")
    run = tmp_path / "frozen"
    assert main(["train", "--timesteps", "512", "--hyperparams", str(hyperparams), "--eval-freq", "128",
                 "--out", str(run)]) == 0
    results = np.load(run / "eval" / "evaluations.npz")["results"]  # (evaluations, episodes)
    assert results.shape == (4, 8) and len(set(results[:, 0])) >= 1
    assert (results == results[0]).all()
    assert len(set(results[0])) > 1  # eight different segments, not one repeated


def test_run_json_is_strict_json_when_no_validation_ran(tmp_path):
    """eval-freq above the budget: no validation, the best reward is -inf in SB3 and null in run.json."""
    run = tmp_path / "noeval"
    assert main(["train", "--timesteps", "512", "--n-envs", "1", "--eval-freq", "100000", "--out", str(run)]) == 0
    doc = strict_json(run / "run.json")
    assert doc["best_mean_reward"] is None and doc["timesteps"] == 512
    assert not (run / "eval" / "evaluations.npz").exists() and (run / "training_curve.png").stat().st_size > 0


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


def test_evaluation_says_which_boards_the_policy_never_saw(trained_run, tmp_path, capsys):
    from adascale_rl.agents.jobs import board_coverage
    from adascale_rl.traces import find_entry, split_entries

    run = strict_json(trained_run / "run.json")
    assert run["traces"] == [entry.name for entry in split_entries("train")]
    out = tmp_path / "report"
    assert main(["evaluate", "--policy", str(trained_run), "--controllers", "ppo,greedy", "--episodes", "1",
                 "--episode-epochs", "12", "--out", str(out)]) == 0
    meta = json.loads((out / "meta.json").read_text())
    train_boards = {entry.board for entry in split_entries("train")}
    assert set(meta["policy_training_boards"]) == train_boards
    assert meta["unseen_boards"] == list(dict.fromkeys(entry.board for entry in split_entries("test")))
    printed = capsys.readouterr().out
    assert "boards PPO never saw in training: rpi4b-4gb" in printed and "evaluated board(s) it never saw" in printed
    # a trace that is not bundled is a board of its own; a training board evaluated again is named as seen
    train_board_trace = find_entry(run["traces"][0]).load()
    mine = replace(train_board_trace, meta=replace(train_board_trace.meta, name="mine"))
    coverage = board_coverage(run["traces"], [train_board_trace, mine])
    assert coverage["unseen"] == ["mine"] and coverage["seen"] == [find_entry(run["traces"][0]).board]
    assert "it saw in training" in coverage["note"]


class Alternating:
    """Switches between two variants every epoch (a test controller with a known switch count)."""

    name = "alternating"

    def __init__(self, a: int, b: int) -> None:
        self.actions, self.t = (a, b), 0

    def decide(self, observation, action_mask) -> int:
        self.t += 1
        return self.actions[(self.t - 1) % 2]

    def reset(self) -> None:
        self.t = 0


def test_summary_metrics_follow_their_definitions(env):
    contract = env.contract
    full = most_accurate_action(contract)
    assert full != contract.fallback_action  # so the first epoch loads a model: the initial load
    specs = [EpisodeSpec(0, 100, 30, 0), EpisodeSpec(0, 5000, 30, 1)]
    records = evaluate(env, [StaticController(contract, full, "s"), Alternating(full, contract.fallback_action)],
                       specs)
    assert records.groupby("controller")["switched"].sum().to_dict() == {"s": 2, "alternating": 60}
    summary = summarize(records, SCENARIO).set_index("controller")
    static = records[records["controller"] == "s"]
    assert summary.loc["s", "energy_mj"] == pytest.approx(1000 * static["energy_j"].sum() / static["completed"].sum())
    hours = 60 / 3600
    assert summary.loc["s", "epochs"] == 60 and summary.loc["s", "switches_per_hour"] == 0.0
    assert summary.loc["alternating", "switches_per_hour"] == pytest.approx(58 / hours)  # 29 per episode
    assert summary["score"].isna().all()
    assert score_unavailable_reason(records) == ("it needs the random and oracle controllers (score 0 and 1); "
                                                 "not evaluated: random, oracle")


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


def test_missing_score_is_explained_in_the_cli_and_report(tmp_path, capsys):
    out = tmp_path / "noscore"
    assert main(["evaluate", "--controllers", "greedy,static-full", "--episodes", "1", "--episode-epochs", "12",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    why = "score is NaN: it needs the random and oracle controllers (score 0 and 1); not evaluated: random, oracle"
    assert why in printed and why in (out / "summary.md").read_text()
    assert json.loads((out / "meta.json").read_text())["score_unavailable"].startswith("it needs the random")


def test_a_policy_of_another_scenario_is_refused(trained_run, tmp_path, capsys):
    """pixel4 and s10 have the same observation and action sizes, so only the recorded digest tells them
    apart: the run folder (run.json), a model zip inside it, and an exported folder (policy.json)."""
    from adascale_rl.agents.bundled import bundled_policy
    from adascale_rl.envs.contract import DecisionContract

    s10, pixel4 = DecisionContract(get_scenario("s10")), DecisionContract(SCENARIO)
    assert (s10.n_obs, s10.n_actions) == (pixel4.n_obs, pixel4.n_actions)
    bundled = bundled_policy("pixel4")
    for policy, record in ((trained_run, "run.json"), (trained_run / "best_model.zip", "run.json"),
                           (bundled, "policy.json")):
        code = main(["evaluate", "--scenario", "s10", "--policy", str(policy), "--controllers", "ppo",
                     "--episodes", "1", "--episode-epochs", "5", "--out", str(tmp_path / "never")])
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.count("\n") == 0, err
        assert record in err and "trained on scenario 'pixel4', but this evaluation uses scenario 's10'" in err
        assert err.endswith("pass --scenario pixel4")
    assert not (tmp_path / "never").exists()


def test_a_policy_of_an_older_version_of_the_scenario_is_refused(trained_run, tmp_path, capsys):
    import shutil

    stale = tmp_path / "stale"
    shutil.copytree(trained_run, stale)
    doc = json.loads((stale / "run.json").read_text())
    (stale / "run.json").write_text(json.dumps({**doc, "scenario_digest": "0" * 64}))
    assert main(["evaluate", "--policy", str(stale), "--controllers", "ppo", "--episodes", "1",
                 "--episode-epochs", "5", "--out", str(tmp_path / "never")]) == 2
    err = capsys.readouterr().err
    assert "digest 000000000000…, but scenario 'pixel4' now has digest" in err and "retrain" in err


def test_unknown_controller_is_a_clear_cli_error(capsys):
    assert main(["evaluate", "--controllers", "genius", "--episodes", "1", "--out", "/tmp/never"]) == 2
    assert "unknown controller 'genius'" in capsys.readouterr().err


@pytest.mark.slow
def test_quickstart_runs_end_to_end(tmp_path):
    assert main(["quickstart", "--timesteps", "2048", "--episodes", "1", "--out", str(tmp_path)]) == 0
    summary = pd.read_csv(tmp_path / "report" / "summary.csv")
    assert set(summary["controller"]) == {"ppo", "greedy", "best-static", "static-full", "random", "oracle"}
    assert (tmp_path / "run" / "best_model.zip").is_file()
