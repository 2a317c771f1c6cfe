"""The quickstart's training phase with a baseline revision's code vs this checkout's, side by side.

Each round trains ``adascale_rl.agents.ppo.train`` on pixel4 with the bundled hyperparameters (as
``adascale-rl quickstart`` does: seed 0, validation every 10,000 steps) once with the code of
``--baseline`` (default ``main``, exported with ``git archive`` into a temporary folder and put first on
``PYTHONPATH``) and once with this checkout, in fresh processes, alternating which goes first, so
machine load hits both alike. Prints wall and CPU seconds per run, the speed-up per round and whether
both trained the same policy (every weight equal) with the same validation results, as JSON.

Usage: ``python benchmarks/train_speed.py [--timesteps 150000] [--rounds 1] [--baseline main]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRAIN = """
import json, sys, time, torch
from adascale_rl.agents.ppo import train
from adascale_rl.scenario import get_scenario
import adascale_rl
torch.set_num_threads(1)
wall, cpu = time.perf_counter(), time.process_time()
result = train(get_scenario("pixel4"), sys.argv[1], timesteps=int(sys.argv[2]), seed=0, progress_bar=False)
print(json.dumps({"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
                  "learn_wall_s": result.wall_s, "package": adascale_rl.__file__}))
"""


def export_revision(revision: str, into: Path) -> Path:
    """``adascale_rl`` of a git revision, extracted under ``into``."""
    archive = into / "baseline.tar"
    with archive.open("wb") as handle:
        subprocess.run(["git", "archive", revision, "adascale_rl"], cwd=REPO, check=True, stdout=handle)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "src", filter="data")
    return into / "src"


def run_training(pythonpath: Path | None, out: Path, timesteps: int) -> dict:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = f"{pythonpath}{os.pathsep}{env.get('PYTHONPATH', '')}"
    completed = subprocess.run([sys.executable, "-c", TRAIN, str(out), str(timesteps)], env=env, check=True,
                               capture_output=True, text=True, cwd=out.parent)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def same_training(first: Path, second: Path) -> bool:
    """Whether two run folders hold the same trained policy (every tensor equal) and validation log."""
    import io
    import zipfile

    import numpy as np
    import torch

    def weights(run: Path) -> dict:
        with zipfile.ZipFile(run / "model.zip") as archive:
            return torch.load(io.BytesIO(archive.read("policy.pth")), weights_only=True)

    a, b = weights(first), weights(second)
    same_policy = a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)
    evaluations = [np.load(run / "eval" / "evaluations.npz")["results"] for run in (first, second)]
    return bool(same_policy and np.array_equal(*evaluations))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=150_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--baseline", default="main", help="git revision whose code is the baseline")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        baseline_src = export_revision(args.baseline, tmp)
        rounds = []
        for index in range(args.rounds):
            order = [("baseline", baseline_src), ("new", None)]
            if index % 2:
                order.reverse()
            runs = {}
            for name, path in order:
                runs[name] = run_training(path, tmp / f"{name}{index}", args.timesteps)
                runs[name]["load_avg_after"] = os.getloadavg()[0]
            runs["same_policy_and_validation"] = same_training(tmp / f"baseline{index}", tmp / f"new{index}")
            runs["speedup_wall"] = runs["baseline"]["wall_s"] / runs["new"]["wall_s"]
            runs["speedup_cpu"] = runs["baseline"]["cpu_s"] / runs["new"]["cpu_s"]
            rounds.append(runs)
            print(json.dumps(runs), flush=True)
    print(json.dumps({"date": time.strftime("%Y-%m-%d"), "timesteps": args.timesteps, "baseline": args.baseline,
                      "rounds": rounds}, indent=2))


if __name__ == "__main__":
    main()
