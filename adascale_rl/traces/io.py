"""Load and save traces in the canonical CSV schema (see :mod:`adascale_rl.traces.schema`)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from adascale_rl.errors import DataError
from adascale_rl.traces.csvio import RawTable, read_raw, write_csv
from adascale_rl.traces.schema import COLUMNS, NUMERIC_COLUMNS, STATE_COLUMN, Trace, TraceMeta
from adascale_rl.traces.validation import DEFAULT_MAX_GAP_S, check_header, check_time, parse_numeric


def load_trace(path: str | Path, *, max_gap_s: float | None = DEFAULT_MAX_GAP_S) -> Trace:
    """Read and validate a canonical trace CSV.

    Raises :class:`DataError` naming file, line, column, value and expectation for: a missing or empty
    file, missing/unknown columns, non-numeric cells, NaN/inf where not allowed, time that does not
    strictly increase, gaps longer than ``max_gap_s`` seconds, and values outside physical ranges.
    """
    raw = read_raw(path)
    check_header(raw.header, COLUMNS, raw.path, raw.header_line)
    columns: dict[str, np.ndarray] = {
        spec.name: parse_numeric(raw.columns[spec.name], spec, raw.path, raw.first_line)
        for spec in NUMERIC_COLUMNS
    }
    check_time(columns["t_s"], "t_s", raw.path, raw.first_line, max_gap_s)
    columns[STATE_COLUMN] = np.asarray([cell.strip() for cell in raw.columns[STATE_COLUMN]], dtype=str)
    return Trace.from_columns(columns, meta_from_header(raw))


def meta_from_header(raw: RawTable) -> TraceMeta:
    """Trace metadata from the file's ``# key: value`` lines (name defaults to the file stem)."""
    meta = raw.metadata

    def number(key: str) -> float | None:
        if key not in meta:
            return None
        try:
            value = float(meta[key])
        except ValueError:
            raise DataError(raw.path, f"metadata '{key}' is not a number", value=meta[key]) from None
        if not math.isfinite(value) or value <= 0:
            raise DataError(raw.path, f"metadata '{key}' must be positive", value=meta[key])
        return value

    cores = number("cores")
    if cores is not None and cores != int(cores):
        raise DataError(raw.path, "metadata 'cores' is not a whole number", value=meta["cores"],
                        expected="a positive integer")
    notes = tuple(note.strip() for note in meta.get("notes", "").split(";") if note.strip())
    return TraceMeta(
        name=meta.get("name", raw.path.stem),
        device=meta.get("device", "unknown"),
        source=meta.get("source", ""),
        license=meta.get("license", ""),
        cores=int(cores) if cores is not None else None,
        max_mhz=number("max_mhz"),
        ram_mb=number("ram_mb"),
        notes=notes,
    )


def save_trace(trace: Trace, path: str | Path) -> Path:
    """Write ``trace`` as canonical CSV, metadata first as ``# key: value`` lines."""
    meta = trace.meta
    header = {"name": meta.name, "device": meta.device, "source": meta.source, "license": meta.license}
    for key in ("cores", "max_mhz", "ram_mb"):
        value = getattr(meta, key)
        if value is not None:
            header[key] = str(int(value)) if float(value).is_integer() else repr(float(value))
    if meta.notes:
        # Notes are stored on one line separated by ";" — a ";" inside a note would split it on reload.
        header["notes"] = "; ".join(note.replace(";", ",") for note in meta.notes)
    header = {key: value for key, value in header.items() if value != ""}
    columns = {
        spec.name: [_format(v) for v in trace.column(spec.name)] for spec in NUMERIC_COLUMNS
    }
    columns[STATE_COLUMN] = [str(s) for s in trace.state]
    return write_csv(path, header, columns)


def _format(value: float) -> str:
    """Shortest text that reads back as exactly the same float (so save → load is lossless)."""
    return "" if np.isnan(value) else repr(float(value))
