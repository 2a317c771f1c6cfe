"""Leave-one-board-out evaluation: folds over the manifest's boards, the per-board summary (IQM + CI, the
goals), and ``adascale-rl evaluate --cross-board`` end to end on a CI-sized run."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adascale_rl.cli import main
from adascale_rl.errors import DataError
from adascale_rl.experiments.cross_board import board_summary
from adascale_rl.experiments.grid import load_grid
from adascale_rl.traces.manifest import boards

TINY_HYPERPARAMS = """\
pixel4:
  n_envs: 1
  n_timesteps: 256
  policy: MlpPolicy
  n_steps: 128
  batch_size: 64
  n_epochs: 1
  policy_kwargs:
    net_arch: [16]
"""


def test_leave_one_board_out_holds_out_every_recording_of_a_board(tmp_path: Path) -> None:
    grid_file = tmp_path / "g.toml"
    grid_file.write_text(textwrap.dedent("""
        scenarios = ["pixel4"]
        controllers = ["greedy"]
        [[trace_sets]]
        name = "boards"
        leave_one_board_out = true
    """), encoding="utf-8")
    grid = load_grid(grid_file)
    grouped = boards()
    assert [fold.name for fold in grid.folds] == [f"boards/{board}" for board in grouped]
    for fold, (board, entries) in zip(grid.folds, grouped.items(), strict=True):
        assert fold.test.refs == tuple(e.name for e in entries)
        others = {e.name for b, es in grouped.items() if b != board for e in es}
        assert set(fold.train.refs) == others
    grid_file.write_text(grid_file.read_text().replace("= true", "= 1"), encoding="utf-8")
    with pytest.raises(DataError, match="'leave_one_board_out' must be true"):
        load_grid(grid_file)


def _cells(board: str, ppo_scores: list[float], ppo_misses: list[float], greedy: float, static: float) -> list[dict]:
    """Per-episode rows of one fold whose totals give the wanted scores (random 0, oracle 100)."""
    rows = []
    common = {"scenario": "pixel4", "trace_set": "boards", "fold": f"boards/{board}", "episode_index": 0}
    for name, total, miss in [("random", 0.0, 30.0), ("oracle", 100.0, 0.1), ("greedy", 100 * greedy, 8.0),
                              ("best-static", 100 * static, 2.5), ("static-full", -50.0, 40.0)]:
        rows.append({**common, "controller": name, "seed": pd.NA, "total_reward": total, "budget_miss_pct": miss})
    for seed, (score, miss) in enumerate(zip(ppo_scores, ppo_misses, strict=True)):
        rows.append({**common, "controller": "ppo", "seed": seed, "total_reward": 100 * score, "budget_miss_pct": miss})
    return rows


def test_board_summary_gives_iqm_ci_and_the_goal_verdicts() -> None:
    table = pd.DataFrame(_cells("a", [0.97, 0.96, 0.99, 0.95, 0.98], [1.0, 1.5, 0.5, 1.2, 0.8], 0.6, 0.9)
                         + _cells("b", [0.90, 0.93, 0.20, 0.92, 0.94], [1.0, 2.5, 9.0, 1.0, 1.0], 0.7, 0.91))
    table["seed"] = table["seed"].astype("Int64")
    summary = board_summary(table).set_index("board")
    assert list(summary.index) == ["a", "b", "overall"]
    a, b = summary.loc["a"], summary.loc["b"]
    assert a["seeds"] == 5 and a["ppo_iqm"] == pytest.approx(0.97)  # mean of the middle three
    assert a["ppo_ci_low"] <= a["ppo_iqm"] <= a["ppo_ci_high"]
    assert a["greedy"] == pytest.approx(0.6) and a["best-static"] == pytest.approx(0.9)
    assert bool(a["score_goal"]) and bool(a["beats_baselines"]) and bool(a["miss_goal"])
    assert b["ppo_iqm"] == pytest.approx(np.mean([0.92, 0.93, 0.90]))  # the 0.20 seed is trimmed
    assert not b["score_goal"] and b["ppo_miss_pct_worst"] == 9.0 and not b["miss_goal"]
    assert summary.loc["overall", "seeds"] == 10


def test_cross_board_cli_end_to_end(tmp_path: Path) -> None:
    hyperparams = tmp_path / "tiny.yml"
    hyperparams.write_text(TINY_HYPERPARAMS, encoding="utf-8")
    out = tmp_path / "xb"
    args = ["evaluate", "--cross-board", "--train-seeds", "2", "--timesteps", "256", "--hyperparams", str(hyperparams),
            "--episodes", "1", "--episode-epochs", "12", "--workers", "1", "--out", str(out)]
    assert main(args) == 0
    summary = pd.read_csv(out / "cross_board.csv")
    assert list(summary["board"]) == [*boards(), "overall"]
    assert (summary["seeds"] == [2] * len(boards()) + [2 * len(boards())]).all()
    assert np.isfinite(summary[["ppo_iqm", "greedy", "best-static", "ppo_miss_pct"]].to_numpy()).all()
    assert (out / "cross_board.png").stat().st_size > 10_000
    assert "held-out board" in (out / "cross_board.md").read_text()
    assert (out / "report" / "summary.md").is_file() and (out / "cross_board.toml").is_file()
    # resumable: a second run computes nothing and gives the same table
    assert main(args) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "cross_board.csv"), summary)


@pytest.mark.parametrize("args, message", [
    (["--cross-board", "--policy", "x"], "it takes no --policy"),
    (["--train-seeds", "3"], "--train-seeds only apply with --cross-board"),
    (["--ray"], "--ray only apply with --cross-board"),
])
def test_cross_board_option_errors(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", *args]) == 2
    assert message in capsys.readouterr().err
