"""``VariantTable``: every model variant a controller can choose, with what it costs on one device.

One CSV per device, one row per variant. Fixed columns:

==================  ======  =========================================================================
column              unit    meaning
==================  ======  =========================================================================
``variant_id``      —       unique name, e.g. ``mobilenet_w3d4|int8`` or ``exit2|w0.5+lr0.5+int8``
``branch``          —       the supernet branch (exit point / model family)
``compression``     —       the compression operator combination, e.g. ``w0.75+int8`` (``none`` = full)
``accuracy``        1       top-1 accuracy on the task's test data, in [0, 1]
``params``          count   parameters
``flops``           count   multiply-accumulates ×2 (FLOPs) of one inference
``model_bytes``     B       serialised model size (what a switch must load)
``mem_mb``          MB      peak memory while running one inference (model + activations)
``provenance``      —       where every number in the row comes from (measured/derived/modelled)
==================  ======  =========================================================================

Per compute configuration ``CFG`` of the device (see :class:`~adascale_rl.catalog.DeviceProfile`):
``lat_ms@CFG`` (central latency at nominal frequency, ms), ``lat_sd_ms@CFG`` (its standard deviation,
ms) and ``energy_mj@CFG`` (modelled energy per inference, mJ). A variant that cannot run on a
configuration has the literal ``unavailable`` in all three cells; empty cells and NaN are errors, so no
NaN ever reaches a table. In memory, unavailable latency/energy are ``inf`` and ``available`` is False.

Optional, for every configuration or for none: ``overhead_ms@CFG`` and ``overhead_sd_ms@CFG``, the
measured per-request *serving* overhead of that variant on that configuration (mean and SD, ms) — what a
served request costs on top of the back-to-back ``lat_ms`` (waking the serving thread, cold caches; it
differs per variant: int8 kernels pay more than small float ones). Written by the serving-overhead
profiler and by ``catalog calibrate``; ``unavailable`` exactly where ``lat_ms`` is. A table without them
(the phone catalogs) uses its device profile's one ``request_overhead_ms`` for every variant
(:func:`adascale_rl.sim.latency_model.serving_overhead`), and saves byte-identically to before the columns
existed.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from adascale_rl._resources import data_path
from adascale_rl.errors import DataError

FIXED_COLUMNS = ("variant_id", "branch", "compression", "accuracy", "params", "flops", "model_bytes",
                 "mem_mb", "provenance")
PER_CONFIG = ("lat_ms", "lat_sd_ms", "energy_mj")
OVERHEAD_PER_CONFIG = ("overhead_ms", "overhead_sd_ms")  # optional: all configurations or none
UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class VariantTable:
    """Columnar variant catalog for one device (see the module docstring for the schema)."""

    device: str
    configs: tuple[str, ...]
    variant_id: np.ndarray
    branch: np.ndarray
    compression: np.ndarray
    accuracy: np.ndarray
    params: np.ndarray
    flops: np.ndarray
    model_bytes: np.ndarray
    mem_mb: np.ndarray
    provenance: np.ndarray
    latency_ms: np.ndarray  # (n_variants, n_configs); inf where unavailable
    latency_sd_ms: np.ndarray  # (n_variants, n_configs); inf where unavailable
    energy_mj: np.ndarray  # (n_variants, n_configs); inf where unavailable
    overhead_ms: np.ndarray | None = None  # (n_variants, n_configs) serving overhead; inf where unavailable
    overhead_sd_ms: np.ndarray | None = None  # its SD; both None when the catalog has no overhead columns

    def __len__(self) -> int:
        return int(self.variant_id.shape[0])

    @property
    def available(self) -> np.ndarray:
        """(n_variants, n_configs) bool: can this variant run on this configuration."""
        return np.isfinite(self.latency_ms)

    def index(self, variant_id: str) -> int:
        """Row of ``variant_id`` (``KeyError`` otherwise)."""
        hits = np.flatnonzero(self.variant_id == variant_id)
        if not hits.size:
            raise KeyError(f"no variant {variant_id!r} in the {self.device} catalog")
        return int(hits[0])

    @property
    def branches(self) -> tuple[str, ...]:
        """Distinct branches in first-appearance order."""
        return tuple(dict.fromkeys(self.branch.tolist()))

    @property
    def compressions(self) -> tuple[str, ...]:
        """Distinct compression combinations in first-appearance order."""
        return tuple(dict.fromkeys(self.compression.tolist()))

    @property
    def has_overhead(self) -> bool:
        """Whether the catalog carries measured per-variant serving overhead columns."""
        return self.overhead_ms is not None

    def with_overhead(self, overhead_ms: np.ndarray, overhead_sd_ms: np.ndarray,
                      provenance: np.ndarray | None = None) -> VariantTable:
        """A copy with these serving-overhead columns (validated like a loaded file)."""
        frame = replace(self, overhead_ms=np.asarray(overhead_ms, dtype=np.float64),
                        overhead_sd_ms=np.asarray(overhead_sd_ms, dtype=np.float64),
                        provenance=self.provenance if provenance is None else np.asarray(provenance, dtype=str))
        return VariantTable.from_frame(frame.to_frame(), self.device, source="with_overhead")

    def to_frame(self) -> pd.DataFrame:
        """The table as a DataFrame in file layout (unavailable cells as the string ``unavailable``)."""
        frame = pd.DataFrame({name: getattr(self, name) for name in FIXED_COLUMNS})
        columns = dict(zip(PER_CONFIG, (self.latency_ms, self.latency_sd_ms, self.energy_mj), strict=True))
        if self.has_overhead:
            columns.update(zip(OVERHEAD_PER_CONFIG, (self.overhead_ms, self.overhead_sd_ms), strict=True))
        for j, cfg in enumerate(self.configs):
            for prefix, values in columns.items():
                frame[f"{prefix}@{cfg}"] = [_format(v) for v in values[:, j]]
        return frame

    def save(self, path: str | Path) -> Path:
        """Write as CSV with a ``# device: NAME`` first line; byte-stable for identical tables."""
        frame = self.to_frame()
        for name in ("accuracy", "mem_mb"):
            frame[name] = [_format(v) for v in frame[name]]
        return write_device_csv(path, self.device, frame, quoting=csv.QUOTE_MINIMAL)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, device: str, source: str | Path = "<frame>") -> VariantTable:
        """Build and validate from a DataFrame in file layout (cells may be numbers or strings)."""
        return _parse(frame.astype(str), device, str(source))

    @classmethod
    def load(cls, path: str | Path) -> VariantTable:
        """Read and validate a table CSV; errors name the file, line, column, value and expectation."""
        device, frame = read_device_csv(path, "a variant table CSV")
        return _parse(frame, device, str(path), first_line=3)


