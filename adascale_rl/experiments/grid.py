"""Experiment grid files: scenarios × trace sets × controllers × training seeds, played on fixed episodes.

A grid is a TOML file (paths in it are relative to the file)::

    name = "pixel4-seeds"                          # report title (default: the file name)
    scenarios = ["pixel4"]                         # bundled names or scenario TOML paths
    controllers = ["ppo", "greedy", "best-static", "static-full", "random", "oracle"]  # or static:VARIANT_ID
    seeds = [0, 1, 2]                              # training seeds: one PPO cell per seed

    [episodes]                                     # the same episodes for every controller of a test set
    count = 8                                      # seeded random segments of the test traces
    length = 300                                   # epochs per segment (default: the scenario's)
    seed = 2024                                    # segment choice and simulator seeds
    # full = true                                  # play every test trace whole instead (count/length unused)

    [training]                                     # PPO cells only (all optional)
    timesteps = 50000                              # default: the hyperparameter file's n_timesteps
    hyperparams = "my_hyperparams.yml"             # default: the bundled maskable_ppo.yml
    eval_freq = 10000                              # validation interval (best-model selection)
    [training.overrides]                           # single hyperparameters replaced
    n_envs = 1

    [[trace_sets]]                                 # test on a bundled split, train on the scenario's train split
    name = "bundled"
    split = "test"

    [[trace_sets]]                                 # explicit traces: bundled names or canonical CSV paths
    name = "mine"
    train = ["rpi4b8gb_1800mhz_pattern_6h"]
    test = ["rpi4b4gb_1200mhz_pattern_12h", "traces/phone.csv"]

    [[trace_sets]]                                 # one fold per name: test on it, train on the others
    name = "lobo"
    leave_one_out = ["rpi4b8gb_1800mhz_pattern_6h", "rpi4b2gb_800mhz_pattern_12h", "rpi4b4gb_1200mhz_pattern_12h"]

    [[trace_sets]]                                 # one fold per bundled board: test on all its recordings,
    name = "boards"                                # train on every other board's (the manifest's `board`)
    leave_one_board_out = true

Every trace set becomes one or more :class:`Fold` (a named train/test assignment); loading checks every
key and value and raises :class:`~adascale_rl.errors.DataError` naming the file, the key and the value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adascale_rl._toml import load_toml, require
from adascale_rl.agents.factory import CONTROLLER_NAMES
from adascale_rl.agents.ppo import PPO_KEYS, RUN_KEYS
from adascale_rl.errors import DataError
from adascale_rl.traces.manifest import SPLITS, boards

TOP_KEYS = ("name", "scenarios", "controllers", "seeds", "episodes", "training", "trace_sets")
EPISODE_KEYS = ("count", "length", "seed", "full")
TRAINING_KEYS = ("timesteps", "hyperparams", "eval_freq", "overrides")
TRACE_SET_KEYS = ("name", "split", "train", "test", "leave_one_out", "leave_one_board_out")


@dataclass(frozen=True)
class TraceSelection:
    """Traces for one side of a fold: a bundled split, or bundled trace names / absolute CSV paths."""

    split: str | None = None
    refs: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"split {self.split}" if self.split else ", ".join(Path(ref).stem if ref.endswith(".csv") else ref
                                                                  for ref in self.refs)


@dataclass(frozen=True)
class Fold:
    """One train/test assignment. ``train`` None means the scenario's own train split."""

    trace_set: str
    name: str
    test: TraceSelection
    train: TraceSelection | None = None


@dataclass(frozen=True)
class EpisodeSettings:
    """Which episodes every controller plays on a test set (see :func:`~adascale_rl.agents.evaluate.episode_specs`)."""

    count: int | None = 8  # None: every test trace whole
    length: int | None = None  # None: the scenario's episode_epochs
    seed: int = 2024

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "length": self.length, "seed": self.seed}


@dataclass(frozen=True)
class TrainingSettings:
    """How PPO cells train (``None``: the hyperparameter file's value)."""

    timesteps: int | None = None
    hyperparams: Path | None = None
    eval_freq: int = 10_000
    overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Grid:
    """A parsed grid file (see the module docstring)."""

    name: str
    source: Path
    scenarios: tuple[str, ...]
    controllers: tuple[str, ...]
    seeds: tuple[int, ...]
    folds: tuple[Fold, ...]
    episodes: EpisodeSettings = EpisodeSettings()
    training: TrainingSettings = TrainingSettings()


