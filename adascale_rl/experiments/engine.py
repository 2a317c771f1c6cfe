"""Run a grid: plan the cells, skip those already finished, run the rest on a backend, write the table
and the report. Resumable: stopping at any point (Ctrl-C, a killed worker, a lost machine) loses only
the cells in flight; running the same command again computes only what is missing."""

from __future__ import annotations

import shutil
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from adascale_rl import __version__
from adascale_rl.experiments.cells import CellResult
from adascale_rl.experiments.grid import Grid
from adascale_rl.experiments.plan import CellJob, Plan, plan_grid, write_plan
from adascale_rl.experiments.report import write_experiment_report
from adascale_rl.experiments.store import CellStore
from adascale_rl.experiments.table import assemble_table

RESULTS_FILE = "results.parquet"
POLL_S = 0.25
#: rough per-cell cost order (training, then one episode per variant, then the oracle's 2 × variants
#: simulations per epoch, then one episode); anything else last
COST_ORDER = ("ppo", "best-static", "oracle")


def expected_cost_rank(job: CellJob) -> int:
    """Longest cells first, so the last wave of a grid is made of short cells and no slot idles long
    while one long cell finishes (the result table does not depend on the order)."""
    return COST_ORDER.index(job.controller) if job.controller in COST_ORDER else len(COST_ORDER)


@dataclass(frozen=True)
class GridOutcome:
    """What a grid run produced: the table (all finished cells), this run's failures, where it is."""

    table: pd.DataFrame
    computed: int
    skipped: int
    failures: dict[str, str]
    out_dir: Path
    report: Path


def execute(backend: Any, jobs: list[CellJob], on_change: Callable[[int], None] | None = None
            ) -> Iterator[CellResult]:
    """Run ``jobs`` keeping at most ``backend.slots`` in flight; yields each result as it finishes.

    ``on_change(running)`` is called whenever the number in flight changes. A backend exception for a
    cell (its worker died, its result did not come back) becomes that cell's failed result.
    """
    pending = deque(jobs)
    running: dict[Any, CellJob] = {}
    while pending or running:
        while pending and len(running) < backend.slots:
            job = pending.popleft()
            running[backend.submit(job)] = job
        if on_change is not None:
            on_change(len(running))
        for handle, outcome in backend.wait(list(running), timeout=POLL_S):
            job = running.pop(handle)
            if isinstance(outcome, BaseException):
                outcome = CellResult(job.key, None, f"{type(outcome).__name__}: {outcome}", 0.0)
            elif outcome.ok and outcome.package_version != __version__:
                outcome = CellResult(job.key, None, f"worker on {outcome.host} runs adascale-rl "
                                     f"{outcome.package_version}, this driver {__version__}: install the same "
                                     "version on every node", outcome.wall_s)
            yield outcome


def run_grid(grid: Grid, out_dir: str | Path, backend: Any, show_progress: bool = True,
             console: Console | None = None) -> GridOutcome:
    """Run every missing cell of ``grid`` on ``backend`` and write ``results.parquet`` + ``report/``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    console = console or Console(stderr=True)
    plan = plan_grid(grid)
    write_plan(plan, out / "plan.json")
    shutil.copyfile(grid.source, out / "grid.toml")
    store = CellStore(out)
    finished = store.finished()
    todo = sorted((job for key, job in plan.jobs.items() if key not in finished), key=expected_cost_rank)
    skipped = len(plan.jobs) - len(todo)
    console.print(f"grid '{grid.name}': {len(plan.entries)} entries, {len(plan.jobs)} distinct cells; "
                  f"{skipped} finished earlier, computing {len(todo)}")
    failures: dict[str, str] = {}
    if todo:  # nothing to compute: do not even start Ray
        _run_cells(backend, todo, plan, store, failures, console, show_progress)
    table = assemble_table(plan, store)
    table.to_parquet(out / RESULTS_FILE, index=False)
    report = write_experiment_report(out / "report", grid, plan, table, _failed_cells(plan, store))
    return GridOutcome(table, len(todo), skipped, failures, out, report)


def _run_cells(backend: Any, todo: list[CellJob], plan: Plan, store: CellStore, failures: dict[str, str],
               console: Console, show_progress: bool) -> None:
    """Run ``todo`` on ``backend`` with the live bar, storing each result as it arrives."""
    with backend:
        console.print(f"running on {backend.description}")
        if getattr(backend, "dashboard_url", ""):
            console.print(f"Ray dashboard: http://{backend.dashboard_url.removeprefix('http://')}")
        with progress_bar(console, show_progress) as progress:
            task = progress.add_task("", total=len(todo), ok=0, running=0, failed=0)

            def running(n: int) -> None:
                progress.update(task, running=n)

            for done, result in enumerate(execute(backend, todo, running), start=1):
                store.save(result)
                if not result.ok:
                    failures[result.key] = result.error
                    console.print(f"[red]cell {result.key} ({_describe(plan, result.key)}) failed:[/] "
                                  f"{result.error.splitlines()[0]}")
                progress.update(task, advance=1, ok=done - len(failures), failed=len(failures))
            progress.update(task, running=0)


def _describe(plan: Plan, key: str) -> str:
    job = plan.jobs[key]
    seed = f" seed {job.seed}" if job.seed is not None else ""
    return f"{job.scenario.name} {job.controller}{seed} on {', '.join(t.meta.name for t in job.test_traces)}"


def _failed_cells(plan: Plan, store: CellStore) -> dict[str, str]:
    """Cells not finished whose latest attempt failed (this run or an earlier one), with their errors."""
    finished = store.finished()
    failed = {}
    for key in plan.jobs:
        status = store.status(key)
        if key not in finished and status is not None and not status["ok"]:
            failed[f"{key} ({_describe(plan, key)})"] = status["error"]
    return failed


def progress_bar(console: Console, enabled: bool) -> Progress:
    """A live bar of cells done / running / failed (rich); a no-op when disabled."""
    return Progress(TextColumn("[bold]cells[/]"), BarColumn(),
                    TextColumn("{task.fields[ok]} done · {task.fields[running]} running · {task.fields[failed]} failed "
                               "· {task.total:.0f} to compute"), TimeElapsedColumn(), console=console,
                    disable=not enabled)
