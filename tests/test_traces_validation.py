"""Every class of bad trace input fails with a message naming file, line, column, value and expectation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from adascale_rl.errors import DataError
from adascale_rl.traces import Trace, TraceMeta, load_trace
from adascale_rl.traces.validation import validate_trace

HEADER = "t_s,cpu_freq_frac,cpu_bg_util,mem_avail_frac,temp_c,battery_frac,state"
ROWS = [  # file lines 2, 3, 4
    "0,1.0,0.2,0.8,45.0,,idle",
    "5,0.5,0.3,0.7,46.0,,idle",
    "10,0.5,0.9,0.7,50.0,0.5,game",
]


def write(tmp_path: Path, lines: list[str], name: str = "trace.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def error_for(path: Path, **kwargs: object) -> str:
    with pytest.raises(DataError) as info:
        load_trace(path, **kwargs)
    return str(info.value)


def test_good_file_loads(tmp_path: Path) -> None:
    trace = load_trace(write(tmp_path, [HEADER, *ROWS]))
    assert len(trace) == 3
    assert trace.t_s.tolist() == [0.0, 5.0, 10.0]
    assert np.isnan(trace.battery_frac[0]) and trace.battery_frac[2] == 0.5
    assert trace.state.tolist() == ["idle", "idle", "game"]


def test_missing_file(tmp_path: Path) -> None:
    message = error_for(tmp_path / "nope.csv")
    assert "nope.csv" in message and "file not found" in message and "expected" in message


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    message = error_for(path)
    assert "empty.csv" in message and "empty file" in message


def test_header_only(tmp_path: Path) -> None:
    message = error_for(write(tmp_path, [HEADER]))
    assert "trace.csv" in message and "line 2" in message and "no data rows" in message


@pytest.mark.parametrize(
    ("header", "problem", "column", "value"),
    [
        (HEADER.replace(",temp_c", ""), "missing column(s) temp_c", "temp_c", "t_s,cpu_freq_frac"),
        (HEADER + ",extra", "unknown column(s) extra", "extra", "'extra'"),
        (HEADER.replace("cpu_bg_util", "cpu_bg_utl"), "missing column(s) cpu_bg_util", "cpu_bg_util", "cpu_bg_utl"),
    ],
)
def test_header_errors(tmp_path: Path, header: str, problem: str, column: str, value: str) -> None:
    cells = len(header.split(","))
    rows = [",".join([*row.split(","), "x"][:cells]) for row in ROWS]
    message = error_for(write(tmp_path, [header, *rows]))
    assert "trace.csv" in message and "line 1" in message
    assert problem in message and f"column '{column}'" in message and value in message


@pytest.mark.parametrize(
    ("line", "column", "cell", "problem"),
    [
        (3, "cpu_bg_util", "abc", "not a number"),
        (3, "mem_avail_frac", "0,7", "row has 8 cells"),
        (2, "cpu_bg_util", "nan", "NaN not allowed"),
        (4, "mem_avail_frac", "", "missing value"),
        (3, "temp_c", "inf", "infinite value"),
        (2, "cpu_freq_frac", "-inf", "infinite value"),
        (4, "mem_avail_frac", "1.5", "value out of physical range"),
        (2, "cpu_freq_frac", "0", "value out of physical range"),  # frequency 0 is impossible: (0, 1]
        (3, "temp_c", "151", "value out of physical range"),
        (3, "cpu_bg_util", "1_0", "not a number"),
    ],
)
def test_cell_errors(tmp_path: Path, line: int, column: str, cell: str, problem: str) -> None:
    rows = [row.split(",") for row in ROWS]
    rows[line - 2][HEADER.split(",").index(column)] = cell
    message = error_for(write(tmp_path, [HEADER, *(",".join(row) for row in rows)]))
    assert "trace.csv" in message and f"line {line}" in message and problem in message
    if problem.startswith("row has"):
        assert "expected 7 cells" in message
        return
    assert f"column '{column}'" in message and "expected" in message
    if cell:
        shown = cell if problem in ("not a number", "NaN not allowed", "infinite value") else repr(float(cell))
        assert shown in message


def test_non_increasing_time(tmp_path: Path) -> None:
    message = error_for(write(tmp_path, [HEADER, ROWS[0], ROWS[1], ROWS[2].replace("10,", "5,", 1)]))
    assert "trace.csv" in message and "line 4" in message and "column 't_s'" in message
    assert "time does not increase" in message and "5.0" in message and "greater than 5" in message


def test_gap_longer_than_limit_and_limit_is_configurable(tmp_path: Path) -> None:
    path = write(tmp_path, [HEADER, ROWS[0], ROWS[1], ROWS[2].replace("10,", "100,", 1)])
    message = error_for(path)  # default max_gap_s = 60
    assert "trace.csv" in message and "line 4" in message and "column 't_s'" in message
    assert "gap of 95 s" in message and "100.0" in message and "at most 60 s" in message
    message = error_for(path, max_gap_s=90)
    assert "at most 90 s" in message
    assert len(load_trace(path, max_gap_s=95)) == 3
    assert len(load_trace(path, max_gap_s=None)) == 3


def test_line_numbers_count_metadata_lines(tmp_path: Path) -> None:
    message = error_for(write(tmp_path, ["# name: x", "# device: y", HEADER, ROWS[0], ROWS[1].replace("0.3", "abc")]))
    assert "line 5" in message and "column 'cpu_bg_util'" in message and "'abc'" in message


def test_byte_order_mark_and_trailing_blank_lines_are_harmless(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_text("\ufeff" + "\n".join([HEADER, *ROWS]) + "\n\n\n", encoding="utf-8")
    assert len(load_trace(path)) == 3


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(("\n".join([HEADER, *ROWS]) + ",caf\xe9\n").encode("latin-1"))
    assert "not UTF-8" in error_for(path)


def test_metadata_round_trip_and_bad_metadata(tmp_path: Path) -> None:
    path = write(tmp_path, ["# name: phone", "# cores: 8", "# max_mhz: 2841.6", "# notes: a; b", HEADER, *ROWS])
    meta = load_trace(path).meta
    assert (meta.name, meta.cores, meta.max_mhz, meta.notes) == ("phone", 8, 2841.6, ("a", "b"))
    bad = write(tmp_path, ["# cores: 4.5", HEADER, *ROWS], "bad.csv")
    message = error_for(bad)
    assert "bad.csv" in message and "cores" in message and "'4.5'" in message


def test_validate_trace_checks_in_memory_traces() -> None:
    columns = {"t_s": [0.0, 1.0, 1.0], "cpu_freq_frac": [1.0] * 3, "cpu_bg_util": [0.1, 0.2, 0.3],
               "mem_avail_frac": [0.5] * 3, "temp_c": [np.nan] * 3, "battery_frac": [np.nan] * 3,
               "state": ["", "", ""]}
    trace = Trace.from_columns(columns, TraceMeta(name="mem"))
    with pytest.raises(DataError, match=r"recorder, line 4, column 't_s': time does not increase"):
        validate_trace(trace, "recorder")
    columns["t_s"] = [0.0, 1.0, 2.0]
    columns["cpu_bg_util"] = [0.1, 1.2, 0.3]
    with pytest.raises(DataError, match=r"line 3, column 'cpu_bg_util': value out of physical range \(got 1.2\)"):
        validate_trace(Trace.from_columns(columns, TraceMeta(name="mem")), "recorder")


def test_from_columns_rejects_ragged_columns() -> None:
    columns = {"t_s": [0.0, 1.0], "cpu_freq_frac": [1.0], "cpu_bg_util": [0.1, 0.2], "mem_avail_frac": [0.5, 0.5],
               "temp_c": [np.nan] * 2, "battery_frac": [np.nan] * 2, "state": ["", ""]}
    with pytest.raises(ValueError, match="different lengths"):
        Trace.from_columns(columns, TraceMeta(name="ragged"))
