"""The end-to-end jobs behind the CLI: evaluate controllers into a report, and the quick start."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from adascale_rl.agents.evaluate import (
    CHANGE_SHARE,
    count_state_change_episodes,
    episode_notes,
    episode_specs,
    evaluate,
    score_unavailable_reason,
    summarize,
)
from adascale_rl.agents.factory import build_controllers
from adascale_rl.agents.report import write_report
from adascale_rl.envs.adascale_env import AdaScaleEnv
from adascale_rl.scenario import Scenario
from adascale_rl.traces import Trace, load_manifest


@dataclass(frozen=True)
class EvaluationResult:
    """The summary table, the per-epoch records, the report folder (None if not written), and the notes
    a reader needs to read the numbers (short traces played whole, state-change coverage, why a score is
    missing) — the CLI prints them and the report repeats them."""

    summary: pd.DataFrame
    records: pd.DataFrame
    report_dir: Path | None
    notes: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)


def run_evaluation(scenario: Scenario, controller_names: list[str], policy: str | Path | None = None,
                   split: str | None = None, traces: list[Trace] | None = None, episodes: int | None = 8,
                   episode_epochs: int | None = None, seed: int = 2024, out_dir: str | Path | None = None,
                   show_progress: bool = True, change_share: float = CHANGE_SHARE) -> EvaluationResult:
    """Evaluate controllers on the same episodes of a split (or explicit traces) and write a report.

    ``episodes=None`` plays every trace whole; otherwise seeded segments of ``episode_epochs``, a
    ``change_share`` of them placed on a state change, and traces shorter than a segment whole
    (:func:`adascale_rl.agents.evaluate.episode_specs`).
    """
    env = AdaScaleEnv(scenario, split=split or scenario.test_split, mode="eval", traces=traces)
    controllers = build_controllers(controller_names, env.contract, policy, seed)
    specs = episode_specs(env, episodes, episode_epochs, seed, change_share)
    with Progress(TextColumn("[bold]evaluate[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), disable=not show_progress) as progress:
        task = progress.add_task("", total=len(controllers) * len(specs))

        def advance(name: str, _spec) -> None:
            progress.update(task, advance=1, description=name)

        records = evaluate(env, controllers, specs, progress=advance)
    summary = summarize(records, scenario)
    share = None if episodes is None else change_share
    notes = episode_notes(env, specs, episode_epochs, share)
    score_note = score_unavailable_reason(records)
    if score_note is not None:
        notes.append(f"score is NaN: {score_note}")
    trained_on = policy_training_traces(policy) if policy is not None and "ppo" in controller_names else None
    boards = board_coverage(trained_on, env.source.traces) if trained_on is not None else None
    if boards is not None:
        notes.append(boards["note"])
    meta = {"scenario": scenario.name, "scenario_digest": scenario.digest(), "policy": str(policy),
            "policy_training_boards": boards and boards["trained"], "unseen_boards": boards and boards["unseen"],
            "traces": [t.meta.name for t in env.source.traces], "episodes": len(specs), "seed": seed,
            "controllers": controller_names, "whole_traces": episodes is None, "change_share": share,
            "episodes_with_state_change": count_state_change_episodes(env, specs), "score_unavailable": score_note,
            "episode_specs": [asdict(spec) for spec in specs], "notes": notes}
    report = write_report(out_dir, scenario, summary, records, meta) if out_dir is not None else None
    return EvaluationResult(summary, records, report, notes, meta)


def policy_training_traces(policy: str | Path) -> list[str] | None:
    """Names of the traces a PPO policy was trained on, from its run record (``run.json`` of a training
    run, ``training_run.json`` beside an exported policy); None when no record names them."""
    path = Path(policy)
    folder = path if path.is_dir() else path.parent
    for record in (folder / "run.json", folder / "training_run.json"):
        if record.is_file():
            traces = json.loads(record.read_text(encoding="utf-8")).get("traces")
            return [str(name) for name in traces] if isinstance(traces, list) else None
    return None


def board_coverage(trained_on: list[str], evaluated: list[Trace]) -> dict:
    """Which evaluated boards the policy saw in training, by the manifest's ``board`` (a trace that is
    not bundled counts as a board of its own): ``trained``, ``unseen``, ``seen`` and a ``note``."""
    board_of = {entry.name: entry.board for entry in load_manifest()}
    trained = list(dict.fromkeys(board_of.get(name, name) for name in trained_on))
    tested = list(dict.fromkeys(board_of.get(trace.meta.name, trace.meta.name) for trace in evaluated))
    unseen = [board for board in tested if board not in trained]
    seen = [board for board in tested if board in trained]
    note = (f"PPO was trained on board(s) {', '.join(trained)}; evaluated board(s) it never saw: "
            f"{', '.join(unseen) or 'none'}")
    if seen:
        note += f"; evaluated board(s) it saw in training: {', '.join(seen)}"
    return {"trained": trained, "unseen": unseen, "seen": seen, "note": note}
