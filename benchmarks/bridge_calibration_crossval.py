"""Does calibrating the catalog from live runs predict *other* live runs? Cross-validation over live runs.

One sim-vs-real pair (calibrate on run A, score run B) mixes what calibration fixes with how far run B
happened to drift from run A on this VM. This script takes every live run that
``benchmarks/bridge_sim_vs_real.py`` left under one or more ``--out-dir`` folders (``pass1/`` and ``pass2/``
of each, same controllers, same trace window) and, per controller, holds out each run in turn:

- **bundled**: the held-out run against the simulator on the bundled catalog;
- **one run**: against the simulator on the catalog calibrated from *one* other run — every other run in
  turn (the issue's "calibrate from one live run, then a second live run"), so each held-out run gets
  ``n − 1`` such scores;
- **pooled**: against the catalog calibrated from all other runs together (``catalog calibrate --live A
  --live B …``);
- **run to run**: the held-out run against each other run directly, real against real.

Errors are the comparison's median per-epoch ``|sim p95 − real p95| / real p95`` (simulator prediction: the
median of ``--replications`` replays); each cell of the table is the median over the held-out runs, with
the range. Runs that served another configuration than the controller's other runs (e.g. a pass 2 made
before calibration scaled unmeasured configurations) are listed and left out: the simulator under test
would choose another thread count than the device used.

Usage::

    .venv/bin/python benchmarks/bridge_calibration_crossval.py reports/svr_a reports/svr_b [--out summary.md]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd

from adascale_rl.catalog.calibrate import SPREADS, LiveProfile, calibrate_table
from adascale_rl.hardware_bridge.loop import measured
from adascale_rl.hardware_bridge.sim_vs_real import (
    DEFAULT_REPLICATIONS,
    compare_with_sim,
    load_run,
    markdown_table,
    run_scenario,
    run_to_run_error,
    served_cells,
    sidecar,
)
from adascale_rl.scenario import with_catalog


def collect(folders: list[Path]) -> dict[str, list[dict]]:
    """controller → its runs (name, frame, info, live profile, served cells), in folder order."""
    runs: dict[str, list[dict]] = {}
    for folder in folders:
        for csv_path in sorted(chain((folder / "pass1").glob("*.csv"), (folder / "pass2").glob("*.csv"))):
            if csv_path.name.count(".") > 1:  # sidecars: NAME.live_profile.csv, NAME.catalog.csv
                continue
            frame, info = load_run(csv_path)
            scored = measured(frame)
            runs.setdefault(csv_path.stem, []).append({
                "name": f"{folder.name}/{csv_path.parent.name}", "frame": frame, "info": info,
                "live": LiveProfile.load(sidecar(csv_path, ".live_profile.csv")),
                "configs": set(scored["served_variant_id"] + "@" + scored["served_config"]),
                "served": served_cells(frame)})
    return runs


def consistent(runs: list[dict]) -> tuple[list[dict], list[str]]:
    """The runs that served the controller's usual cells (the most common set), and notes on the others."""
    usual = pd.Series([frozenset(r["configs"]) for r in runs]).mode().iloc[0]
    kept = [r for r in runs if frozenset(r["configs"]) == usual]
    notes = [f"{r['name']}: served {r['served']}, not {', '.join(sorted(usual))} — left out" for r in runs
             if frozenset(r["configs"]) != usual]
    return kept, notes