def write_device_csv(path: str | Path, device: str, frame: pd.DataFrame, **to_csv) -> Path:
    """Write ``frame`` as CSV under a ``# device: NAME`` first line (catalogs, live profiles)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(f"# device: {device}\n")
        frame.to_csv(handle, index=False, lineterminator="\n", **to_csv)
    return path


def read_device_csv(path: str | Path, what: str) -> tuple[str, pd.DataFrame]:
    """(device, all cells as strings) of a CSV written by :func:`write_device_csv`; a missing file, a
    missing device line or no header is a :class:`DataError` naming the file (``what``: expected content)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found", expected=what)
    with path.open(encoding="utf-8") as handle:
        first = handle.readline()
        if not first.startswith("# device:"):
            raise DataError(path, "first line is not '# device: NAME'", value=first.strip(), row=1)
        try:
            frame = pd.read_csv(handle, dtype=str, keep_default_na=False)
        except pd.errors.EmptyDataError:
            raise DataError(path, "no header or rows after the device line") from None
    return first.split(":", 1)[1].strip(), frame


def _parse(frame: pd.DataFrame, device: str, source: str, first_line: int = 2) -> VariantTable:
    missing = [c for c in FIXED_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(source, f"missing column(s) {', '.join(missing)}", expected=", ".join(FIXED_COLUMNS))
    configs: list[str] = []
    for column in frame.columns:
        if column in FIXED_COLUMNS:
            continue
        prefix, sep, cfg = column.partition("@")
        if not sep or prefix not in PER_CONFIG + OVERHEAD_PER_CONFIG or not cfg:
            raise DataError(source, f"unknown column '{column}'",
                            expected=f"{', '.join(FIXED_COLUMNS)} or PREFIX@CONFIG with PREFIX in "
                                     f"{PER_CONFIG + OVERHEAD_PER_CONFIG}")
        if cfg not in configs:
            configs.append(cfg)
    if not configs:
        raise DataError(source, "no per-configuration latency columns", expected="lat_ms@CONFIG columns")
    has_overhead = any(c.partition("@")[0] in OVERHEAD_PER_CONFIG for c in frame.columns)
    for cfg in configs:
        for prefix in PER_CONFIG + (OVERHEAD_PER_CONFIG if has_overhead else ()):
            if f"{prefix}@{cfg}" not in frame.columns:
                why = " (overhead columns are all present or all absent)" if prefix in OVERHEAD_PER_CONFIG else ""
                raise DataError(source, f"missing column '{prefix}@{cfg}'{why}")
    if frame.empty:
        raise DataError(source, "no variants", expected="at least one row")
    ids = frame["variant_id"].to_numpy(dtype=str)
    seen: dict[str, int] = {}
    for i, vid in enumerate(ids):
        if not vid.strip():
            raise DataError(source, "empty variant_id", row=first_line + i, column="variant_id")
        if vid in seen:
            raise DataError(source, "duplicated variant_id", row=first_line + i, column="variant_id", value=vid,
                            expected=f"unique ids (first used on line {first_line + seen[vid]})")
        seen[vid] = i

    def numbers(column: str, low: float, high: float, allow_unavailable: bool = False) -> np.ndarray:
        out = np.empty(len(frame), dtype=np.float64)
        for i, cell in enumerate(frame[column].astype(str)):
            text = cell.strip()
            if allow_unavailable and text == UNAVAILABLE:
                out[i] = np.inf
                continue
            try:
                value = float(text)
            except ValueError:
                value = np.nan
            if not np.isfinite(value) or not low <= value <= high:
                expected = f"a finite number in [{low:g}, {high:g}]"
                if allow_unavailable:
                    expected += f" or '{UNAVAILABLE}'"
                raise DataError(source, "bad value", row=first_line + i, column=column, value=cell,
                                expected=expected)
            out[i] = value
        return out

    latency = np.column_stack([numbers(f"lat_ms@{c}", 1e-6, 1e9, True) for c in configs])
    latency_sd = np.column_stack([numbers(f"lat_sd_ms@{c}", 0.0, 1e9, True) for c in configs])
    energy = np.column_stack([numbers(f"energy_mj@{c}", 0.0, 1e12, True) for c in configs])
    dependent = [("lat_sd_ms", latency_sd), ("energy_mj", energy)]
    overhead = overhead_sd = None
    if has_overhead:
        overhead = np.column_stack([numbers(f"overhead_ms@{c}", 0.0, 1e9, True) for c in configs])
        overhead_sd = np.column_stack([numbers(f"overhead_sd_ms@{c}", 0.0, 1e9, True) for c in configs])
        dependent += [("overhead_ms", overhead), ("overhead_sd_ms", overhead_sd)]
    for name, values in dependent:
        mismatch = np.argwhere(np.isinf(values) != np.isinf(latency))
        if mismatch.size:
            i, j = (int(x) for x in mismatch[0])
            raise DataError(source, f"'{UNAVAILABLE}' must be set in lat_ms and every other per-configuration "
                            "column of that configuration together",
                            row=first_line + i, column=f"{name}@{configs[j]}")
    no_config = np.flatnonzero(~np.isfinite(latency).any(axis=1))
    if no_config.size:
        i = int(no_config[0])
        raise DataError(source, "variant is unavailable on every configuration", row=first_line + i,
                        column="lat_ms", value=ids[i])
    return VariantTable(
        device=device, configs=tuple(configs), variant_id=ids,
        branch=frame["branch"].to_numpy(dtype=str), compression=frame["compression"].to_numpy(dtype=str),
        accuracy=numbers("accuracy", 0.0, 1.0), params=numbers("params", 0, 1e13).astype(np.int64),
        flops=numbers("flops", 0, 1e16).astype(np.int64), model_bytes=numbers("model_bytes", 1, 1e13).astype(np.int64),
        mem_mb=numbers("mem_mb", 1e-6, 1e7), provenance=frame["provenance"].to_numpy(dtype=str),
        latency_ms=latency, latency_sd_ms=latency_sd, energy_mj=energy,
        overhead_ms=overhead, overhead_sd_ms=overhead_sd,
    )


def _format(value: float) -> str:
    return UNAVAILABLE if np.isinf(value) else f"{float(value):.10g}"


def bundled_table_names() -> tuple[str, ...]:
    """Names of the catalogs shipped with the package, sorted."""
    return tuple(sorted(p.stem for p in data_path("catalogs").glob("*.csv")))


def bundled_table(name: str) -> VariantTable:
    """A catalog shipped with the package (``adascale_rl/data/catalogs/NAME.csv``)."""
    path = data_path("catalogs", f"{name}.csv")
    if not path.is_file():
        raise KeyError(f"no bundled variant catalog {name!r}; known: {', '.join(bundled_table_names()) or 'none'}")
    return VariantTable.load(path)