def leave_one_out(trace_set: str, groups: Mapping[str, Sequence[str]]) -> list[Fold]:
    """One fold per group: test on that group's traces, train on every other group's.

    ``groups`` maps a label to trace references (today one trace per label; grouping the traces of one
    board under its label gives leave-one-board-out). Fold names are ``TRACE_SET/LABEL``.
    """
    if len(groups) < 2:
        raise ValueError(f"trace set {trace_set!r}: leave-one-out needs at least 2 groups, got {len(groups)}")
    folds = []
    for label, held_out in groups.items():
        rest = tuple(ref for other, refs in groups.items() if other != label for ref in refs)
        folds.append(Fold(trace_set, f"{trace_set}/{label}", TraceSelection(refs=tuple(held_out)),
                          TraceSelection(refs=rest)))
    return folds


def load_grid(path: str | Path) -> Grid:
    """Read and check a grid file; every error names the file, the key and the value."""
    path = Path(path)
    doc = load_toml(path)
    _check_keys(doc, TOP_KEYS, path, "top level")
    base = path.parent
    scenarios = tuple(_scenario_ref(ref, base) for ref in _strings(doc, "scenarios", path))
    controllers = tuple(_strings(doc, "controllers", path))
    for name in controllers:
        if name not in CONTROLLER_NAMES and not name.startswith("static:"):
            raise DataError(path, "unknown controller in 'controllers'", value=name,
                            expected=f"{', '.join(CONTROLLER_NAMES)} or static:VARIANT_ID")
    seeds = tuple(_seeds(doc, path, needed="ppo" in controllers))
    sets = doc.get("trace_sets")
    if not isinstance(sets, list) or not sets or not all(isinstance(s, dict) for s in sets):
        raise DataError(path, "missing or malformed [[trace_sets]]", expected="at least one [[trace_sets]] table")
    folds = [fold for index, table in enumerate(sets) for fold in _folds(table, f"{path} [[trace_sets]] #{index + 1}",
                                                                          base)]
    names = [fold.name for fold in folds]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise DataError(path, "duplicated trace set / fold name(s)", value=duplicated, expected="unique names")
    return Grid(name=doc.get("name", path.stem), source=path, scenarios=scenarios, controllers=controllers,
                seeds=seeds, folds=tuple(folds), episodes=_episodes(doc.get("episodes", {}), path),
                training=_training(doc.get("training", {}), path, base))


def _check_keys(table: Any, known: Sequence[str], source: str | Path, where: str) -> None:
    if not isinstance(table, dict):
        raise DataError(source, f"{where} must be a table", value=table)
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise DataError(source, f"unknown key(s) {', '.join(unknown)} in {where}", expected=", ".join(known))


def _strings(doc: dict, key: str, source: str | Path) -> list[str]:
    values = require(doc, key, list, source)
    if not values or not all(isinstance(v, str) and v for v in values):
        raise DataError(source, f"key '{key}' must be a non-empty list of strings", value=values)
    if len(set(values)) != len(values):
        raise DataError(source, f"key '{key}' lists a value twice", value=values)
    return values


