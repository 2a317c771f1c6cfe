"""Top-level verbs: ``train``, ``evaluate``, ``quickstart``, ``scenarios``."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

DEFAULT_CONTROLLERS = "ppo,greedy,best-static,static-full,random,oracle"
CHANGE_SHARE = 0.5  # = adascale_rl.agents.evaluate.CHANGE_SHARE, repeated so `--help` needs no heavy import


def print_evaluation(result) -> None:
    """The evaluation summary as a rich table, the notes needed to read it, and where the report is."""
    table = Table(title="controllers on recorded traces")
    captions = []
    if result.meta.get("unseen_boards") is not None:
        captions.append(f"boards PPO never saw in training: {', '.join(result.meta['unseen_boards']) or 'none'}")
    if result.meta.get("score_unavailable"):
        captions.append(f"score is NaN: {result.meta['score_unavailable']}")
    table.caption = "; ".join(captions) or None
    for column in result.summary.columns:
        table.add_column(column, justify="left" if column == "controller" else "right")
    for row in result.summary.itertuples(index=False):
        table.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row])
    Console(width=160).print(table)
    for note in result.notes:
        click.echo(f"note: {note}")
    click.echo(f"report: {result.report_dir / 'summary.md'}")


@click.command()
@click.option("--scenario", default="pixel4", show_default=True, help="Bundled scenario name or scenario TOML.")
@click.option("--timesteps", type=int, default=None, help="Training steps (default: from the hyperparameter file).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Run folder to write.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--n-envs", type=int, default=None, help="Parallel environments (default: hyperparameter file).")
@click.option("--hyperparams", type=click.Path(dir_okay=False, exists=True), default=None,
              help="RL-Zoo-style YAML (default: the bundled maskable_ppo.yml).")
@click.option("--eval-freq", type=int, default=10_000, show_default=True,
              help="Steps between validation evaluations (best model saved).")
@click.option("--vec-env", type=click.Choice(["batched", "subproc", "dummy"]), default="batched", show_default=True,
              help="How the environments run: batched in this process, a process each, or SB3's DummyVecEnv "
                   "(same training run for a seed).")
def train(scenario: str, timesteps: int | None, out_dir: str, seed: int, n_envs: int | None,
          hyperparams: str | None, eval_freq: int, vec_env: str) -> None:
    """Train a MaskablePPO controller (TensorBoard logs in OUT/tb, best model by validation)."""
    from adascale_rl.agents.ppo import train as train_ppo
    from adascale_rl.scenario import get_scenario

    result = train_ppo(get_scenario(scenario), out_dir, timesteps=timesteps, seed=seed, n_envs=n_envs,
                       hyperparams=hyperparams, eval_freq=eval_freq, vec_env=vec_env)
    click.echo(f"trained {result.timesteps} steps{_rounded(result)} in {result.wall_s:.0f} s "
               f"({result.fps:.0f} steps/s); policy: {Path(out_dir) / 'best_model.zip'}; "
               f"training curve: {Path(out_dir) / 'training_curve.png'}")


def _rounded(result) -> str:
    """Why more steps ran than were asked for (PPO trains whole rollouts), or nothing."""
    if result.timesteps == result.requested_timesteps:
        return ""
    return f" ({result.requested_timesteps} requested, rounded up to whole rollouts)"


@click.command("evaluate")
@click.option("--scenario", default="pixel4", show_default=True, help="Bundled scenario name or scenario TOML.")
@click.option("--split", type=click.Choice(["train", "test"]), default="test", show_default=True)
@click.option("--trace", "trace_path", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Evaluate on this trace file instead of a split.")
@click.option("--trace-format", type=click.Choice(["canonical", "psutil-csv"]), default="canonical",
              show_default=True, help="Format of --trace.")
@click.option("--max-mhz", type=float, default=None, help="Device max CPU MHz (psutil-csv traces).")
@click.option("--policy", default=None, help="Training run folder, SB3 zip, or exported policy folder "
              "(default: the policy bundled for the scenario).")
@click.option("--controllers", default=DEFAULT_CONTROLLERS, show_default=True,
              help="Comma-separated: ppo, greedy, best-static, static-full, random, oracle, static:VARIANT_ID.")
@click.option("--episodes", type=click.IntRange(min=1), default=8, show_default=True,
              help="Seeded segments per controller (a trace shorter than one segment is played whole).")
@click.option("--episode-epochs", type=click.IntRange(min=1), default=None,
              help="Segment length (default: the scenario's).")
@click.option("--change-share", type=click.FloatRange(0.0, 1.0), default=CHANGE_SHARE, show_default=True,
              help="Share of the segments placed to contain a state change (the rest placed uniformly).")
@click.option("--full", is_flag=True, help="Play every trace whole instead of segments (the oracle is slow).")
@click.option("--seed", type=int, default=2024, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="reports/evaluate", show_default=True,
              help="Report folder (with --cross-board: the grid's folder, default runs/cross-board/SCENARIO).")
@click.option("--cross-board", is_flag=True,
              help="Leave-one-board-out: for every bundled board, train PPO (--train-seeds runs) on the other "
                   "boards and evaluate it with the baselines on the held-out one; IQM + 95 % CI per board.")
@click.option("--train-seeds", type=click.IntRange(min=1), default=5, show_default=True,
              help="--cross-board: PPO training seeds (0..N-1) per held-out board.")
@click.option("--timesteps", type=click.IntRange(min=1), default=None,
              help="--cross-board: training steps per run (default: the hyperparameter file's).")
@click.option("--hyperparams", type=click.Path(dir_okay=False, exists=True), default=None,
              help="--cross-board: RL-Zoo-style YAML (default: the bundled maskable_ppo.yml).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="--cross-board: cells at once (local processes; default: the CPU count; with --ray: Ray tasks).")
@click.option("--ray", "use_ray", is_flag=True, help="--cross-board: run the cells on Ray (the ray extra).")
@click.pass_context
def evaluate_cmd(ctx: click.Context, scenario: str, split: str, trace_path: str | None, trace_format: str,
                 max_mhz: float | None, policy: str | None, controllers: str, episodes: int,
                 episode_epochs: int | None, change_share: float, full: bool, seed: int, out_dir: str,
                 cross_board: bool, train_seeds: int, timesteps: int | None, hyperparams: str | None,
                 workers: int | None, use_ray: bool) -> None:
    """Evaluate controllers on recorded traces: table (CSV + Markdown) and PNG plots in OUT.

    With --cross-board, evaluate how a trained controller holds up on devices it never saw (trains
    --train-seeds PPO runs per bundled board; resumable: rerun to finish an interrupted grid)."""
    from adascale_rl.agents.bundled import bundled_policy
    from adascale_rl.agents.jobs import run_evaluation
    from adascale_rl.scenario import get_scenario

    cross_only = [name for name in ("train_seeds", "timesteps", "hyperparams", "workers", "use_ray")
                  if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT]
    if cross_board:
        clashing = [name for name in ("split", "trace_path", "policy", "controllers", "full", "change_share")
                    if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT]
        if clashing:
            flags = ", ".join("--" + name.replace("_path", "").replace("_", "-") for name in clashing)
            raise click.UsageError(f"--cross-board trains and tests on the bundled boards with every controller; "
                                   f"it takes no {flags}")
        default_out = ctx.get_parameter_source("out_dir") is click.core.ParameterSource.DEFAULT
        out = Path("runs", "cross-board", Path(scenario).stem) if default_out else Path(out_dir)
        _cross_board(scenario, out, train_seeds, episodes, episode_epochs, seed, timesteps, hyperparams, workers,
                     use_ray)
        return
    if cross_only:
        raise click.UsageError(f"{', '.join('--' + n.replace('use_', '').replace('_', '-') for n in cross_only)} "
                               "only apply with --cross-board")
    chosen = get_scenario(scenario)
    names = [name.strip() for name in controllers.split(",") if name.strip()]
    if "ppo" in names and policy is None:
        policy = str(bundled_policy(chosen.name))
    traces = None
    if trace_path is not None:
        if trace_format == "psutil-csv" and max_mhz is None:
            raise click.UsageError("--max-mhz is required for --trace-format psutil-csv")
        traces = [load_evaluation_trace(trace_path, trace_format, max_mhz, chosen.epoch_s)]
    result = run_evaluation(chosen, names, policy, split=split, traces=traces, episodes=None if full else episodes,
                            episode_epochs=episode_epochs, seed=seed, out_dir=out_dir, change_share=change_share)
    print_evaluation(result)


def _cross_board(scenario: str, out: Path, train_seeds: int, episodes: int, episode_epochs: int | None, seed: int,
                 timesteps: int | None, hyperparams: str | None, workers: int | None, use_ray: bool) -> None:
    """Run the leave-one-board-out grid and print its per-board table."""
    import os

    from adascale_rl.experiments.backends import InlineBackend, PoolBackend, RayBackend
    from adascale_rl.experiments.cross_board import run_cross_board

    if use_ray:
        backend = RayBackend(None, workers)
    else:
        count = workers or os.cpu_count() or 1
        backend = InlineBackend() if count == 1 else PoolBackend(count)
    outcome = run_cross_board(scenario, out, backend, seeds=range(train_seeds), episodes=episodes,
                              episode_epochs=episode_epochs, episode_seed=seed, timesteps=timesteps,
                              hyperparams=hyperparams)
    table = Table(title="leave-one-board-out: each board held out of training")
    shown = ("board", "seeds", "ppo_iqm", "ppo_ci_low", "ppo_ci_high", "greedy", "best-static", "ppo_miss_pct",
             "ppo_miss_pct_worst")
    for column in shown:
        table.add_column(column, justify="left" if column == "board" else "right")
    for row in outcome.boards[list(shown)].itertuples(index=False):
        table.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row])
    Console(width=160).print(table)
    click.echo(f"report: {outcome.report} (grid: {out / 'cross_board.toml'}; engine report: {outcome.grid.report})")
    if outcome.grid.failures:
        raise click.ClickException(f"{len(outcome.grid.failures)} cell(s) failed (see {outcome.grid.report}); "
                                   "rerun the same command to retry them")


def load_evaluation_trace(path: str, trace_format: str, max_mhz: float | None, epoch_s: float):
    """Load ``--trace`` and refuse, naming the file, one too short for a single decision epoch."""
    from adascale_rl.errors import DataError
    from adascale_rl.traces import import_trace, load_trace

    trace = import_trace(path, "psutil-csv", max_mhz=max_mhz) if trace_format == "psutil-csv" else load_trace(path)
    span = trace.duration_s + trace.period_s  # the last sample holds for one period
    if len(trace) < 2 or span < epoch_s:
        raise DataError(path, f"{len(trace)} sample(s) spanning {span:g} s: too short for even one "
                        f"{epoch_s:g}-s decision epoch", expected="at least 2 samples spanning one epoch or more "
                        "(record longer, e.g. `adascale-rl traces record --duration 60 --interval 1`)")
    return trace


@click.command()
@click.option("--timesteps", type=int, default=None, help="Training steps (default: the scenario's budget).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="runs/quickstart", show_default=True)
@click.option("--episodes", type=int, default=8, show_default=True, help="Test segments per controller.")
@click.option("--seed", type=int, default=0, show_default=True)
def quickstart(timesteps: int | None, out_dir: str, episodes: int, seed: int) -> None:
    """The main job: train PPO on the default scenario, evaluate it and every baseline on the test split."""
    from adascale_rl.agents.jobs import run_evaluation
    from adascale_rl.agents.ppo import train as train_ppo
    from adascale_rl.scenario import get_scenario

    scenario = get_scenario("pixel4")
    out = Path(out_dir)
    click.echo(f"[1/2] training MaskablePPO on scenario '{scenario.name}' ({scenario.description})")
    result = train_ppo(scenario, out / "run", timesteps=timesteps, seed=seed)
    click.echo(f"      {result.timesteps} steps{_rounded(result)} in {result.wall_s:.0f} s; TensorBoard: "
               f"{out / 'run' / 'tb'}; training curve: {out / 'run' / 'training_curve.png'}")
    click.echo("[2/2] evaluating PPO and the baselines on the test split (boards never seen in training)")
    evaluation = run_evaluation(scenario, DEFAULT_CONTROLLERS.split(","), out / "run", episodes=episodes,
                                out_dir=out / "report")
    print_evaluation(evaluation)


@click.command()
def scenarios() -> None:
    """List the bundled scenarios."""
    from adascale_rl.scenario import bundled_scenarios, get_scenario

    table = Table(title="bundled scenarios")
    for column in ("name", "device", "catalog", "variants", "epoch s", "req/s", "budget ms", "description"):
        table.add_column(column)
    for name in bundled_scenarios():
        s = get_scenario(name)
        table.add_row(s.name, s.device, s.catalog, str(len(s.table)), f"{s.epoch_s:g}", f"{s.request_rate_hz:g}",
                      f"{s.latency_budget_ms:g}", s.description)
    Console(width=160).print(table)
