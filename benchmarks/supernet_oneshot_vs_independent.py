"""One-shot supernet training vs training every (branch, width) variant independently — plus the profile.

All numbers in one run, on this machine:

1. one-shot: train the supernet (sandwich rule + in-place distillation), CPU seconds via
   ``time.process_time``; then recovery fine-tuning of the factorised (lr/ds) families and the test
   accuracy of all variants;
2. independent: train each of the branches × widths networks from scratch with the same optimiser,
   batch size and number of epochs (the same per-variant budget), CPU seconds and test accuracy;
3. profile every variant (latency at 1..N threads, FLOPs, memory, energy) and draw the Pareto plot.

    .venv/bin/python benchmarks/supernet_oneshot_vs_independent.py             # results to reports/supernet
    .venv/bin/python benchmarks/supernet_oneshot_vs_independent.py --write-bundle  # also refresh shipped data

``--write-bundle`` replaces ``adascale_rl/data/supernet`` and ``adascale_rl/data/catalogs/local.csv`` with
this run's, so the shipped numbers are the ones reported. Takes ~15–25 min on the 2-core VM.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from dataclasses import asdict, replace
from datetime import date
from pathlib import Path

import numpy as np
import torch

from adascale_rl._resources import data_path
from adascale_rl.supernet.bundle import Bundle, save_bundle
from adascale_rl.supernet.data import load_split
from adascale_rl.supernet.operators import VariantSpec, extract
from adascale_rl.supernet.pipeline import build_bundle
from adascale_rl.supernet.profile import ProfileConfig, profile_variants
from adascale_rl.supernet.report import pareto_front, pareto_plot
from adascale_rl.supernet.train import TrainConfig, accuracy, torch_threads, train_independent

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=TrainConfig().epochs)
    parser.add_argument("--runs", type=int, default=ProfileConfig().runs)
    parser.add_argument("--rounds", type=int, default=ProfileConfig().rounds)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "reports" / "supernet")
    parser.add_argument("--pareto", type=Path, default=ROOT / "docs" / "supernet_pareto.png")
    parser.add_argument("--write-bundle", action="store_true",
                        help="replace the shipped supernet bundle and local catalog with this run's")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    cfg = replace(TrainConfig(), epochs=args.epochs)
    results: dict = {"date": date.today().isoformat(), "machine": _machine(), "train_config": asdict(cfg)}

    # 1. One-shot.
    load0 = os.getloadavg()[0]
    outcome = build_bundle(None, cfg, progress=True)
    oneshot_cpu = outcome.meta["training"]["cpu_s"]
    results["oneshot"] = {"cpu_s": oneshot_cpu, "wall_s": outcome.meta["training"]["wall_s"],
                          "recovery_cpu_s": outcome.meta["recovery"]["cpu_s"],
                          "loadavg": [load0, os.getloadavg()[0]]}
    if args.write_bundle:
        save_bundle(data_path("supernet"), outcome.supernet, outcome.recovered,
                    {k: v for k, v in outcome.meta.items() if k != "config"})

    # 2. Independent, same per-variant budget.
    test = load_split("test")
    config = outcome.supernet.config
    independent, rows = 0.0, []
    load0 = os.getloadavg()[0]
    for branch in range(1, config.num_exits + 1):
        for width in config.widths:
            trained = train_independent(branch, width, config, cfg, progress=True)
            with torch_threads(1):
                ind_acc = accuracy(extract(trained.model, 1.0).truncate(branch), test)
            independent += trained.cpu_s
            vid = VariantSpec(branch, width).variant_id
            rows.append({"variant_id": vid, "oneshot_acc": outcome.meta["test_accuracy"][vid],
                         "independent_acc": ind_acc, "independent_cpu_s": round(trained.cpu_s, 2)})
            print(f"{vid:14s} one-shot {rows[-1]['oneshot_acc']:.3f}  independent {ind_acc:.3f} "
                  f"({trained.cpu_s:.0f} CPU-s)", flush=True)
    os_acc = np.array([r["oneshot_acc"] for r in rows])
    ind_acc = np.array([r["independent_acc"] for r in rows])
    results["independent"] = {"cpu_s": round(independent, 2), "loadavg": [load0, os.getloadavg()[0]]}
    results["comparison"] = {
        "variants": rows, "ratio_cpu": independent / oneshot_cpu,
        "ratio_cpu_incl_recovery": independent / (oneshot_cpu + results["oneshot"]["recovery_cpu_s"]),
        "oneshot_mean_acc": float(os_acc.mean()), "oneshot_min_acc": float(os_acc.min()),
        "independent_mean_acc": float(ind_acc.mean()), "independent_min_acc": float(ind_acc.min()),
    }

    # 3. Profile every variant of the bundle just trained.
    bundle = Bundle(outcome.supernet, outcome.recovered, outcome.meta)
    profiled = profile_variants(bundle, replace(ProfileConfig(), runs=args.runs, rounds=args.rounds))
    table = profiled.table
    table.save(args.out_dir / "supernet_local.csv")
    profiled.stats.to_csv(args.out_dir / "supernet_local.stats.csv", index=False)
    if args.write_bundle:
        table.save(data_path("catalogs", "local.csv"))
    pareto_plot(table, args.pareto)
    results["profile"] = _profile_summary(table, profiled.stats)
    (args.out_dir / "supernet_benchmark.json").write_text(json.dumps(results, indent=1) + "\n")
    print(_markdown(results))


def _machine() -> dict:
    return {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
            "python": platform.python_version()}


def _profile_summary(table, stats) -> dict:
    j = table.configs.index("1t")
    latency = table.latency_ms[:, j]
    full = table.index("exit3|none")
    fastest = int(np.argmin(latency))
    front = pareto_front(latency, table.accuracy)
    return {
        "variants": len(table), "configs": list(table.configs),
        "latency_ms_1t": [float(latency.min()), float(latency.max())],
        "latency_ms_2t": [float(table.latency_ms[:, 1].min()), float(table.latency_ms[:, 1].max())],
        "accuracy": [float(table.accuracy.min()), float(table.accuracy.max())],
        "full": {"variant_id": "exit3|none", "lat_ms_1t": float(latency[full]),
                 "accuracy": float(table.accuracy[full])},
        "fastest": {"variant_id": str(table.variant_id[fastest]), "lat_ms_1t": float(latency[fastest]),
                    "accuracy": float(table.accuracy[fastest]),
                    "speedup_vs_full": float(latency[full] / latency[fastest])},
        "pareto_1t": [{"variant_id": str(table.variant_id[i]), "lat_ms": float(latency[i]),
                       "accuracy": float(table.accuracy[i])} for i in front],
        "loadavg_during_profile": [float(stats["loadavg_start"].iloc[0]), float(stats["loadavg_end"].iloc[0])],
    }


def _markdown(results: dict) -> str:
    c, o, i, p = results["comparison"], results["oneshot"], results["independent"], results["profile"]
    lines = [
        "| training | CPU s | mean acc | min acc |", "|---|---:|---:|---:|",
        f"| one-shot (all {len(c['variants'])} branch×width) | {o['cpu_s']:.0f} | {100 * c['oneshot_mean_acc']:.2f} % "
        f"| {100 * c['oneshot_min_acc']:.1f} % |",
        f"| independent ({len(c['variants'])} networks) | {i['cpu_s']:.0f} | {100 * c['independent_mean_acc']:.2f} % "
        f"| {100 * c['independent_min_acc']:.1f} % |",
        "", f"ratio independent / one-shot CPU: {c['ratio_cpu']:.2f}x "
        f"(with recovery of lr/ds families, {o['recovery_cpu_s']:.0f} CPU s: {c['ratio_cpu_incl_recovery']:.2f}x)",
        f"variants: {p['variants']}; latency 1t {p['latency_ms_1t'][0]:.3f}..{p['latency_ms_1t'][1]:.3f} ms; "
        f"accuracy {100 * p['accuracy'][0]:.1f}..{100 * p['accuracy'][1]:.1f} %",
        f"fastest {p['fastest']['variant_id']} {p['fastest']['lat_ms_1t']:.3f} ms vs full "
        f"{p['full']['lat_ms_1t']:.3f} ms: {p['fastest']['speedup_vs_full']:.2f}x",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
