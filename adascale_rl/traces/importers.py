"""Importers from other trace formats into the canonical schema.

``psutil-csv`` is the format of the RUMP Raspberry Pi traces (and of many ad-hoc psutil loggers):

=================  ==========================================================
column             meaning
=================  ==========================================================
``time``           unix epoch seconds
``cpu_freq_mhz``   current CPU frequency (MHz)
``cpu_pct``        system-wide CPU utilisation, % of all cores
``mem_pct``        RAM in use, %
``temp_c``         SoC temperature, °C (may be empty)
``state``          label of what the device was doing (may be empty)
=================  ==========================================================

Conversion: ``t_s = time − time[0]``, ``cpu_freq_frac = cpu_freq_mhz / max_mhz``,
``cpu_bg_util = cpu_pct / 100``, ``mem_avail_frac = 1 − mem_pct / 100``, ``battery_frac = NaN``
(psutil-csv records no battery). A frequency above ``max_mhz`` is an error, not clipped.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from adascale_rl.errors import DataError
from adascale_rl.traces.csvio import read_raw
from adascale_rl.traces.schema import ColumnSpec, Trace, TraceMeta
from adascale_rl.traces.validation import DEFAULT_MAX_GAP_S, check_header, check_time, parse_numeric

FORMATS = ("psutil-csv",)

PSUTIL_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("time", "s", 0.0, 1e11, False),
    ColumnSpec("cpu_freq_mhz", "MHz", 0.0, 10_000.0, False, low_inclusive=False),
    ColumnSpec("cpu_pct", "%", 0.0, 100.0, False),
    ColumnSpec("mem_pct", "%", 0.0, 100.0, False),
    ColumnSpec("temp_c", "°C", -40.0, 150.0, True),
)


def import_psutil_csv(path: str | Path, max_mhz: float, *, meta: TraceMeta | None = None,
                      max_gap_s: float | None = DEFAULT_MAX_GAP_S) -> Trace:
    """Convert a psutil-style CSV into a validated canonical :class:`Trace`.

    ``max_mhz`` is the device's maximum CPU frequency; every recorded frequency must be ≤ it.
    """
    raw = read_raw(path)
    if not (max_mhz > 0 and np.isfinite(max_mhz)):
        raise DataError(raw.path, "max_mhz must be a positive number", value=max_mhz,
                        expected="the device's maximum CPU frequency in MHz")
    check_header(raw.header, [spec.name for spec in PSUTIL_COLUMNS] + ["state"], raw.path, raw.header_line)
    values = {spec.name: parse_numeric(raw.columns[spec.name], spec, raw.path, raw.first_line)
              for spec in PSUTIL_COLUMNS}
    check_time(values["time"], "time", raw.path, raw.first_line, max_gap_s)
    over = np.flatnonzero(values["cpu_freq_mhz"] > max_mhz)
    if over.size:
        index = int(over[0])
        raise DataError(raw.path, "CPU frequency above the device maximum", row=raw.first_line + index,
                        column="cpu_freq_mhz", value=float(values["cpu_freq_mhz"][index]),
                        expected=f"at most max_mhz={max_mhz:g}")
    columns = {
        "t_s": np.round(values["time"] - values["time"][0], 6),
        "cpu_freq_frac": values["cpu_freq_mhz"] / max_mhz,
        "cpu_bg_util": values["cpu_pct"] / 100.0,
        "mem_avail_frac": 1.0 - values["mem_pct"] / 100.0,
        "temp_c": values["temp_c"],
        "battery_frac": np.full(raw.n_rows, np.nan),
        "state": np.asarray([cell.strip() for cell in raw.columns["state"]], dtype=str),
    }
    base = meta or TraceMeta(name=raw.path.stem)
    return Trace.from_columns(columns, replace(base, max_mhz=float(max_mhz)))


def import_trace(path: str | Path, fmt: str, *, max_mhz: float, meta: TraceMeta | None = None,
                 max_gap_s: float | None = DEFAULT_MAX_GAP_S) -> Trace:
    """Import ``path`` written in format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "psutil-csv":
        return import_psutil_csv(path, max_mhz, meta=meta, max_gap_s=max_gap_s)
    raise DataError(path, f"unknown trace format {fmt!r}", expected=f"one of {', '.join(FORMATS)}")
