"""Top-level verbs: ``train``, ``evaluate``, ``quickstart``, ``scenarios``."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

DEFAULT_CONTROLLERS = "ppo,greedy,best-static,static-full,random,oracle"


def print_summary(summary) -> None:
    """The evaluation summary as a rich table."""
    table = Table(title="controllers on recorded traces")
    for column in summary.columns:
        table.add_column(column, justify="left" if column == "controller" else "right")
    for row in summary.itertuples(index=False):
        table.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row])
    Console(width=160).print(table)


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
    click.echo(f"trained {result.timesteps} steps in {result.wall_s:.0f} s ({result.fps:.0f} steps/s); "
               f"policy: {Path(out_dir) / 'best_model.zip'}")


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
@click.option("--episodes", type=int, default=8, show_default=True, help="Seeded random segments per controller.")
@click.option("--episode-epochs", type=int, default=None, help="Segment length (default: the scenario's).")
@click.option("--full", is_flag=True, help="Play every trace whole instead of segments (the oracle is slow).")
@click.option("--seed", type=int, default=2024, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="reports/evaluate", show_default=True)
def evaluate_cmd(scenario: str, split: str, trace_path: str | None, trace_format: str, max_mhz: float | None,
                 policy: str | None, controllers: str, episodes: int, episode_epochs: int | None, full: bool,
                 seed: int, out_dir: str) -> None:
    """Evaluate controllers on recorded traces: table (CSV + Markdown) and PNG plots in OUT."""
    from adascale_rl.agents.bundled import bundled_policy
    from adascale_rl.agents.jobs import run_evaluation
    from adascale_rl.scenario import get_scenario
    from adascale_rl.traces import import_trace, load_trace

    chosen = get_scenario(scenario)
    names = [name.strip() for name in controllers.split(",") if name.strip()]
    if "ppo" in names and policy is None:
        policy = str(bundled_policy(chosen.name))
    traces = None
    if trace_path is not None:
        if trace_format == "psutil-csv":
            if max_mhz is None:
                raise click.UsageError("--max-mhz is required for --trace-format psutil-csv")
            traces = [import_trace(trace_path, "psutil-csv", max_mhz=max_mhz)]
        else:
            traces = [load_trace(trace_path)]
    result = run_evaluation(chosen, names, policy, split=split, traces=traces, episodes=None if full else episodes,
                            episode_epochs=episode_epochs, seed=seed, out_dir=out_dir)
    print_summary(result.summary)
    click.echo(f"report: {result.report_dir / 'summary.md'}")


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
    click.echo(f"      {result.timesteps} steps in {result.wall_s:.0f} s; TensorBoard: {out / 'run' / 'tb'}")
    click.echo("[2/2] evaluating PPO and the baselines on the test split (a board never seen in training)")
    evaluation = run_evaluation(scenario, DEFAULT_CONTROLLERS.split(","), out / "run", episodes=episodes,
                                out_dir=out / "report")
    print_summary(evaluation.summary)
    click.echo(f"report: {evaluation.report_dir / 'summary.md'}")


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
