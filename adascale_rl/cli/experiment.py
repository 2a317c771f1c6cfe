"""``experiment run`` (grids of cells, locally or on Ray) and ``tune`` (Ray Tune hyperparameter search)."""

from __future__ import annotations

import os
from pathlib import Path

import click


@click.group()
def experiment() -> None:
    """Experiment grids: scenarios × trace sets × controllers × seeds, resumable, local or on Ray."""


@experiment.command("run")
@click.argument("grid_file", type=click.Path(dir_okay=False))
@click.option("--ray", "use_ray", is_flag=True,
              help="Run the cells as Ray tasks (needs `pip install adascale-rl[ray]`).")
@click.option("--address", default=None, help="Ray cluster to join (HEAD_IP:6379, or auto on a node of "
              "it); default: start a local Ray instance.")
@click.option("--workers", type=int, default=None, help="Cells at once: local processes (1 = in this process; "
              "default: the CPU count) or, with --ray, at most this many tasks (default: the cluster's CPUs).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Output folder (default: runs/experiments/GRID_NAME). Finished cells there are not recomputed.")
@click.option("--no-dashboard", is_flag=True, help="With --ray and no --address: start the local instance "
              "without its dashboard (saves a few % of CPU on a small machine).")
@click.option("--no-progress", is_flag=True, help="No live progress bar.")
@click.pass_context
def run(ctx: click.Context, grid_file: str, use_ray: bool, address: str | None, workers: int | None,
        out_dir: str | None, no_dashboard: bool, no_progress: bool) -> None:
    """Run every cell of GRID_FILE not yet finished in OUT; write OUT/results.parquet and OUT/report/.

    Exit status 1 when some cell failed (its error is in the report; rerun to retry it).
    """
    from adascale_rl.experiments.backends import InlineBackend, PoolBackend, RayBackend
    from adascale_rl.experiments.engine import RESULTS_FILE, run_grid
    from adascale_rl.experiments.grid import load_grid

    if address is not None and not use_ray:
        raise click.UsageError("--address needs --ray")
    if workers is not None and workers < 1:
        raise click.UsageError(f"--workers must be at least 1, got {workers}")
    grid = load_grid(grid_file)
    if use_ray:
        backend = RayBackend(address, workers, dashboard=not no_dashboard)
    else:
        count = workers or os.cpu_count() or 1
        backend = InlineBackend() if count == 1 else PoolBackend(count)
    out = Path(out_dir) if out_dir else Path("runs", "experiments", grid.name)
    outcome = run_grid(grid, out, backend, show_progress=not no_progress)
    click.echo(f"results: {out / RESULTS_FILE} ({len(outcome.table)} rows); report: {outcome.report}")
    if outcome.failures:
        click.echo(f"error: {len(outcome.failures)} cell(s) failed (see the report); rerun the same command to "
                   "retry them", err=True)
        ctx.exit(1)


@click.command()
@click.option("--scenario", default="pixel4", show_default=True, help="Bundled scenario name or scenario TOML.")
@click.option("--samples", type=int, default=16, show_default=True, help="Trials (hyperparameter samples).")
@click.option("--timesteps", type=int, default=None, help="Training steps per trial (default: the file's n_timesteps).")
@click.option("--searcher", type=click.Choice(["optuna", "random"]), default="optuna", show_default=True,
              help="Optuna TPE or Ray Tune's random sampling.")
@click.option("--scheduler", type=click.Choice(["asha", "fifo"]), default="asha", show_default=True,
              help="ASHA stops weak trials at intermediate reports; fifo runs every trial to the end.")
@click.option("--report-every", type=int, default=None, help="Steps between validation reports (default: 1/4 run).")
@click.option("--hyperparams", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Base hyperparameters (default: the bundled maskable_ppo.yml); the search replaces some.")
@click.option("--val-episodes", type=int, default=4, show_default=True, help="Validation segments.")
@click.option("--val-epochs", type=int, default=128, show_default=True, help="Epochs per validation segment.")
@click.option("--seed", type=int, default=0, show_default=True, help="Training, searcher and segment seed.")
@click.option("--address", default=None, help="Ray cluster to join (default: a local Ray instance).")
@click.option("--max-concurrent", type=int, default=None, help="Trials at once (default: one per free CPU).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), required=True,
              help="Hyperparameter YAML to write (read by `adascale-rl train --hyperparams`).")
def tune(scenario: str, samples: int, timesteps: int | None, searcher: str, scheduler: str, report_every: int | None,
         hyperparams: str | None, val_epochs: int, val_episodes: int, seed: int, address: str | None,
         max_concurrent: int | None, out_path: str) -> None:
    """Search MaskablePPO hyperparameters with Ray Tune; objective: validation score vs the oracle on
    held-out segments of the train traces (never the test split)."""
    from adascale_rl.experiments.tune import tune_hyperparams
    from adascale_rl.scenario import get_scenario

    outcome = tune_hyperparams(get_scenario(scenario), out_path, samples=samples, timesteps=timesteps,
                               searcher=searcher, scheduler=scheduler, report_every=report_every,
                               hyperparams=hyperparams, val_episodes=val_episodes, val_epochs=val_epochs, seed=seed,
                               address=address, max_concurrent=max_concurrent)
    click.echo(f"best validation score {outcome.best_score:.4f} over {outcome.trials} trials; wrote {outcome.path} "
               f"(adascale-rl train --scenario {scenario} --hyperparams {outcome.path})")
