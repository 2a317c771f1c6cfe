"""psutil-CSV import: conversion, round trip through the canonical format, and what it rejects."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from adascale_rl.errors import DataError
from adascale_rl.traces import TraceMeta, find_entry, import_psutil_csv, import_trace, load_trace, save_trace

BUNDLED = find_entry("rpi4b8gb_1800mhz_pattern_6h")  # a real psutil-csv recording shipped with the package


def test_conversion_of_the_first_real_row() -> None:
    first = BUNDLED.path.read_text().splitlines()[1].split(",")  # 1648961215.6,1800,27.5,7.0,41.9,game
    trace = import_psutil_csv(BUNDLED.path, 1800)
    assert trace.t_s[0] == 0.0
    assert trace.cpu_freq_frac[0] == float(first[1]) / 1800
    assert trace.cpu_bg_util[0] == pytest.approx(float(first[2]) / 100)
    assert trace.mem_avail_frac[0] == pytest.approx(1 - float(first[3]) / 100)
    assert trace.temp_c[0] == float(first[4])
    assert math.isnan(trace.battery_frac[0])
    assert trace.state[0] == first[5]
    assert trace.meta.max_mhz == 1800


def test_round_trip_import_save_load_is_lossless(tmp_path: Path) -> None:
    meta = TraceMeta(name="rt", device="RPi 4", source="test", license="CC BY-NC-SA 3.0", cores=4, ram_mb=8192,
                     notes=("imported for a round-trip test",))
    imported = import_psutil_csv(BUNDLED.path, 1800, meta=meta)
    out = save_trace(imported, tmp_path / "canonical.csv")
    loaded = load_trace(out)
    assert loaded == imported
    assert loaded.meta == imported.meta
    assert save_trace(loaded, tmp_path / "again.csv").read_text() == out.read_text()


def test_round_trip_keeps_awkward_floats(tmp_path: Path) -> None:
    """600/1800 = 0.333… and 0.1 + 0.2 must come back bit-for-bit, not as 10-digit approximations."""
    imported = import_psutil_csv(find_entry("rpi4b2gb_800mhz_pattern_12h").path, 2400)  # 600/2400, 800/2400
    assert (imported.cpu_freq_frac == 1 / 3).any()
    loaded = load_trace(save_trace(imported, tmp_path / "thirds.csv"))
    assert np.array_equal(loaded.cpu_freq_frac, imported.cpu_freq_frac)
    assert loaded == imported


def test_frequency_above_max_is_rejected_not_clipped() -> None:
    with pytest.raises(DataError) as info:
        import_psutil_csv(BUNDLED.path, 1500)
    message = str(info.value)
    assert BUNDLED.path.name in message and "line 2" in message and "column 'cpu_freq_mhz'" in message
    assert "(got 1800.0)" in message and "at most max_mhz=1500" in message


@pytest.mark.parametrize("max_mhz", [0.0, -5.0, float("nan"), float("inf")])
def test_bad_max_mhz(max_mhz: float) -> None:
    with pytest.raises(DataError, match="max_mhz must be a positive number"):
        import_psutil_csv(BUNDLED.path, max_mhz)


def test_psutil_csv_cell_errors_name_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "logger.csv"
    path.write_text("time,cpu_freq_mhz,cpu_pct,mem_pct,temp_c,state\n"
                    "100.0,600,12.5,40,50.1,idle\n"
                    "105.0,600,101,40,50.1,idle\n")
    with pytest.raises(DataError) as info:
        import_psutil_csv(path, 1500)
    message = str(info.value)
    assert "logger.csv" in message and "line 3" in message and "column 'cpu_pct'" in message
    assert "(got 101.0)" in message and "[0, 100] %" in message


def test_psutil_csv_missing_temperature_is_nan(tmp_path: Path) -> None:
    path = tmp_path / "logger.csv"
    path.write_text("time,cpu_freq_mhz,cpu_pct,mem_pct,temp_c,state\n100.0,600,12.5,40,,idle\n105.0,600,10,40,,\n")
    trace = import_psutil_csv(path, 1500)
    assert np.isnan(trace.temp_c).all() and trace.state.tolist() == ["idle", ""]


def test_unknown_format() -> None:
    with pytest.raises(DataError, match="unknown trace format 'excel'; expected one of psutil-csv"):
        import_trace(BUNDLED.path, "excel", max_mhz=1800)
