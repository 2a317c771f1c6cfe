"""Measure this machine's per-request serving overhead for the ``local`` device profile.

The ``local`` catalog holds back-to-back latencies (the profiler calls a variant in a tight loop). A
served request pays more: the serving thread wakes up for it and runs on cold caches. This script serves
real supernet variants at the ``local`` scenario's request rate through the hardware bridge's
``LocalDevice`` (no injected contention) and reports, per variant, the measured per-epoch p50/p95 minus
the catalog latency of the configuration it ran on. The medians across variants are the values for
``request_overhead_ms`` / ``request_overhead_sd_ms`` in ``adascale_rl/data/devices/local.toml``
(sd estimated from the p50→p95 spread as (p95 − p50) / 1.645).

Usage: ``python benchmarks/local_request_overhead.py [--epochs 15] [--variants exit1|w0.25,exit2|int8,exit3|none]``
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import psutil

from adascale_rl.hardware_bridge.devices.local import LocalDevice
from adascale_rl.scenario import get_scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--variants", default="exit1|w0.25,exit2|w0.5,exit2|int8,exit3|none")
    args = parser.parse_args()
    scenario = get_scenario("local")
    device = LocalDevice(scenario)
    contract, table = device.contract, scenario.table
    rows = []
    try:
        for variant_id in args.variants.split(","):
            variant = table.index(variant_id)
            device.apply(int(contract.variant_action[variant]))
            p50s, p95s, configs = [], [], []
            for epoch in range(args.epochs + 1):
                device.sample()
                stats = device.serve_epoch(scenario.epoch_s)
                if epoch and stats.completed:  # the first epoch carries the switch
                    p50s.append(stats.latency_p50_ms)
                    p95s.append(stats.latency_p95_ms)
                    configs.append(device._config)
            catalog_ms = float(np.median([table.latency_ms[variant, c] for c in configs]))
            rows.append({"variant": variant_id, "catalog_ms": round(catalog_ms, 4),
                         "served_p50_ms": round(float(np.median(p50s)), 4),
                         "served_p95_ms": round(float(np.median(p95s)), 4),
                         "overhead_ms": round(float(np.median(p50s)) - catalog_ms, 4),
                         "overhead_sd_ms": round((float(np.median(p95s)) - float(np.median(p50s))) / 1.645, 4)})
    finally:
        device.close()
    print(json.dumps({
        "date": time.strftime("%Y-%m-%d"), "load_average": [round(x, 2) for x in psutil.getloadavg()],
        "rate_hz": scenario.request_rate_hz, "epochs_per_variant": args.epochs, "variants": rows,
        "request_overhead_ms": round(float(np.median([r["overhead_ms"] for r in rows])), 3),
        "request_overhead_sd_ms": round(float(np.median([r["overhead_sd_ms"] for r in rows])), 3),
    }, indent=2))


if __name__ == "__main__":
    main()
