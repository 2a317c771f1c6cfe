"""Column-level checks shared by every trace reader (canonical CSV, psutil CSV, recorders).

Each check raises :class:`~adascale_rl.errors.DataError` naming the file, the CSV line, the column, the
value and what was expected. ``first_line`` is the file line number of the first data row (the header
is line 1 when there are no comment lines), so messages point at the line a user would open.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from adascale_rl.errors import DataError
from adascale_rl.traces.schema import COLUMNS, NUMERIC_COLUMNS, ColumnSpec, Trace

# Cells that mean "not recorded". Written NaN (any case) is handled separately so that a NaN in a column
# that forbids it is reported as such rather than as a missing cell.
MISSING_TOKENS = frozenset({"", "NA", "N/A", "null", "None"})
DEFAULT_MAX_GAP_S = 60.0


def check_header(header: Sequence[str], required: Sequence[str], source: str | Path,
                 line: int | None = None) -> None:
    """Every required column present, no unknown or duplicated column.

    Unknown columns are errors rather than ignored: a misspelt ``cpu_bg_utl`` would otherwise surface
    later as a confusing "missing column", or worse, silently drop data a user meant to provide.
    ``line`` is the header's line number in the file, when known.
    """
    missing = [name for name in required if name not in header]
    if missing:
        raise DataError(source, f"missing column(s) {', '.join(missing)}", row=line, column=missing[0],
                        value=",".join(header), expected=f"columns {', '.join(required)}")
    unknown = [name for name in header if name not in required]
    if unknown:
        raise DataError(source, f"unknown column(s) {', '.join(unknown)}", row=line, column=unknown[0],
                        value=unknown[0], expected=f"only columns {', '.join(required)}")
    duplicated = sorted({name for name in header if list(header).count(name) > 1})
    if duplicated:
        raise DataError(source, f"duplicated column(s) {', '.join(duplicated)}", row=line, column=duplicated[0],
                        value=duplicated[0], expected="each column once")


def parse_numeric(values: Sequence[str], spec: ColumnSpec, source: str | Path, first_line: int) -> np.ndarray:
    """Text cells → float64, rejecting non-numbers, infinities, disallowed NaN and out-of-range values."""
    out = np.empty(len(values), dtype=np.float64)
    for index, text in enumerate(values):
        cell = text.strip()
        line = first_line + index
        if cell in MISSING_TOKENS:
            if not spec.nan_allowed:
                raise DataError(source, "missing value", row=line, column=spec.name, value=text,
                                expected=spec.expected())
            out[index] = np.nan
            continue
        try:
            if "_" in cell:  # float() accepts "1_000"; a CSV value with underscores is a typo, not a number
                raise ValueError(cell)
            number = float(cell)
        except ValueError:
            raise DataError(source, "not a number", row=line, column=spec.name, value=text,
                            expected=spec.expected()) from None
        if np.isnan(number) and not spec.nan_allowed:
            raise DataError(source, "NaN not allowed", row=line, column=spec.name, value=text,
                            expected=spec.expected())
        if np.isinf(number):
            raise DataError(source, "infinite value", row=line, column=spec.name, value=text,
                            expected=spec.expected())
        out[index] = number
    check_range(out, spec, source, first_line)
    return out


def check_range(values: np.ndarray, spec: ColumnSpec, source: str | Path, first_line: int) -> None:
    """Finite values inside the column's physical range (NaN passes only where the spec allows it)."""
    finite = ~np.isnan(values)
    too_low = (values < spec.low) if spec.low_inclusive else (values <= spec.low)
    bad = np.flatnonzero(finite & (too_low | (values > spec.high)))
    if bad.size:
        index = int(bad[0])
        raise DataError(source, "value out of physical range", row=first_line + index, column=spec.name,
                        value=float(values[index]), expected=spec.expected())
    if not spec.nan_allowed and not finite.all():
        index = int(np.flatnonzero(~finite)[0])
        raise DataError(source, "NaN not allowed", row=first_line + index, column=spec.name,
                        expected=spec.expected())


def check_time(t: np.ndarray, column: str, source: str | Path, first_line: int,
               max_gap_s: float | None = DEFAULT_MAX_GAP_S) -> None:
    """Strictly increasing time with no gap longer than ``max_gap_s`` (``None`` disables the gap check)."""
    if t.size == 0:
        raise DataError(source, "no data rows", expected="at least one sample after the header")
    steps = np.diff(t)
    backwards = np.flatnonzero(steps <= 0)
    if backwards.size:
        index = int(backwards[0]) + 1
        raise DataError(source, "time does not increase", row=first_line + index, column=column,
                        value=float(t[index]), expected=f"a value greater than {t[index - 1]:g}")
    if max_gap_s is not None:
        gaps = np.flatnonzero(steps > max_gap_s)
        if gaps.size:
            index = int(gaps[0]) + 1
            raise DataError(source, f"gap of {steps[index - 1]:g} s before this sample", row=first_line + index,
                            column=column, value=float(t[index]),
                            expected=f"at most {max_gap_s:g} s between samples (max_gap_s)")


def validate_trace(trace: Trace, source: str | Path, max_gap_s: float | None = None) -> None:
    """Check an in-memory trace (e.g. one just recorded) against the schema before it is saved.

    Loaders validate text as they parse it; recorders build arrays directly, so they call this to get
    the same guarantees (ranges, NaN policy, increasing time) with the same error messages. ``source``
    names where the data came from; line numbers count from 2 as they would in the saved file.
    """
    lengths = {name: len(trace.column(name)) for name in COLUMNS}
    if len(set(lengths.values())) != 1:
        raise DataError(source, "columns have different lengths", value=lengths, expected="equal lengths")
    for spec in NUMERIC_COLUMNS:
        values = trace.column(spec.name)
        infinite = np.flatnonzero(np.isinf(values))
        if infinite.size:
            index = int(infinite[0])
            raise DataError(source, "infinite value", row=2 + index, column=spec.name, value=float(values[index]),
                            expected=spec.expected())
        check_range(values, spec, source, 2)
    check_time(trace.t_s, "t_s", source, 2, max_gap_s)
