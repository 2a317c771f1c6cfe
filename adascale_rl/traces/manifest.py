"""The bundled trace manifest: which real traces ship, their devices, and the train/test split."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from adascale_rl._resources import data_path
from adascale_rl._toml import load_toml, require
from adascale_rl.errors import DataError
from adascale_rl.traces.importers import FORMATS, import_trace
from adascale_rl.traces.io import load_trace
from adascale_rl.traces.schema import Trace, TraceMeta

SPLITS = ("train", "test")


@dataclass(frozen=True)
class TraceEntry:
    """One manifest record: a trace file plus what is known about the device that recorded it."""

    name: str
    path: Path
    format: str
    device: str
    cores: int
    max_mhz: float
    ram_mb: float
    period_s: float
    split: str
    source: str
    license: str
    board: str = ""  # which physical device recorded it: recordings of one board share it (default: name)

    def load(self) -> Trace:
        """Load (and, for a non-canonical format, import) the trace with this entry's metadata."""
        meta = TraceMeta(name=self.name, device=self.device, source=self.source, license=self.license,
                         cores=self.cores, max_mhz=self.max_mhz, ram_mb=self.ram_mb)
        if self.format == "canonical":
            return replace(load_trace(self.path), meta=meta)
        return import_trace(self.path, self.format, max_mhz=self.max_mhz, meta=meta)


def default_manifest_path() -> Path:
    """The manifest bundled with the package."""
    return data_path("traces", "manifest.toml")


def load_manifest(path: str | Path | None = None) -> list[TraceEntry]:
    """Parse a manifest, checking every field's type and that the referenced files exist."""
    path = Path(path) if path is not None else default_manifest_path()
    document = load_toml(path)
    records = document.get("trace")
    if not isinstance(records, list) or not records:
        raise DataError(path, "no [[trace]] entries", expected="at least one [[trace]] table")
    entries = []
    for index, record in enumerate(records):
        where = f"{path} [[trace]] #{index + 1}"
        fmt = require(record, "format", str, where)
        if fmt not in (*FORMATS, "canonical"):
            raise DataError(where, "unknown format", value=fmt, expected=f"canonical or {', '.join(FORMATS)}")
        split = require(record, "split", str, where)
        if split not in SPLITS:
            raise DataError(where, "unknown split", value=split, expected=" or ".join(SPLITS))
        file_path = path.parent / require(record, "file", str, where)
        if not file_path.is_file():
            raise DataError(where, "trace file not found", value=str(file_path))
        entries.append(TraceEntry(
            name=require(record, "name", str, where), path=file_path, format=fmt,
            device=require(record, "device", str, where), cores=require(record, "cores", int, where),
            max_mhz=float(require(record, "max_mhz", (int, float), where)),
            ram_mb=float(require(record, "ram_mb", (int, float), where)),
            period_s=float(require(record, "period_s", (int, float), where)), split=split,
            source=require(record, "source", str, where), license=require(record, "license", str, where),
            board=_board(record, where),
        ))
    names = [entry.name for entry in entries]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise DataError(path, f"duplicated trace name(s) {', '.join(duplicated)}")
    return entries


def _board(record: dict, where: str) -> str:
    """The optional ``board`` label (recordings of one device share it; leave-one-board-out holds them out
    together); default: the entry's own name, i.e. a board of its own."""
    board = record.get("board", record.get("name"))
    if not isinstance(board, str) or not board:
        raise DataError(where, "'board' must be a non-empty string", value=board,
                        expected="a label shared by the recordings of one device")
    return board


def boards(manifest: str | Path | None = None) -> dict[str, list[TraceEntry]]:
    """Manifest entries grouped by board, in manifest order (the unit that leave-one-board-out holds out)."""
    grouped: dict[str, list[TraceEntry]] = {}
    for entry in load_manifest(manifest):
        grouped.setdefault(entry.board, []).append(entry)
    return grouped


def split_entries(split: str, manifest: str | Path | None = None) -> list[TraceEntry]:
    """Manifest entries of one split (``train`` or ``test``)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return [entry for entry in load_manifest(manifest) if entry.split == split]


def load_split(split: str, manifest: str | Path | None = None) -> list[Trace]:
    """All traces of one split, loaded and validated."""
    return [entry.load() for entry in split_entries(split, manifest)]


def find_entry(name: str, manifest: str | Path | None = None) -> TraceEntry:
    """The manifest entry called ``name`` (error lists the known names)."""
    entries = load_manifest(manifest)
    for entry in entries:
        if entry.name == name:
            return entry
    raise KeyError(f"no bundled trace named {name!r}; known: {', '.join(e.name for e in entries)}")
