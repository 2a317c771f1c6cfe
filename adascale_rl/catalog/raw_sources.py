"""Readers for the bundled raw measurements behind the phone catalogs (``data/catalog_raw/``).

Each reader checks its file strictly and raises :class:`~adascale_rl.errors.DataError` naming file, line,
column, value and expectation, so a corrupted or hand-edited raw file never silently turns into a wrong
catalog. Line numbers count the header as line 1.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from adascale_rl._resources import data_path
from adascale_rl.errors import DataError

USC_FILE = "usc_tflite_cnn_e2e.csv"
ACCURACY_FILE = "pytorchcv_imagenet_accuracy.csv"
TFLITE_FILE = "tflite_hosted_models_pixel3.csv"
ARCH_FILE = "pytorchcv_arch_stats.csv"
PRECISIONS = ("float", "quant")


def raw_path(name: str, raw_dir: str | Path | None = None) -> Path:
    """A raw file from ``raw_dir`` or, by default, the copy bundled in the package."""
    return Path(raw_dir) / name if raw_dir is not None else data_path("catalog_raw", name)


def _rows(path: Path, required: tuple[str, ...]) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    if not path.is_file():
        raise DataError(path, "file not found", expected="a bundled raw catalog CSV")
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise DataError(path, "empty file", expected=f"a header with {', '.join(required)}") from None
        missing = [c for c in required if c not in header]
        if missing:
            raise DataError(path, f"missing column(s) {', '.join(missing)}", row=1, expected=", ".join(required))
        rows = []
        for line, cells in enumerate(reader, start=2):
            if len(cells) != len(header):
                raise DataError(path, "wrong number of cells", row=line, value=len(cells),
                                expected=f"{len(header)} like the header")
            rows.append((line, dict(zip(header, cells, strict=True))))
    return header, rows


def _number(path: Path, line: int, column: str, text: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and low <= value <= high):
        raise DataError(path, "bad value", row=line, column=column, value=text,
                        expected=f"a number in [{low:g}, {high:g}]")
    return value


def _unique(path: Path, rows: list[tuple[int, dict[str, str]]], key: str) -> None:
    seen: dict[str, int] = {}
    for line, row in rows:
        name = row[key]
        if not name.strip():
            raise DataError(path, f"empty {key}", row=line, column=key)
        if name in seen:
            raise DataError(path, f"duplicated {key}", row=line, column=key, value=name,
                            expected=f"unique names (first on line {seen[name]})")
        seen[name] = line


@dataclass(frozen=True)
class UscLatency:
    """The USC benchmark's end-to-end TFLite latencies (µs) with model FLOPs and file size."""

    path: Path
    models: tuple[str, ...]
    flops: dict[str, int]
    size_bytes: dict[str, int]
    line: dict[str, int]
    cells: dict[tuple[str, str, str, str, str], float]  # (model, device, cfg, precision, mean|std) → µs; NaN = blank
    configs: dict[str, tuple[str, ...]]  # device → configurations in file order (gpu included)

    def latency_us(self, model: str, device: str, config: str, precision: str) -> tuple[float, float] | None:
        """(mean, std) in µs, or None where the benchmark has no measurement."""
        key = (model, device, config, precision)
        if (*key, "mean") not in self.cells:
            return None
        mean, std = self.cells[(*key, "mean")], self.cells[(*key, "std")]
        if math.isnan(mean):
            return None
        if math.isnan(std):
            raise DataError(self.path, "mean given without std", row=self.line[model],
                            column=f"{device}|{config}|{precision}|std", expected="both or neither")
        return mean, std


