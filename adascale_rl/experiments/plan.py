"""From a grid to independent cell jobs, each keyed by a content hash so finished work is never redone.

A *cell* is one computation: a controller (trained first, for PPO) played on one test set's episodes.
An *entry* is one grid coordinate (scenario, fold, controller, seed) pointing at the cell that computes
it. Baselines do not depend on the training seed, so every seed's entry of a baseline points at the same
cell; cells whose content is identical (same key) are computed once.

The key is a SHA-256 over everything that changes a cell's result: the scenario's digest (settings,
device profile and catalog content) and its full ``to_dict()`` (so new scenario fields are covered
without touching this module), the controller, the training seed (PPO only), the content of the test
traces (and of the train traces for controllers that learn or choose on them), the episode settings,
the resolved hyperparameters and timesteps (PPO only) and the package version. It does not cover code
changes within one package version: write to a fresh ``--out`` after changing the simulator.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from adascale_rl import __version__
from adascale_rl.agents.ppo import load_hyperparams
from adascale_rl.experiments.grid import EpisodeSettings, Fold, Grid, TraceSelection
from adascale_rl.scenario import Scenario, get_scenario
from adascale_rl.traces import Trace, find_entry, load_split, load_trace
from adascale_rl.traces.schema import COLUMNS

KEY_VERSION = 1
#: controllers whose result depends on the fold's train traces (learned on them / chosen on them)
USES_TRAIN_TRACES = ("ppo", "best-static")
#: controllers whose result depends on the training seed
SEEDED = ("ppo",)


@dataclass(frozen=True)
class TrainingJob:
    """What a PPO cell trains with: resolved hyperparameters (RL-Zoo keys, ``n_envs`` included)."""

    hyperparams: dict[str, Any]
    timesteps: int
    eval_freq: int

    def yaml_for(self, scenario_name: str) -> str:
        """The hyperparameter file :func:`~adascale_rl.agents.ppo.train` reads."""
        return yaml.safe_dump({scenario_name: self.hyperparams}, sort_keys=False)


@dataclass(frozen=True)
class CellJob:
    """Everything a worker needs, by value (no paths into the driver's file system, so cells can run
    on other machines): the scenario with its profile and catalog loaded, and the traces themselves."""

    key: str
    eval_key: str  # the cells that share this played the same episodes (score reference)
    controller: str
    seed: int | None
    scenario: Scenario
    test_traces: tuple[Trace, ...]
    train_traces: tuple[Trace, ...]
    episodes: EpisodeSettings
    training: TrainingJob | None


@dataclass(frozen=True)
class Entry:
    """One grid coordinate and the cell that computes it."""

    scenario: str
    trace_set: str
    fold: str
    controller: str
    seed: int | None
    key: str


@dataclass(frozen=True)
class Plan:
    """Entries in grid order and the distinct jobs they need (by key, first-seen order)."""

    entries: tuple[Entry, ...]
    jobs: dict[str, CellJob]


def trace_digest(trace: Trace) -> str:
    """SHA-256 of a trace's name and values (NaN patterns included): its identity in cell keys."""
    digest = hashlib.sha256(trace.meta.name.encode())
    for name in COLUMNS:
        digest.update(b"\0" + np.ascontiguousarray(trace.column(name)).tobytes())
    return digest.hexdigest()


