"""Measure every supernet variant on this machine and write the device's :class:`VariantTable`.

Per variant (``build_variant`` from the bundle, so exactly the modules a user gets):

* **accuracy** — top-1 on the MNIST-5k test split (1,000 images), measured now, not copied.
* **latency** — batch-1 inference under ``torch.inference_mode``, once per compute configuration of the
  device profile (``1t``, ``2t`` = ``torch.set_num_threads(1/2)``). The machine is shared with other
  processes, so measurements are *interleaved*: ``rounds`` rounds, each visiting every variant in a new
  random order and timing ``runs/rounds`` calls per configuration after a short warm-up; slow phases of
  background load then hit all variants alike instead of whole variants. Background load only ever
  *adds* time (and a descheduled OpenMP thread stalls a 2-thread call for a whole time slice), while the
  catalog must hold the latency of an otherwise idle machine — the simulator adds contention itself. So
  ``lat_ms`` is the **lower quartile of the per-round medians**: the typical call of the quieter rounds.
  ``lat_sd_ms`` is a **robust standard deviation** (1.4826 × median absolute deviation) of the calls of
  the quieter half of the rounds. The plain median and mean of all calls, their SD and p95 and the load
  average go to the stats frame, so the effect of the shared machine stays visible.
  Everything except the timed calls runs with one thread: multi-threaded small ops on a busy 2-core
  machine stall behind other processes and would only slow the profiler down.
* **params / flops** — counted on the real module (:mod:`adascale_rl.supernet.flops`).
* **model_bytes** — size of the serialised ``state_dict``.
* **mem_mb** — peak memory of one inference = resident weight bytes + input + the peak of live tensor
  bytes allocated during the forward pass, measured with ``torch.profiler`` (``profile_memory=True``)
  by replaying its allocation/free events in time order. Why not the alternatives: tracemalloc does not
  see torch's allocator; an RSS delta (psutil, fresh subprocess) is page-granular and dominated by
  allocator caching and library start-up — these variants need 0.02–0.6 MB, well inside that noise.
  What the profiler misses: scratch buffers that oneDNN/fbgemm allocate internally (not torch tensors).
* **energy_mj** — *modelled*: the ``local`` device profile's power model × the measured latency.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from adascale_rl.catalog.device_profile import DeviceProfile, bundled_profile
from adascale_rl.catalog.variant_table import VariantTable
from adascale_rl.supernet.bundle import Bundle, load_bundle
from adascale_rl.supernet.data import IMAGE_SHAPE, load_split
from adascale_rl.supernet.flops import count_flops, count_params, model_bytes, weight_bytes
from adascale_rl.supernet.operators import CALIBRATION_IMAGES, VariantSpec, all_specs, build_variant
from adascale_rl.supernet.train import accuracy, torch_threads


@dataclass(frozen=True)
class ProfileConfig:
    """How to measure (defaults: what produced the bundled ``local`` catalog)."""

    runs: int = 600          # timed batch-1 calls per variant and configuration (over all rounds)
    rounds: int = 20         # interleaved rounds (each visits every variant in a fresh random order)
    warmup: int = 10         # untimed calls before each timed block
    device: str = "local"    # device profile: its configs name the thread counts and the power model
    seed: int = 0


@dataclass
class ProfileResult:
    """The catalog plus per-variant latency statistics that do not fit its schema."""

    table: VariantTable
    stats: pd.DataFrame


def thread_counts(profile: DeviceProfile) -> dict[str, int]:
    """Configuration name → torch thread count (one thread per core the configuration uses)."""
    return {config.name: config.n_cores for config in profile.configs}


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence the profiler's native start/stop lines (kineto writes them to fd 2, past ``sys.stderr``)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@torch.inference_mode()
def peak_inference_bytes(model: nn.Module, example: torch.Tensor) -> int:
    """Peak bytes of tensors alive during one forward pass beyond those alive before it (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    model(example)  # warm: one-off packing/caching is not part of a steady-state inference
    with _quiet_native_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        model(example)
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    live = peak = 0
    for event in events:
        live += event.nbytes()
        peak = max(peak, live)
    return int(peak)


@torch.inference_mode()
def time_calls(model: nn.Module, example: torch.Tensor, calls: int, warmup: int) -> np.ndarray:
    """Wall time (ms) of ``calls`` individual batch-1 forward passes after ``warmup`` untimed ones."""
    for _ in range(warmup):
        model(example)
    out = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter_ns()
        model(example)
        out[i] = (time.perf_counter_ns() - start) / 1e6
    return out


def measure_latencies(models: dict[str, nn.Module], threads: dict[str, int], cfg: ProfileConfig,
                      progress: bool = True) -> dict[tuple[str, str], np.ndarray]:
    """Interleaved latency samples (ms) per (variant_id, configuration), shaped ``(rounds, calls)``."""
    rng = np.random.default_rng(cfg.seed)
    example = torch.zeros(1, *IMAGE_SHAPE)
    per_round = max(1, -(-cfg.runs // cfg.rounds))
    samples: dict[tuple[str, str], list[np.ndarray]] = {(v, c): [] for v in models for c in threads}
    ids = list(models)
    bar = tqdm(total=cfg.rounds * len(ids), desc="latency", unit="variant", disable=not progress)
    for _ in range(cfg.rounds):
        for vid in rng.permutation(ids):
            configs = list(threads)
            rng.shuffle(configs)  # alternate which thread count goes first
            for config in configs:
                with torch_threads(threads[config]):
                    samples[(vid, config)].append(time_calls(models[vid], example, per_round, cfg.warmup))
            bar.update(1)
    bar.close()
    return {key: np.stack(chunks) for key, chunks in samples.items()}


def robust_sd(values: np.ndarray) -> float:
    """1.4826 × median absolute deviation: the SD of a normal sample, insensitive to rare stalls."""
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def profile_variants(bundle: Bundle | None = None, cfg: ProfileConfig | None = None,
                     specs: Sequence[VariantSpec] | None = None, progress: bool = True) -> ProfileResult:
    """Build, measure and tabulate every variant (or ``specs``) of a bundle (default: the shipped one)."""
    bundle = bundle or load_bundle()
    cfg = cfg or ProfileConfig()
    device = bundled_profile(cfg.device)
    threads = thread_counts(device)
    specs = list(specs) if specs is not None else all_specs(bundle.supernet)
    test = load_split("test")
    calibration = load_split("train").images[:CALIBRATION_IMAGES]
    example = torch.zeros(1, *IMAGE_SHAPE)

    models: dict[str, nn.Module] = {}
    rows: dict[str, dict] = {}
    load_before = os.getloadavg()[0]
    with torch_threads(1):
        for spec in tqdm(specs, desc="build+measure", unit="variant", disable=not progress):
            model = build_variant(bundle.supernet, spec, recovered=bundle.recovered,
                                  calibration=calibration)
            models[spec.variant_id] = model
            peak = peak_inference_bytes(model, example)
            rows[spec.variant_id] = {
                "variant_id": spec.variant_id, "branch": spec.branch_name, "compression": spec.compression,
                "accuracy": accuracy(model, test), "params": count_params(model),
                "flops": count_flops(model, (1, *IMAGE_SHAPE)), "model_bytes": model_bytes(model),
                "mem_mb": (weight_bytes(model) + example.numel() * example.element_size() + peak) / 1e6,
            }
    latencies = measure_latencies(models, threads, cfg, progress)
    load_after = os.getloadavg()[0]

    provenance = (f"measured {date.today().isoformat()} by adascale_rl.supernet.profile on this machine "
                  f"(torch {torch.__version__}): accuracy on MNIST-5k test (n={len(test)}); latency = lower quartile "
                  f"of {cfg.rounds} interleaved rounds' medians ({cfg.runs} batch-1 calls per thread count in "
                  "all; shared VM); "
                  "params/flops counted by hooks; mem = weights + input + torch.profiler peak; "
                  f"energy modelled ({cfg.device} power model x latency)")
    table_rows, stat_rows = [], []
    for spec in specs:
        row = dict(rows[spec.variant_id], provenance=provenance)
        stats = {"variant_id": spec.variant_id, "loadavg_start": load_before, "loadavg_end": load_after}
        for config in threads:
            per_round = latencies[(spec.variant_id, config)]
            values = per_round.ravel()
            round_medians = np.median(per_round, axis=1)
            median = float(np.percentile(round_medians, 25))
            quiet = per_round[round_medians <= np.median(round_medians)].ravel()
            row[f"lat_ms@{config}"] = median
            row[f"lat_sd_ms@{config}"] = robust_sd(quiet)
            row[f"energy_mj@{config}"] = device.energy_per_inference_mj(config, median)
            stats.update({f"mean_ms@{config}": float(values.mean()), f"std_ms@{config}": float(values.std()),
                          f"p95_ms@{config}": float(np.percentile(values, 95)),
                          f"median_all_ms@{config}": float(np.median(values)), f"n@{config}": len(values)})
        table_rows.append(row)
        stat_rows.append(stats)
    frame = pd.DataFrame(table_rows)
    return ProfileResult(VariantTable.from_frame(frame, device.name, source="supernet profile"),
                         pd.DataFrame(stat_rows))
