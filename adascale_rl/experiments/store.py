"""Where finished cells live, so an interrupted grid resumes where it stopped.

Layout under the output folder::

    cells/KEY.parquet   per-episode rows of a finished cell (written last, atomically: its presence
                        means the cell is done)
    cells/KEY.json      status of the latest attempt: ok or the error, wall time, host, pid, version
    runs/KEY/           the PPO run folder of a PPO cell (model.zip, best_model.zip, run.json, tb/ …)

A failed cell has a ``.json`` with its error and no ``.parquet``, so the next run retries it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pandas as pd

from adascale_rl.experiments.cells import CellResult


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename: a reader (or a resumed run) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class CellStore:
    """Finished and failed cells of one output folder (see module docstring)."""

    def __init__(self, out_dir: str | Path) -> None:
        self.root = Path(out_dir)
        self.cells = self.root / "cells"
        self.runs = self.root / "runs"
        self.cells.mkdir(parents=True, exist_ok=True)

    def finished(self) -> set[str]:
        """Keys of every cell whose results are stored."""
        return {path.stem for path in self.cells.glob("*.parquet")}

    def save(self, result: CellResult) -> None:
        """Store a result: run files first, then the status, then (if it succeeded) the rows."""
        for relative, data in result.run_files.items():
            atomic_write(self.runs / result.key / relative, data)
        status = {"key": result.key, "ok": result.ok, "error": result.error, "wall_s": round(result.wall_s, 3),
                  "cpu_s": round(result.cpu_s, 3),
                  "host": result.host, "pid": result.pid, "package_version": result.package_version,
                  "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        atomic_write(self.cells / f"{result.key}.json", (json.dumps(status, indent=2) + "\n").encode())
        if result.ok:
            tmp = self.cells / f".{result.key}.{os.getpid()}.parquet.tmp"
            result.episodes.to_parquet(tmp, index=False)
            os.replace(tmp, self.cells / f"{result.key}.parquet")

    def load(self, key: str) -> pd.DataFrame:
        return pd.read_parquet(self.cells / f"{key}.parquet")

    def status(self, key: str) -> dict | None:
        path = self.cells / f"{key}.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
