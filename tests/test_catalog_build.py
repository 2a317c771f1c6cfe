"""Phone catalogs: rebuilt byte-identically from the bundled raw data, values traceable to the sources."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from adascale_rl._resources import data_path
from adascale_rl.catalog import VariantTable, bundled_profile, bundled_table
from adascale_rl.catalog.build_phone import PHONE_DEVICES, build_phone_table, write_phone_catalog
from adascale_rl.catalog.families import FAMILIES, compression_name, width_of
from adascale_rl.catalog.raw_sources import load_tflite_pixel3, load_usc_latency
from adascale_rl.errors import DataError

RAW = data_path("catalog_raw")


@pytest.mark.parametrize("device", PHONE_DEVICES)
def test_bundled_catalog_rebuilds_byte_identically(device: str, tmp_path: Path) -> None:
    out = tmp_path / f"{device}.csv"
    write_phone_catalog(device, out)
    assert out.read_bytes() == data_path("catalogs", f"{device}.csv").read_bytes()


def test_spot_values_equal_the_sources() -> None:
    table = bundled_table("pixel4")
    i = table.index("mobilenet_w1|float")
    j = table.configs.index("1large")
    assert table.latency_ms[i, j] == pytest.approx(39.722)  # 39,722 µs in the USC benchmark
    assert table.latency_sd_ms[i, j] == pytest.approx(0.049)
    assert table.accuracy[i] == pytest.approx(1 - 26.61 / 100)  # pytorchcv top-1 error 26.61 %
    assert table.model_bytes[i] == 16_911_920
    assert table.flops[i] == 1_137_531_880
    assert table.params[i] == 4_231_976
    usc = load_usc_latency()
    for device in PHONE_DEVICES:
        table = bundled_table(device)
        for row, vid in enumerate(table.variant_id):
            model, precision = vid.split("|")
            bench = "quant" if precision == "int8" else "float"
            for col, cfg in enumerate(table.configs):
                mean_std = usc.latency_us(model, device, cfg, bench)
                assert mean_std is not None
                assert table.latency_ms[row, col] == pytest.approx(mean_std[0] / 1000, rel=1e-9)
                assert table.latency_sd_ms[row, col] == pytest.approx(mean_std[1] / 1000, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("device", PHONE_DEVICES)
def test_configurations_are_exactly_the_benchmarks_cpu_ones(device: str) -> None:
    usc = load_usc_latency()
    cpu = tuple(c for c in usc.configs[device] if c != "gpu")
    assert bundled_profile(device).config_names == cpu
    assert bundled_table(device).configs == cpu


@pytest.mark.parametrize("device", PHONE_DEVICES)
def test_every_cell_is_a_number_or_explicitly_unavailable(device: str) -> None:
    path = data_path("catalogs", f"{device}.csv")
    with path.open(encoding="utf-8") as handle:
        handle.readline()
        rows = list(csv.DictReader(handle))
    assert rows
    for row in rows:
        for column, cell in row.items():
            assert cell.strip(), f"empty cell {column}"
            if column != "compression":  # "none" is a legitimate compression label
                assert cell.lower() not in ("nan", "inf", "-inf", "none", "null")
            if column.startswith(("lat_ms@", "lat_sd_ms@", "energy_mj@")) and cell != "unavailable":
                assert np.isfinite(float(cell))
    table = bundled_table(device)
    for name in ("accuracy", "mem_mb", "latency_ms", "latency_sd_ms", "energy_mj"):
        assert not np.isnan(getattr(table, name)).any()
    assert np.array_equal(np.isinf(table.latency_ms), np.isinf(table.energy_mj))
    assert len(table) == 32  # 4 families x 4 widths x {float, int8}


@pytest.mark.parametrize("device", PHONE_DEVICES)
def test_energy_is_latency_times_configured_power(device: str) -> None:
    table, profile = bundled_table(device), bundled_profile(device)
    for j, cfg in enumerate(table.configs):
        power = profile.active_power_w(cfg)
        ok = np.isfinite(table.latency_ms[:, j])
        assert np.allclose(table.energy_mj[ok, j], table.latency_ms[ok, j] * power, rtol=1e-6, atol=1e-6)


def test_int8_rows_are_derived_and_float_rows_measured() -> None:
    _, tflite = load_tflite_pixel3()
    table = bundled_table("pixel4")
    for i, vid in enumerate(table.variant_id):
        prov = str(table.provenance[i])
        assert "latency: measured" in prov and "energy: modelled" in prov
        if vid.endswith("|int8"):
            assert "accuracy: derived" in prov
            assert table.compression[i].endswith("int8")
        else:
            assert "accuracy: measured" in prov
            assert "int8" not in table.compression[i]
    # MobileNet v1 x1.0: 71.0 % float vs 70.0 % quant in the TFLite table -> 1.0 point lower.
    drop = tflite["Mobilenet_V1_1.0_224"].top1_pct - tflite["Mobilenet_V1_1.0_224_quant"].top1_pct
    f, q = table.index("mobilenet_w1|float"), table.index("mobilenet_w1|int8")
    assert table.accuracy[f] - table.accuracy[q] == pytest.approx(drop / 100)
    assert table.model_bytes[q] == round(table.model_bytes[f] / 4)
    assert table.mem_mb[q] < table.mem_mb[f]


def test_a_model_without_accuracy_is_left_out_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    acc = raw / "pytorchcv_imagenet_accuracy.csv"
    lines = acc.read_text(encoding="utf-8").splitlines()
    lines = [",".join([p[0], "", "", *p[3:]]) if p[0] == "mobilenet_wd4" else line
             for line, p in ((line, line.split(",")) for line in lines)]
    acc.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with caplog.at_level("INFO"):
        result = build_phone_table("pixel4", raw_dir=raw)
    assert len(result.table) == 30
    assert [m for m, _ in result.excluded] == ["mobilenet_wd4"]
    assert "mobilenet_wd4" in caplog.text and "accuracy" in caplog.text


def test_missing_latency_becomes_unavailable_never_nan(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    path = raw / "usc_tflite_cnn_e2e.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    cols = [header.index("pixel4|1small|quant|mean"), header.index("pixel4|1small|quant|std")]
    for row in rows[1:]:
        if row[0] == "resnet18":
            for c in cols:
                row[c] = ""
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    out = tmp_path / "pixel4.csv"
    write_phone_catalog("pixel4", out, raw_dir=raw)
    lines = out.read_text(encoding="utf-8").splitlines()
    cells = [cell for line in lines[2:] for cell in next(csv.reader([line]))]
    assert not any(cell.lower() in ("nan", "") for cell in cells)
    row = next(line for line in lines if line.startswith("resnet18|int8,"))
    assert row.count("unavailable") == 3
    table = VariantTable.load(out)
    i, j = table.index("resnet18|int8"), table.configs.index("1small")
    assert not table.available[i, j] and table.available[i].sum() == len(table.configs) - 1


def test_bad_raw_file_names_file_line_and_column(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    path = raw / "usc_tflite_cnn_e2e.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    cells = lines[3].split(",")
    cells[3] = "-5"  # pixel4|1large|float|mean of the third model (file line 4)
    lines[3] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        build_phone_table("pixel4", raw_dir=raw)
    message = str(err.value)
    assert "usc_tflite_cnn_e2e.csv" in message and "line 4" in message and "pixel4|1large|float|mean" in message


def test_family_helpers() -> None:
    assert width_of("w1") == 1.0 and width_of("w3d4") == 0.75 and width_of("wd2") == 0.5 and width_of(None) == 1.0
    assert compression_name(1.0, False) == "none" and compression_name(0.75, True) == "w0.75+int8"
    names = {f.branch for f in FAMILIES}
    assert names == {"mobilenet", "mobilenetv2", "fdmobilenet", "resnet18"}
    mobilenet = next(f for f in FAMILIES if f.branch == "mobilenet")
    assert mobilenet.matches("mobilenet_wd4") and not mobilenet.matches("mobilenetv2_w1")
    assert not mobilenet.matches("mobilenetb_w1")
    v2 = next(f for f in FAMILIES if f.branch == "mobilenetv2")
    assert v2.reference_for(0.25) == "Mobilenet_V2_1.0_224"
