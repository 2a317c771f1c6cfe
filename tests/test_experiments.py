"""Experiment grids: grid files and folds, cell keys, resumable runs, failures, backends, core without ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adascale_rl.agents.factory import best_static_action
from adascale_rl.cli import main
from adascale_rl.envs.contract import DecisionContract
from adascale_rl.errors import DataError
from adascale_rl.experiments.grid import TraceSelection, leave_one_out, load_grid
from adascale_rl.experiments.plan import plan_grid
from adascale_rl.scenario import get_scenario
from adascale_rl.traces import Trace, TraceMeta, save_trace

BOARDS = ["rpi4b8gb_1800mhz_pattern_6h", "rpi4b2gb_800mhz_pattern_12h", "rpi4b4gb_1200mhz_pattern_12h"]
ROOT = Path(__file__).resolve().parents[1]
#: a few thousand training steps, short episodes: the CI-sized grid
SMALL_GRID = (ROOT / "examples" / "grids" / "small.toml").read_text(encoding="utf-8")


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def synthetic_trace(name: str, n: int, bg: float, freq: float) -> Trace:
    """A constant-condition trace, one sample per second."""
    columns = {"t_s": np.arange(n, dtype=float), "cpu_freq_frac": np.full(n, freq), "cpu_bg_util": np.full(n, bg),
               "mem_avail_frac": np.full(n, 0.6), "temp_c": np.full(n, 45.0), "battery_frac": np.full(n, np.nan),
               "state": np.full(n, "synthetic")}
    return Trace.from_columns(columns, TraceMeta(name=name, device="synthetic"))


# -- grid files ------------------------------------------------------------------------------------------


def test_leave_one_out_tests_each_group_and_trains_on_the_rest():
    folds = leave_one_out("lobo", {"a": ["a1", "a2"], "b": ["b1"], "c": ["c1"]})
    assert [f.name for f in folds] == ["lobo/a", "lobo/b", "lobo/c"]
    assert folds[0].test == TraceSelection(refs=("a1", "a2")) and folds[0].train == TraceSelection(refs=("b1", "c1"))
    assert folds[1].train.refs == ("a1", "a2", "c1")
    with pytest.raises(ValueError, match="at least 2"):
        leave_one_out("x", {"a": ["a1"]})


def test_grid_file_expands_trace_sets_into_folds(tmp_path):
    trace = tmp_path / "mine.csv"
    save_trace(synthetic_trace("mine", 400, 0.2, 1.0), trace)
    grid = load_grid(write(tmp_path / "g.toml", f"""
        scenarios = ["pixel4"]
        controllers = ["greedy", "static:mobilenet_w1|int8"]
        [[trace_sets]]
        name = "bundled"
        split = "test"
        [[trace_sets]]
        name = "mine"
        train = ["{BOARDS[0]}"]
        test = ["mine.csv"]
        [[trace_sets]]
        name = "board"
        test = ["{BOARDS[2]}"]
        [[trace_sets]]
        name = "lobo"
        leave_one_out = {json.dumps(BOARDS)}
    """))
    assert grid.name == "g" and grid.seeds == ()
    assert [f.name for f in grid.folds] == ["bundled", "mine", "board", *(f"lobo/{b}" for b in BOARDS)]
    assert grid.folds[1].test.refs == (str(trace.resolve()),)
    plan = plan_grid(grid)
    # 2 controllers x 6 folds; "board" and "lobo/<that board>" test the same trace with controllers that
    # ignore train traces, so their cells are the same computation, done once
    assert len(plan.entries) == 2 * 6 and len(plan.jobs) == 2 * 5
    by_fold = {e.fold: e.key for e in plan.entries if e.controller == "greedy"}
    assert by_fold["board"] == by_fold[f"lobo/{BOARDS[2]}"] != by_fold[f"lobo/{BOARDS[0]}"]
    assert by_fold["bundled"] != by_fold["board"]  # the test split holds more than that trace
    lobo = [plan.jobs[by_fold[f"lobo/{b}"]] for b in BOARDS]
    assert [[t.meta.name for t in job.test_traces] for job in lobo] == [[b] for b in BOARDS]


@pytest.mark.parametrize(("body", "message"), [
    ('controllers = ["greedy"]\n[[trace_sets]]\nname = "t"\nsplit = "test"', "missing key 'scenarios'"),
    ('scenarios = ["pixel4"]\ncontrollers = ["gready"]\n[[trace_sets]]\nname = "t"\nsplit = "test"',
     "unknown controller in 'controllers' (got 'gready')"),
    ('scenarios = ["pixel4"]\ncontrollers = ["ppo"]\n[[trace_sets]]\nname = "t"\nsplit = "test"',
     "missing key 'seeds'"),
    ('scenarios = ["pixel4"]\ncontrollers = ["greedy"]\nsedes = [1]\n[[trace_sets]]\nname = "t"\nsplit = "test"',
     "unknown key(s) sedes in top level"),
    ('scenarios = ["pixel4"]\ncontrollers = ["greedy"]\n[[trace_sets]]\nname = "t"\nsplit = "tset"',
     "unknown split (got 'tset')"),
    ('scenarios = ["pixel4"]\ncontrollers = ["greedy"]\n[[trace_sets]]\nname = "t"\ntest = ["nope.csv"]',
     "trace file not found"),
    ('scenarios = ["pixel4"]\ncontrollers = ["greedy"]\n[[trace_sets]]\nname = "t"\nsplit = "test"\n'
     'leave_one_out = ["a", "b"]', "exactly one of"),
    ('scenarios = ["pixel4"]\ncontrollers = ["greedy"]\n[episodes]\ncount = 0\n[[trace_sets]]\nname = "t"\n'
     'split = "test"', "[episodes] 'count' must be a positive integer (got 0)"),
    ('scenarios = ["pixel4"]\ncontrollers = ["ppo"]\nseeds = [0]\n[training.overrides]\nlearning_rat = 1\n'
     '[[trace_sets]]\nname = "t"\nsplit = "test"', "unknown key(s) learning_rat in [training.overrides]"),
])
def test_bad_grid_files_name_file_key_and_value(tmp_path, body, message):
    path = write(tmp_path / "bad.toml", body)
    with pytest.raises(DataError) as caught:
        load_grid(path)
    assert str(caught.value).startswith(str(path)) and message in str(caught.value)


@pytest.mark.parametrize(("name", "cells"), [("small", 6), ("lobo_seeds", 3 * 10)])
def test_example_grids_plan(name, cells):
    grid = load_grid(ROOT / "examples" / "grids" / f"{name}.toml")
    assert len(plan_grid(grid).jobs) == cells


def test_bad_grid_on_the_cli_is_one_error_line(tmp_path, capsys):
    path = write(tmp_path / "bad.toml", 'scenarios = ["pixel4"]\ncontrollers = ["greedy"]\n[[trace_sets]]\n'
                                       f'name = "t"\ntest = ["{BOARDS[0]}"]\ntrain = ["{BOARDS[0]}"]')
    assert main(["experiment", "run", str(path), "--workers", "1", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: ") and "in both its train and test" in err


def test_cli_verbs_have_help(capsys):
    for verb in (["experiment", "--help"], ["experiment", "run", "--help"], ["tune", "--help"]):
        assert main(verb) == 0
    out = capsys.readouterr().out
    assert "--ray" in out and "--address" in out and "--searcher" in out


# -- cell keys ---------------------------------------------------------------------------------------------


def test_cell_keys_follow_what_changes_a_result(tmp_path):
    def keys(*edits: tuple[str, str]) -> dict[tuple, str]:
        text = SMALL_GRID
        for old, new in edits:
            assert old in text
            text = text.replace(old, new)
        grid = load_grid(write(tmp_path / "g.toml", text))
        return {(e.controller, e.seed): e.key for e in plan_grid(grid).entries}

    base = keys()
    assert len(set(base.values())) == 6  # 2 PPO seeds + 4 seed-independent baselines
    assert base == keys()  # stable
    longer = keys(("length = 20", "length = 21"))
    assert all(longer[k] != base[k] for k in base)  # the episodes changed for everyone
    more_steps = keys(("timesteps = 1024", "timesteps = 2048"))
    assert more_steps[("ppo", 0)] != base[("ppo", 0)] and more_steps[("greedy", None)] == base[("greedy", None)]
    # a scenario setting (seen through to_dict) changes every key
    scenario = tmp_path / "p4.toml"
    text = Path(get_scenario("pixel4").source).read_text()
    assert "request_rate_hz = 10.0" in text
    scenario.write_text(text.replace("request_rate_hz = 10.0", "request_rate_hz = 11.0"))
    other = keys(('scenarios = ["pixel4"]', f'scenarios = ["{scenario}"]'))
    assert all(other[k] != base[k] for k in base)


def test_best_static_is_chosen_on_the_given_train_traces():
    contract = DecisionContract(get_scenario("pixel4"))
    calm = best_static_action(contract, 1, 30, traces=[synthetic_trace("calm", 200, 0.0, 1.0)])
    busy = best_static_action(contract, 1, 30, traces=[synthetic_trace("busy", 200, 0.9, 0.4)])
    accuracy = contract.table.accuracy
    assert accuracy[contract.action_to_variant(calm)] > accuracy[contract.action_to_variant(busy)]


# -- running grids -------------------------------------------------------------------------------------


def test_failed_cell_is_reported_and_does_not_stop_the_grid(tmp_path, capsys):
    grid = write(tmp_path / "g.toml", """
        scenarios = ["pixel4"]
        controllers = ["ppo", "greedy", "static-full"]
        seeds = [0]
        [episodes]
        count = 1
        length = 10
        [training]
        timesteps = 64
        [training.overrides]
        policy = "NoSuchPolicy"
        [[trace_sets]]
        name = "bundled"
        split = "test"
    """)
    out = tmp_path / "out"
    assert main(["experiment", "run", str(grid), "--workers", "1", "--out", str(out), "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "1 cell(s) failed" in captured.err and "NoSuchPolicy" in captured.err
    table = pd.read_parquet(out / "results.parquet")
    assert list(table["controller"]) == ["greedy", "static-full"]
    report = (out / "report" / "summary.md").read_text()
    assert "Failed cells" in report and "NoSuchPolicy" in report
    failed = [json.loads(p.read_text()) for p in (out / "cells").glob("*.json")]
    assert sorted(s["ok"] for s in failed) == [False, True, True]


def _run_cli(args: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "adascale_rl", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def test_killed_worker_then_rerun_computes_only_the_missing_cells(tmp_path):
    import psutil

    variants = get_scenario("pixel4").table.variant_id[:10]
    controllers = json.dumps([f"static:{v}" for v in variants])
    grid = write(tmp_path / "g.toml", f"""
        scenarios = ["pixel4"]
        controllers = {controllers}
        [episodes]
        count = 3
        length = 150
        [[trace_sets]]
        name = "bundled"
        split = "test"
    """)
    out = tmp_path / "out"
    args = ["experiment", "run", str(grid), "--workers", "2", "--out", str(out), "--no-progress"]
    first = _run_cli(args)
    deadline = time.monotonic() + 120
    while not list((out / "cells").glob("*.parquet")):
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.05)
    workers = [p for p in psutil.Process(first.pid).children()
               if any("spawn_main" in part for part in p.cmdline())]
    assert workers, "no pool worker found"
    os.kill(workers[0].pid, signal.SIGKILL)
    _, err = first.communicate(timeout=180)
    assert first.returncode == 1, err
    assert "worker process died" in err
    done = {p.name: p.stat().st_mtime_ns for p in (out / "cells").glob("*.parquet")}
    missing = 10 - len(done)
    assert 1 <= missing < 10
    second = _run_cli(args)
    _, err = second.communicate(timeout=180)
    assert second.returncode == 0, err
    assert f"{len(done)} finished earlier, computing {missing}" in err
    for name, mtime in done.items():  # finished cells were not recomputed
        assert (out / "cells" / name).stat().st_mtime_ns == mtime
    table = pd.read_parquet(out / "results.parquet")
    assert list(dict.fromkeys(table["controller"])) == [f"static:{v}" for v in variants]
    assert len(table) == 10 * 3


def test_core_evaluate_and_experiment_run_never_import_ray(tmp_path):
    grid = write(tmp_path / "g.toml", """
        scenarios = ["pixel4"]
        controllers = ["greedy", "static-full"]
        [episodes]
        count = 1
        length = 8
        [[trace_sets]]
        name = "bundled"
        split = "test"
    """)
    code = f"""
