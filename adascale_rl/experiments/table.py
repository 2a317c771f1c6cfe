"""The grid's tidy result table: one row per grid entry × episode, in grid order.

Columns: ``scenario``, ``trace_set``, ``fold`` (the test set: the trace set's name, or
``TRACE_SET/HELD_OUT`` for leave-one-out), ``controller``, ``seed`` (training seed; empty for the
seed-independent baselines), ``cell`` (content key), ``episode_index``, ``episode`` (the episode's
simulator seed), ``trace``, ``start``, ``length`` (epochs), ``total_reward``, ``score``, ``switches``,
then the evaluation summary's metrics per episode (``mean_reward``, ``accuracy``, ``p50_ms``, ``p95_ms``,
``budget_miss_pct``, ``energy_mj``, ``switches_per_hour``, ``epochs``; see
:mod:`adascale_rl.agents.evaluate`).

``score = (R − R_random) / (R_oracle − R_random)`` of the episode's total reward, where the random and
oracle controllers of the same test set played the same episode (NaN when either is not in the grid or
they tie). :func:`cell_scores` gives the score on totals over a cell's episodes, as the evaluation summary
computes it.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd

from adascale_rl.experiments.plan import Plan
from adascale_rl.experiments.store import CellStore

ENTRY_COLUMNS = ("scenario", "trace_set", "fold", "controller", "seed", "cell")
GROUP = ["scenario", "fold"]  # one test set: the same episodes for every controller


def assemble_table(plan: Plan, store: CellStore) -> pd.DataFrame:
    """The result table of every entry whose cell has finished (see module docstring)."""
    finished = store.finished()
    frames = {}
    parts = []
    for order, entry in enumerate(plan.entries):
        if entry.key not in finished:
            continue
        if entry.key not in frames:
            frames[entry.key] = store.load(entry.key)
        coordinates = {**asdict(entry), "cell": entry.key}
        coordinates.pop("key")
        part = frames[entry.key].assign(**coordinates, _order=order)
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=[*ENTRY_COLUMNS, "episode_index", "total_reward", "score"])
    table = pd.concat(parts, ignore_index=True)
    table["seed"] = table["seed"].astype("Int64")
    table["score"] = episode_scores(table)
    table = table.sort_values(["_order", "episode_index"], kind="stable").drop(columns="_order")
    metrics = [c for c in table.columns if c not in ENTRY_COLUMNS and c not in ("episode_index", "episode", "trace",
                                                                                  "start", "length", "total_reward",
                                                                                  "score")]
    ordered = [*ENTRY_COLUMNS, "episode_index", "episode", "trace", "start", "length", "total_reward", "score",
               *metrics]
    return table[ordered].reset_index(drop=True)


def _reference(table: pd.DataFrame, name: str, keys: list[str], value: str) -> pd.Series:
    rows = table[table["controller"] == name].drop_duplicates(keys)
    return rows.set_index(keys)[value]


def episode_scores(table: pd.DataFrame) -> pd.Series:
    """Per row: the episode's total reward scored between the random (0) and oracle (1) controllers."""
    keys = [*GROUP, "episode_index"]
    return _score(table, keys, "total_reward")


def cell_scores(table: pd.DataFrame) -> pd.DataFrame:
    """One row per entry (scenario, fold, controller, seed): total reward over its episodes and the score
    on totals, with the episode-mean of every other metric."""
    entry = ["scenario", "trace_set", "fold", "controller", "seed"]
    numeric = [c for c in table.select_dtypes("number").columns if c not in ("seed", "episode_index", "episode",
                                                                              "start", "score", "total_reward")]
    grouped = table.groupby(entry, sort=False, dropna=False)
    cells = grouped[numeric].mean().join(grouped["total_reward"].sum()).join(grouped.size().rename("episodes"))
    cells = cells.reset_index()
    cells["score"] = _score(cells, GROUP, "total_reward")
    return cells


def _score(table: pd.DataFrame, keys: list[str], value: str) -> pd.Series:
    index = pd.MultiIndex.from_frame(table[keys])
    random = _reference(table, "random", keys, value).reindex(index).to_numpy(dtype=float)
    oracle = _reference(table, "oracle", keys, value).reindex(index).to_numpy(dtype=float)
    span = oracle - random
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(span > 0, (table[value].to_numpy(dtype=float) - random) / span, np.nan)
    return pd.Series(score, index=table.index)
