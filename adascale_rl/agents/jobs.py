"""The end-to-end jobs behind the CLI: evaluate controllers into a report, and the quick start."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from adascale_rl.agents.evaluate import episode_specs, evaluate, summarize
from adascale_rl.agents.factory import build_controllers
from adascale_rl.agents.report import write_report
from adascale_rl.envs.adascale_env import AdaScaleEnv
from adascale_rl.scenario import Scenario
from adascale_rl.traces import Trace


@dataclass(frozen=True)
class EvaluationResult:
    summary: pd.DataFrame
    records: pd.DataFrame
    report_dir: Path | None


def run_evaluation(scenario: Scenario, controller_names: list[str], policy: str | Path | None = None,
                   split: str | None = None, traces: list[Trace] | None = None, episodes: int | None = 8,
                   episode_epochs: int | None = None, seed: int = 2024, out_dir: str | Path | None = None,
                   show_progress: bool = True) -> EvaluationResult:
    """Evaluate controllers on the same episodes of a split (or explicit traces) and write a report.

    ``episodes=None`` plays every trace whole; otherwise seeded random segments of ``episode_epochs``.
    """
    env = AdaScaleEnv(scenario, split=split or scenario.test_split, mode="eval", traces=traces)
    controllers = build_controllers(controller_names, env.contract, policy, seed)
    specs = episode_specs(env, episodes, episode_epochs, seed)
    with Progress(TextColumn("[bold]evaluate[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), disable=not show_progress) as progress:
        task = progress.add_task("", total=len(controllers) * len(specs))

        def advance(name: str, _spec) -> None:
            progress.update(task, advance=1, description=name)

        records = evaluate(env, controllers, specs, progress=advance)
    summary = summarize(records, scenario)
    report = None
    if out_dir is not None:
        meta = {"scenario": scenario.name, "scenario_digest": scenario.digest(), "policy": str(policy),
                "traces": [t.meta.name for t in env.source.traces], "episodes": len(specs), "seed": seed,
                "controllers": controller_names}
        report = write_report(out_dir, scenario, summary, records, meta)
    return EvaluationResult(summary, records, report)