import sys
import adascale_rl
from adascale_rl.cli import main
assert main(["evaluate", "--controllers", "greedy", "--episodes", "1", "--episode-epochs", "8",
             "--out", {str(tmp_path / 'eval')!r}]) == 0
assert main(["experiment", "run", {str(grid)!r}, "--workers", "1", "--out", {str(tmp_path / 'grid')!r},
             "--no-progress"]) == 0
leaked = sorted(name for name in sys.modules if name == "ray" or name.startswith("ray."))
assert not leaked, leaked
print("no ray")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "no ray" in result.stdout, result.stderr[-2000:]


@pytest.fixture(scope="module")
def local_ray():
    # CI installs the ray extra: there a missing ray is a failure, not a skip
    ray = __import__("ray") if os.environ.get("CI") else pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_process_pool_and_ray_give_identical_tables(tmp_path, local_ray):
    from adascale_rl.experiments.backends import PoolBackend, RayBackend
    from adascale_rl.experiments.engine import run_grid

    grid = load_grid(write(tmp_path / "g.toml", SMALL_GRID))
    pool = run_grid(grid, tmp_path / "pool", PoolBackend(2), show_progress=False)
    ray = run_grid(grid, tmp_path / "ray", RayBackend(workers=2), show_progress=False)
    assert pool.failures == {} and ray.failures == {}
    pd.testing.assert_frame_equal(pool.table, ray.table)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "pool" / "results.parquet"),
                                  pd.read_parquet(tmp_path / "ray" / "results.parquet"))
    table = pool.table
    assert len(table) == (2 + 4) * 2  # (2 PPO seeds + 4 baselines) x 2 episodes
    assert table.groupby("controller", sort=False)["seed"].apply(lambda s: sorted(set(s.dropna()))).to_dict() == {
        "ppo": [0, 1], "greedy": [], "best-static": [], "random": [], "oracle": []}
    scores = table.groupby("controller")["score"]
    assert np.allclose(scores.min()[["random", "oracle"]], [0, 1]) and np.allclose(scores.max()[["random", "oracle"]],
                                                                                   [0, 1])
    ppo_runs = sorted((tmp_path / "ray" / "runs").iterdir())
    assert len(ppo_runs) == 2 and all((run / "best_model.zip").is_file() for run in ppo_runs)
    report = (tmp_path / "ray" / "report" / "summary.md").read_text()
    assert "stratified-bootstrap" in report and (tmp_path / "ray" / "report" / "scores.png").stat().st_size > 0