def _seeds(doc: dict, source: Path, needed: bool) -> list[int]:
    if "seeds" not in doc:
        if needed:
            raise DataError(source, "missing key 'seeds'", expected="a list of training seeds for the ppo cells")
        return []
    seeds = doc["seeds"]
    if (not isinstance(seeds, list) or not seeds or len(set(seeds)) != len(seeds)
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
        raise DataError(source, "key 'seeds' must be a non-empty list of distinct non-negative integers", value=seeds)
    return seeds


def _positive_int(table: dict, key: str, source: str | Path, where: str) -> int | None:
    if key not in table:
        return None
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DataError(source, f"{where} '{key}' must be a positive integer", value=value)
    return value


def _episodes(table: Any, source: Path) -> EpisodeSettings:
    _check_keys(table, EPISODE_KEYS, source, "[episodes]")
    full = table.get("full", False)
    if not isinstance(full, bool):
        raise DataError(source, "[episodes] 'full' must be true or false", value=full)
    seed = table.get("seed", EpisodeSettings.seed)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DataError(source, "[episodes] 'seed' must be a non-negative integer", value=seed)
    count = _positive_int(table, "count", source, "[episodes]")
    length = _positive_int(table, "length", source, "[episodes]")
    if full:
        return EpisodeSettings(None, None, seed)
    return EpisodeSettings(count if count is not None else EpisodeSettings.count, length, seed)


def _training(table: Any, source: Path, base: Path) -> TrainingSettings:
    _check_keys(table, TRAINING_KEYS, source, "[training]")
    hyperparams = None
    if "hyperparams" in table:
        hyperparams = base / require(table, "hyperparams", str, source)
        if not hyperparams.is_file():
            raise DataError(source, "[training] 'hyperparams' file not found", value=str(hyperparams))
    overrides = table.get("overrides", {})
    _check_keys(overrides, PPO_KEYS + RUN_KEYS, source, "[training.overrides]")
    return TrainingSettings(timesteps=_positive_int(table, "timesteps", source, "[training]"), hyperparams=hyperparams,
                            eval_freq=_positive_int(table, "eval_freq", source, "[training]") or 10_000,
                            overrides=dict(overrides))


def _scenario_ref(ref: str, base: Path) -> str:
    return str((base / ref).resolve()) if ref.endswith(".toml") else ref


def _trace_ref(ref: Any, base: Path, where: str) -> str:
    """A bundled trace name as is; a ``.csv`` path made absolute (it must exist)."""
    if not isinstance(ref, str) or not ref:
        raise DataError(where, "a trace reference must be a non-empty string", value=ref)
    if not ref.endswith(".csv"):
        return ref
    path = (base / ref).resolve()
    if not path.is_file():
        raise DataError(where, "trace file not found", value=str(path), expected="a canonical trace CSV")
    return str(path)


def _refs(table: dict, key: str, where: str, base: Path) -> tuple[str, ...]:
    refs = table[key]
    if not isinstance(refs, list) or not refs:
        raise DataError(where, f"'{key}' must be a non-empty list of trace names or CSV paths", value=refs)
    resolved = tuple(_trace_ref(ref, base, where) for ref in refs)
    if len(set(resolved)) != len(resolved):
        raise DataError(where, f"'{key}' lists a trace twice", value=refs)
    return resolved


def _folds(table: dict, where: str, base: Path) -> list[Fold]:
    _check_keys(table, TRACE_SET_KEYS, where, "[[trace_sets]]")
    name = require(table, "name", str, where)
    if not name or "/" in name:
        raise DataError(where, "'name' must be a non-empty string without '/'", value=name)
    kinds = [key for key in ("split", "test", "leave_one_out", "leave_one_board_out") if key in table]
    if len(kinds) != 1 or ("train" in table and kinds != ["test"]):
        raise DataError(where, f"trace set {name!r} must have exactly one of 'split', 'test' (with optional "
                        "'train'), 'leave_one_out' or 'leave_one_board_out'", value=sorted(table))
    if kinds == ["leave_one_board_out"]:
        if table["leave_one_board_out"] is not True:
            raise DataError(where, "'leave_one_board_out' must be true", value=table["leave_one_board_out"])
        return leave_one_out(name, {board: [entry.name for entry in entries] for board, entries in boards().items()})
    if kinds == ["split"]:
        split = require(table, "split", str, where)
        if split not in SPLITS:
            raise DataError(where, "unknown split", value=split, expected=" or ".join(SPLITS))
        return [Fold(name, name, TraceSelection(split=split))]
    if kinds == ["test"]:
        train = TraceSelection(refs=_refs(table, "train", where, base)) if "train" in table else None
        return [Fold(name, name, TraceSelection(refs=_refs(table, "test", where, base)), train)]
    refs = _refs(table, "leave_one_out", where, base)
    try:
        return leave_one_out(name, {Path(ref).stem if ref.endswith(".csv") else ref: [ref] for ref in refs})
    except ValueError as exc:
        raise DataError(where, str(exc), value=list(refs)) from None