def crossval(runs: list[dict], replications: int, seed: int, workdir: Path, spread: str = "tail") -> dict[str, object]:
    """Per held-out run: bundled, one-run (each other run) and pooled calibrated (p95, p50) errors — arrays
    of shape (runs, 2), (runs, runs − 1, 2) and (runs, 2) — and run to run (p95)."""
    scenario = run_scenario(runs[0]["info"])
    catalogs: dict[tuple[int, ...], object] = {}

    def calibrated(sources: tuple[int, ...]):
        if sources not in catalogs:
            table = calibrate_table(scenario.table, scenario.profile, [runs[i]["live"] for i in sources],
                                    spread=spread).table
            path = table.save(workdir / f"cal_{len(catalogs)}.csv")
            catalogs[sources] = with_catalog(scenario, path)
        return catalogs[sources]

    def error(run: dict, catalog_scenario) -> tuple[float, float]:
        comparison = compare_with_sim(run["frame"], catalog_scenario, epoch_s=run["info"].epoch_s,
                                      reading_is=run["info"].reading_is, seed=seed, replications=replications)
        return comparison.median_error, comparison.p50_median_error

    bundled, one_run, pooled, run_to_run = [], [], [], []
    for j, held_out in enumerate(runs):
        others = tuple(i for i in range(len(runs)) if i != j)
        bundled.append(error(held_out, scenario))
        one_run.append([error(held_out, calibrated((i,))) for i in others])
        pooled.append(error(held_out, calibrated(others)))
        run_to_run.append([run_to_run_error(runs[i]["frame"], held_out["frame"]) for i in others])
    return {"bundled": np.array(bundled), "one_run": np.array(one_run), "pooled": np.array(pooled),
            "run_to_run": run_to_run}


def spread(values) -> str:
    values = np.asarray(values, dtype=float)
    return f"{np.median(values):.1%} ({values.min():.1%}–{values.max():.1%})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="--out-dir folders of bridge_sim_vs_real.py")
    parser.add_argument("--replications", type=int, default=DEFAULT_REPLICATIONS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--goal", type=float, default=0.15, help="median per-epoch p95 error goal")
    parser.add_argument("--spread", choices=SPREADS, default="tail", help="calibration's spread estimate")
    parser.add_argument("--out", type=Path, default=None, help="also write the Markdown here")
    args = parser.parse_args()
    missing = [str(f) for f in args.folders if not (f / "pass1").is_dir()]
    if missing:
        print(f"not bridge_sim_vs_real.py output folders (no pass1/): {', '.join(missing)}", file=sys.stderr)
        return 2
    rows, notes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for controller, all_runs in collect(args.folders).items():
            runs, left_out = consistent(all_runs)
            notes += [f"- {controller}: {note}" for note in left_out]
            if len(runs) < 2:
                notes.append(f"- {controller}: fewer than two consistent runs, not cross-validated")
                continue
            cv = crossval(runs, args.replications, args.seed, Path(tmp) / controller, args.spread)
            bundled, pooled, pairs = cv["bundled"], cv["pooled"], cv["one_run"]
            one_run = np.median(pairs, axis=1)  # per held-out run, over the runs calibrated from
            lower = (pairs[..., 0] < bundled[:, None, 0]).sum()
            rows.append({
                "controller": controller, "runs": len(runs),
                "p95: bundled": spread(bundled[:, 0]), "p95: calibrated from one run": spread(one_run[:, 0]),
                "p95: calibrated from the others pooled": spread(pooled[:, 0]),
                "p95: run to run (real vs real)": spread([np.median(e) for e in cv["run_to_run"]]),
                "pairs calibrated < bundled (p95)": f"{lower}/{pairs[..., 0].size}",
                f"held-out runs ≤ {args.goal:.0%} (one run / pooled)":
                    f"{(one_run[:, 0] <= args.goal).sum()} / {(pooled[:, 0] <= args.goal).sum()} of {len(runs)}",
                "p50: bundled → one run → pooled": " → ".join(f"{np.median(x):.1%}" for x in
                                                             (bundled[:, 1], one_run[:, 1], pooled[:, 1])),
            })
    table = pd.DataFrame(rows)
    text = "\n".join([f"Runs from: {', '.join(str(f) for f in args.folders)}; simulator prediction = median of "
                      f"{args.replications} replays; cells: median over held-out runs (range).", "",
                      markdown_table(table), "", *notes])
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
