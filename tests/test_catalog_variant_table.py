"""``VariantTable`` loader: rejects bad files with messages naming file, line and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from adascale_rl.catalog import VariantTable, bundled_table, bundled_table_names
from adascale_rl.errors import DataError

HEADER = ("variant_id,branch,compression,accuracy,params,flops,model_bytes,mem_mb,provenance,"
          "lat_ms@a,lat_sd_ms@a,energy_mj@a,lat_ms@b,lat_sd_ms@b,energy_mj@b")
GOOD = ["v1,br,none,0.7,10,20,30,1.5,measured,10,0.1,5,20,0.2,9",
        "v2,br,int8,0.6,10,20,8,0.5,derived,unavailable,unavailable,unavailable,12,0.1,4"]


def _write(tmp_path: Path, rows: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "table.csv"
    path.write_text("# device: test\n" + header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_good_file_loads_and_round_trips(tmp_path: Path) -> None:
    table = VariantTable.load(_write(tmp_path, GOOD))
    assert table.device == "test" and table.configs == ("a", "b")
    assert table.available.tolist() == [[True, True], [False, True]]
    assert np.isinf(table.energy_mj[1, 0])
    again = VariantTable.load(table.save(tmp_path / "again.csv"))
    assert again.save(tmp_path / "third.csv").read_bytes() == (tmp_path / "again.csv").read_bytes()


def test_missing_column_is_named(tmp_path: Path) -> None:
    header = HEADER.replace("mem_mb,", "")
    rows = [",".join(r.split(",")[:7] + r.split(",")[8:]) for r in GOOD]
    with pytest.raises(DataError, match=r"missing column.*mem_mb") as err:
        VariantTable.load(_write(tmp_path, rows, header))
    assert "table.csv" in str(err.value)


def test_missing_per_config_column_is_named(tmp_path: Path) -> None:
    header = HEADER.replace(",energy_mj@b", "")
    rows = [r.rsplit(",", 1)[0] for r in GOOD]
    with pytest.raises(DataError, match="energy_mj@b"):
        VariantTable.load(_write(tmp_path, rows, header))


@pytest.mark.parametrize("cell", ["nan", "NaN", "", "inf", "-1", "abc"])
def test_nan_empty_or_bad_latency_names_line_and_column(tmp_path: Path, cell: str) -> None:
    rows = [GOOD[0], GOOD[1].replace(",12,", f",{cell},")]
    with pytest.raises(DataError) as err:
        VariantTable.load(_write(tmp_path, rows))
    message = str(err.value)
    assert "table.csv" in message and "line 4" in message and "lat_ms@b" in message


def test_nan_accuracy_is_rejected(tmp_path: Path) -> None:
    rows = [GOOD[0].replace(",0.7,", ",nan,"), GOOD[1]]
    with pytest.raises(DataError, match=r"line 3.*accuracy"):
        VariantTable.load(_write(tmp_path, rows))


def test_duplicated_id_is_rejected(tmp_path: Path) -> None:
    rows = [GOOD[0], GOOD[1].replace("v2,", "v1,", 1)]
    with pytest.raises(DataError, match=r"line 4.*duplicated variant_id.*first used on line 3"):
        VariantTable.load(_write(tmp_path, rows))


def test_unavailable_must_cover_all_three_cells(tmp_path: Path) -> None:
    rows = [GOOD[0], "v2,br,int8,0.6,10,20,8,0.5,derived,unavailable,0.1,unavailable,12,0.1,4"]
    with pytest.raises(DataError, match="together") as err:
        VariantTable.load(_write(tmp_path, rows))
    assert "line 4" in str(err.value) and "lat_sd_ms@a" in str(err.value)


def test_unavailable_everywhere_is_rejected(tmp_path: Path) -> None:
    rows = [GOOD[0], "v2,br,int8,0.6,10,20,8,0.5,derived," + ",".join(["unavailable"] * 6)]
    with pytest.raises(DataError, match="unavailable on every configuration"):
        VariantTable.load(_write(tmp_path, rows))


def test_unavailable_in_a_fixed_column_is_rejected(tmp_path: Path) -> None:
    rows = [GOOD[0].replace(",1.5,", ",unavailable,"), GOOD[1]]
    with pytest.raises(DataError, match="mem_mb"):
        VariantTable.load(_write(tmp_path, rows))


def test_missing_device_line_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(HEADER + "\n" + GOOD[0] + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="device"):
        VariantTable.load(path)


@pytest.mark.parametrize("name", ["pixel4", "s10", "mi8se", "a03s"])
def test_bundled_phone_catalogs_load(name: str) -> None:
    assert name in bundled_table_names()
    table = bundled_table(name)
    assert len(table) == 32 and table.device == name
    assert set(table.branches) == {"mobilenet", "mobilenetv2", "fdmobilenet", "resnet18"}
    assert ((table.accuracy > 0.3) & (table.accuracy < 0.8)).all()