def content_key(payload: dict[str, Any]) -> str:
    """Short content hash of a JSON-able payload (sorted keys; 20 hex digits)."""
    text = json.dumps({"key_version": KEY_VERSION, "package": __version__, **payload}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


class TraceLoader:
    """Loads each referenced trace once (bundled name, CSV path or manifest split)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[Trace, ...]] = {}

    def select(self, selection: TraceSelection) -> tuple[Trace, ...]:
        if selection.split is not None:
            return self._load(f"split:{selection.split}", lambda: tuple(load_split(selection.split)))
        return tuple(trace for ref in selection.refs for trace in self._load(ref, lambda r=ref: (_load_ref(r),)))

    def _load(self, cache_key: str, load) -> tuple[Trace, ...]:
        if cache_key not in self._cache:
            self._cache[cache_key] = load()
        return self._cache[cache_key]


def _load_ref(ref: str) -> Trace:
    return load_trace(ref) if ref.endswith(".csv") else find_entry(ref).load()


def resolve_training(grid: Grid, scenario: Scenario) -> TrainingJob:
    """Hyperparameters of ``scenario`` from the grid's file (or the bundled one) with its overrides."""
    params = load_hyperparams(scenario.name, grid.training.hyperparams)
    params.update(grid.training.overrides)
    timesteps = grid.training.timesteps or int(params.pop("n_timesteps", 100_000))
    params.pop("n_timesteps", None)
    return TrainingJob(params, timesteps, grid.training.eval_freq)


def plan_grid(grid: Grid) -> Plan:
    """Every entry of the grid and the distinct cell jobs behind them."""
    loader = TraceLoader()
    entries: list[Entry] = []
    jobs: dict[str, CellJob] = {}
    for scenario_ref in grid.scenarios:
        scenario = get_scenario(scenario_ref)
        _ = scenario.profile, scenario.table  # load now: jobs carry them to workers by value
        _check_static_controllers(grid, scenario)
        training = resolve_training(grid, scenario) if "ppo" in grid.controllers else None
        for fold in grid.folds:
            test, train = _fold_traces(loader, fold, scenario)
            base = {"scenario_digest": scenario.digest(), "scenario": scenario.to_dict(),
                    "test": [trace_digest(t) for t in test], "episodes": grid.episodes.to_dict()}
            eval_key = content_key(base)
            for controller in grid.controllers:
                for seed in grid.seeds if controller in SEEDED else (None,):
                    payload = {**base, "controller": controller, "seed": seed,
                               "train": [trace_digest(t) for t in train] if controller in USES_TRAIN_TRACES else None}
                    if controller == "ppo":
                        payload["training"] = {"hyperparams": training.hyperparams, "timesteps": training.timesteps,
                                               "eval_freq": training.eval_freq}
                    key = content_key(payload)
                    entries.append(Entry(scenario.name, fold.trace_set, fold.name, controller, seed, key))
                    if key not in jobs:
                        jobs[key] = CellJob(key, eval_key, controller, seed, scenario, test,
                                            train if controller in USES_TRAIN_TRACES else (), grid.episodes,
                                            training if controller == "ppo" else None)
    return Plan(tuple(entries), jobs)


def _fold_traces(loader: TraceLoader, fold: Fold, scenario: Scenario) -> tuple[tuple[Trace, ...], tuple[Trace, ...]]:
    test = loader.select(fold.test)
    train = loader.select(fold.train or TraceSelection(split=scenario.train_split))
    names = {t.meta.name for t in test} & {t.meta.name for t in train}
    if names:
        raise ValueError(f"fold {fold.name!r}: trace(s) {', '.join(sorted(names))} are in both its train and test "
                         "traces; a controller must be tested on traces it was not trained on")
    return test, train


def _check_static_controllers(grid: Grid, scenario: Scenario) -> None:
    for name in grid.controllers:
        if name.startswith("static:") and name.split(":", 1)[1] not in set(scenario.table.variant_id):
            raise ValueError(f"{grid.source}: controller {name!r}: scenario {scenario.name!r} has no variant "
                             f"{name.split(':', 1)[1]!r} (see `adascale-rl catalog show {scenario.catalog}`)")


def describe_plan(plan: Plan) -> dict[str, Any]:
    """Plain data written beside the results (which entry is which cell)."""
    return {"entries": [asdict(entry) for entry in plan.entries],
            "cells": {key: {"controller": job.controller, "seed": job.seed, "scenario": job.scenario.name,
                            "test": [t.meta.name for t in job.test_traces],
                            "train": [t.meta.name for t in job.train_traces]} for key, job in plan.jobs.items()}}


def write_plan(plan: Plan, path: Path) -> None:
    path.write_text(json.dumps(describe_plan(plan), indent=2) + "\n", encoding="utf-8")