def load_usc_latency(raw_dir: str | Path | None = None) -> UscLatency:
    """Read and check ``usc_tflite_cnn_e2e.csv`` (µs; blank cells mean 'not measured')."""
    path = raw_path(USC_FILE, raw_dir)
    header, rows = _rows(path, ("model", "FLOPS", "size"))
    _unique(path, rows, "model")
    measure_columns: list[tuple[str, str, str, str, str]] = []
    configs: dict[str, list[str]] = {}
    for column in header:
        if column in ("model", "FLOPS", "size"):
            continue
        parts = column.split("|")
        if len(parts) != 4 or parts[2] not in PRECISIONS or parts[3] not in ("mean", "std") or not all(parts):
            raise DataError(path, f"unexpected column '{column}'", row=1,
                            expected="DEVICE|CONFIG|float or quant|mean or std")
        measure_columns.append((column, *parts))
        configs.setdefault(parts[0], [])
        if parts[1] not in configs[parts[0]]:
            configs[parts[0]].append(parts[1])
    cells: dict[tuple[str, str, str, str, str], float] = {}
    flops: dict[str, int] = {}
    size: dict[str, int] = {}
    lines: dict[str, int] = {}
    for line, row in rows:
        model = row["model"]
        lines[model] = line
        flops[model] = int(_number(path, line, "FLOPS", row["FLOPS"], 1, 1e15))
        size[model] = int(_number(path, line, "size", row["size"], 1, 1e12))
        for column, device, config, precision, stat in measure_columns:
            text = row[column].strip()
            if not text:
                value = math.nan
            else:
                value = _number(path, line, column, text, 1e-3 if stat == "mean" else 0.0, 1e10)
            cells[(model, device, config, precision, stat)] = value
    return UscLatency(path=path, models=tuple(lines), flops=flops, size_bytes=size, line=lines, cells=cells,
                      configs={device: tuple(names) for device, names in configs.items()})


def load_accuracy(raw_dir: str | Path | None = None) -> tuple[Path, dict[str, float | None]]:
    """pytorchcv ImageNet-1K top-1 error (%) per model; None where no weights were published (blank)."""
    path = raw_path(ACCURACY_FILE, raw_dir)
    _, rows = _rows(path, ("model", "top1_err_pct"))
    _unique(path, rows, "model")
    errors: dict[str, float | None] = {}
    for line, row in rows:
        text = row["top1_err_pct"].strip()
        errors[row["model"]] = None if not text else _number(path, line, "top1_err_pct", text, 0.0, 100.0)
    return path, errors


@dataclass(frozen=True)
class TfliteEntry:
    """One row of the TFLite hosted-models table (Pixel 3)."""

    name: str
    precision: str
    top1_pct: float
    line: int


def load_tflite_pixel3(raw_dir: str | Path | None = None) -> tuple[Path, dict[str, TfliteEntry]]:
    """The TFLite hosted-models table: ImageNet top-1 (%) of float and uint8-quantised models."""
    path = raw_path(TFLITE_FILE, raw_dir)
    _, rows = _rows(path, ("model", "precision", "top1_pct"))
    _unique(path, rows, "model")
    entries = {}
    for line, row in rows:
        if row["precision"] not in ("float32", "quant_uint8"):
            raise DataError(path, "bad precision", row=line, column="precision", value=row["precision"],
                            expected="float32 or quant_uint8")
        entries[row["model"]] = TfliteEntry(row["model"], row["precision"],
                                            _number(path, line, "top1_pct", row["top1_pct"], 0.0, 100.0), line)
    return path, entries


def int8_drop_pts(entries: dict[str, TfliteEntry], float_model: str, source: str | Path) -> tuple[float, str, str]:
    """Measured float→int8 top-1 drop (percentage points) of ``float_model`` vs its ``_quant`` twin."""
    quant_model = f"{float_model}_quant"
    for name, precision in ((float_model, "float32"), (quant_model, "quant_uint8")):
        if name not in entries:
            raise DataError(source, f"no row for '{name}'", column="model",
                            expected=f"a {precision} row (needed for the int8 accuracy drop)")
        if entries[name].precision != precision:
            raise DataError(source, "wrong precision", row=entries[name].line, column="precision",
                            value=entries[name].precision, expected=precision)
    drop = round(entries[float_model].top1_pct - entries[quant_model].top1_pct, 6)
    return drop, float_model, quant_model


@dataclass(frozen=True)
class ArchStats:
    """Per-model parameters and peak single-layer activation elements (see ``arch_stats``)."""

    params: int
    peak_layer_elems: int
    peak_layer: str


def load_arch_stats(raw_dir: str | Path | None = None) -> tuple[Path, dict[str, ArchStats]]:
    """Read ``pytorchcv_arch_stats.csv`` (generated by ``python -m adascale_rl.catalog.arch_stats``)."""
    path = raw_path(ARCH_FILE, raw_dir)
    _, rows = _rows(path, ("model", "params", "peak_layer_elems", "peak_layer"))
    _unique(path, rows, "model")
    stats = {}
    for line, row in rows:
        stats[row["model"]] = ArchStats(
            params=int(_number(path, line, "params", row["params"], 1, 1e13)),
            peak_layer_elems=int(_number(path, line, "peak_layer_elems", row["peak_layer_elems"], 1, 1e13)),
            peak_layer=row["peak_layer"],
        )
    return path, stats
