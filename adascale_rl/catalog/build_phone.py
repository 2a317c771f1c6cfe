"""Build a phone's :class:`VariantTable` from the bundled real measurements.

One row per variant = family (branch) × width × precision (float / int8), for the families in
:mod:`adascale_rl.catalog.families`. Each number's origin:

==============  ============================================================================================
column          source
==============  ============================================================================================
``lat_ms@C``    measured: USC mobile-ml-benchmark end-to-end TFLite latency ``mean`` on the device's core
                configuration ``C`` (µs → ms); ``unavailable`` where the benchmark has no measurement
``lat_sd_ms@C`` measured: the benchmark's ``std`` (µs → ms)
``accuracy``    float: measured, pytorchcv ImageNet-1K top-1 (1 − top1_err/100); int8: derived, the float
                value minus the float→int8 drop measured by TFLite on the family's architecture (or the
                nearest measured one, see ``families``)
``flops``       the benchmark's ``FLOPS`` column (2 × multiply-accumulates)
``model_bytes`` float: the benchmark's TFLite file ``size``; int8: derived, ``round(size / 4)`` (weights go from
                32 to 8 bits; TFLite's own float/quant MobileNet and Inception files differ by 3.8–4.2×)
``params``      derived from the pytorchcv architecture (``arch_stats``)
``mem_mb``      derived: ``(model_bytes + peak_layer_elems × bytes_per_activation) / 2**20`` (MiB, the unit
                of ``DeviceProfile.ram_mb``): the model must be resident plus, at least, the largest
                input+output activation pair of any layer (4 B per float activation, 1 B per int8 one)
``energy_mj@C`` modelled: ``lat_ms × DeviceProfile.active_power_w(C)`` (the profile's cited power figures)
==============  ============================================================================================

A model without published accuracy is left out and the reason is logged (and returned). Rebuilding from
the same bundled files gives a byte-identical CSV.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from adascale_rl._resources import data_path
from adascale_rl.catalog.device_profile import DeviceProfile, bundled_profile
from adascale_rl.catalog.families import FAMILIES, Family, compression_name
from adascale_rl.catalog.raw_sources import (
    ARCH_FILE,
    USC_FILE,
    ArchStats,
    int8_drop_pts,
    load_accuracy,
    load_arch_stats,
    load_tflite_pixel3,
    load_usc_latency,
)
from adascale_rl.catalog.variant_table import UNAVAILABLE, VariantTable
from adascale_rl.errors import DataError

log = logging.getLogger(__name__)

#: Phones of the USC benchmark that have a bundled profile and catalog.
PHONE_DEVICES = ("pixel4", "s10", "mi8se", "a03s")
#: Benchmark precision name → catalog precision.
PRECISION = {"float": "float", "quant": "int8"}
BYTES_PER_ACTIVATION = {"float": 4, "int8": 1}
INT8_SIZE_DIVISOR = 4


@dataclass(frozen=True)
class BuildResult:
    """A built catalog and the models left out of it (model, reason)."""

    table: VariantTable
    excluded: tuple[tuple[str, str], ...]


def build_phone_table(device: str, raw_dir: str | Path | None = None, profile: DeviceProfile | None = None,
                      families: tuple[Family, ...] = FAMILIES) -> BuildResult:
    """Assemble the variant table of phone ``device`` (see the module docstring for every column)."""
    profile = profile if profile is not None else bundled_profile(device)
    usc = load_usc_latency(raw_dir)
    acc_path, top1_err = load_accuracy(raw_dir)
    tfl_path, tflite = load_tflite_pixel3(raw_dir)
    arch_path, arch = load_arch_stats(raw_dir)
    if device not in usc.configs:
        raise DataError(usc.path, f"no measurements for device '{device}'", row=1,
                        expected=f"one of {', '.join(usc.configs)}")
    for cfg in profile.config_names:
        if cfg not in usc.configs[device]:
            raise DataError(usc.path, f"profile configuration '{cfg}' of {profile.name} is not measured", row=1,
                            expected=f"one of {', '.join(usc.configs[device])}")
    configs = profile.config_names

    records: list[dict[str, object]] = []
    excluded: list[tuple[str, str]] = []
    for family in families:
        members = sorted((m for m in usc.models if family.matches(m)), key=lambda m: -family.width(m))
        for model in members:
            reason = _exclusion(model, top1_err, arch, acc_path, arch_path)
            if reason:
                excluded.append((model, reason))
                log.info("%s: %s left out: %s", device, model, reason)
                continue
            width = family.width(model)
            for bench_precision, precision in PRECISION.items():
                latency = [usc.latency_us(model, device, cfg, bench_precision) for cfg in configs]
                if all(v is None for v in latency):
                    reason = f"no {precision} latency on any {device} configuration"
                    excluded.append((f"{model}|{precision}", reason))
                    log.info("%s: %s|%s left out: %s", device, model, precision, reason)
                    continue
                records.append(_row(device, family, model, width, precision, latency, configs,
                                    usc.flops[model], usc.size_bytes[model], top1_err[model], arch[model],
                                    tflite, tfl_path, profile))
    if not records:
        raise DataError(usc.path, f"no variant for device '{device}' has both latency and accuracy")
    frame = pd.DataFrame.from_records(records)
    return BuildResult(VariantTable.from_frame(frame, device, source=f"build_phone_table({device!r})"),
                       tuple(excluded))


def _exclusion(model: str, top1_err: dict[str, float | None], arch: dict[str, ArchStats], acc_path: Path,
               arch_path: Path) -> str:
    """Why ``model`` cannot become a variant (empty string when it can)."""
    if model not in top1_err:
        return f"no row in {acc_path.name}"
    if top1_err[model] is None:
        return f"no published ImageNet accuracy (blank in {acc_path.name})"
    if model not in arch:
        return f"no architecture stats in {arch_path.name} (regenerate with python -m adascale_rl.catalog.arch_stats)"
    return ""


def _row(device: str, family: Family, model: str, width: float, precision: str,
         latency: list[tuple[float, float] | None], configs: tuple[str, ...], flops: int,
         size: int, err_pct: float, arch: ArchStats, tflite: dict, tfl_path: Path,
         profile: DeviceProfile) -> dict[str, object]:
    int8 = precision == "int8"
    if int8:
        drop, float_ref, quant_ref = int8_drop_pts(tflite, family.reference_for(width), tfl_path)
        accuracy = round((100.0 - err_pct - drop) / 100.0, 6)
        acc_note = (f"accuracy: derived (pytorchcv float top-1 {100 - err_pct:.2f}% minus the float->int8 drop "
                    f"{drop:g} pt measured by TFLite on Pixel 3, {float_ref} vs {quant_ref}; "
                    f"{family.int8_note})")
        model_bytes = round(size / INT8_SIZE_DIVISOR)
        bytes_note = f"model_bytes: derived (float file size / {INT8_SIZE_DIVISOR})"
    else:
        accuracy = round((100.0 - err_pct) / 100.0, 6)
        acc_note = f"accuracy: measured (pytorchcv 0.0.74 ImageNet-1K top-1 of {model})"
        model_bytes = size
        bytes_note = "model_bytes: measured (USC TFLite file size)"
    mem_mb = round((model_bytes + arch.peak_layer_elems * BYTES_PER_ACTIVATION[precision]) / 2**20, 4)
    row: dict[str, object] = {
        "variant_id": f"{model}|{precision}", "branch": family.branch,
        "compression": compression_name(width, int8), "accuracy": accuracy, "params": arch.params,
        "flops": flops, "model_bytes": model_bytes, "mem_mb": mem_mb,
        "provenance": "; ".join((
            f"latency: measured (USC mobile-ml-benchmark {USC_FILE}, {device}, {precision}, "
            "TFLite e2e mean/std us->ms)",
            acc_note,
            f"energy: modelled (latency x active power of the configuration's cores, {profile.name}.toml)",
            bytes_note,
            f"params, mem_mb: derived (pytorchcv architecture, {ARCH_FILE}; mem = model bytes + peak layer "
            f"in+out activations x {BYTES_PER_ACTIVATION[precision]} B)",
        )),
    }
    for j, cfg in enumerate(configs):
        if latency[j] is None:
            row[f"lat_ms@{cfg}"] = row[f"lat_sd_ms@{cfg}"] = row[f"energy_mj@{cfg}"] = UNAVAILABLE
            continue
        mean_us, std_us = latency[j]
        lat_ms = round(mean_us / 1000.0, 6)
        row[f"lat_ms@{cfg}"] = repr(lat_ms)
        row[f"lat_sd_ms@{cfg}"] = repr(round(std_us / 1000.0, 6))
        row[f"energy_mj@{cfg}"] = repr(round(profile.energy_per_inference_mj(cfg, lat_ms), 6))
    return row


def bundled_catalog_path(device: str) -> Path:
    """Where the package keeps the catalog of ``device``."""
    return data_path("catalogs", f"{device}.csv")


def write_phone_catalog(device: str, out: str | Path | None = None, raw_dir: str | Path | None = None) -> BuildResult:
    """Build ``device``'s catalog and save it (default: the bundled ``data/catalogs/DEVICE.csv``)."""
    result = build_phone_table(device, raw_dir=raw_dir)
    result.table.save(out if out is not None else bundled_catalog_path(device))
    return result
