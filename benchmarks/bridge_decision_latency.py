"""Decision latency of the exported policy: in-process ``PolicyRuntime`` and over the decision server.

Measures, after a warm-up, per call with ``time.perf_counter_ns``:

1. ``PolicyRuntime.decide(observation, mask)`` — the Controller call (input checks + onnxruntime),
   goal p50 ≤ 20 µs, p99 ≤ 100 µs; the bare ``session.run`` beside it for reference;
2. ``PolicyRuntime.decide_reading(reading)`` — the same plus building the observation and mask from a
   raw reading with the decision contract (what a device loop calls);
3. the decision server's round trip: ``DecisionClient.decide`` over a keep-alive loopback connection to
   ``adascale-rl bridge serve`` running as its own process (as deployed; in one process the client and
   server threads would also fight over the GIL).

Observations are drawn from env rollouts of the policy's scenario (real observation distribution).
The policy: ``--policy DIR`` (an exported folder), else the one bundled for pixel4, else a tiny policy
trained here (the actor's size, not its training, sets the latency).

Usage: ``python benchmarks/bridge_decision_latency.py [--policy DIR] [--n 20000] [--server-n 5000]``
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort


def percentiles_us(samples_ns: np.ndarray) -> dict[str, float]:
    p50, p99 = np.percentile(samples_ns, [50, 99]) / 1000.0
    return {"p50_us": round(float(p50), 2), "p99_us": round(float(p99), 2), "n": int(samples_ns.size)}


def time_calls(fn, args_list: list, warmup: int = 2000) -> np.ndarray:
    for i in range(warmup):
        fn(*args_list[i % len(args_list)])
    out = np.empty(len(args_list), dtype=np.int64)
    clock = time.perf_counter_ns
    for i, args in enumerate(args_list):
        start = clock()
        fn(*args)
        out[i] = clock() - start
    return out


def find_policy(arg: str | None, workdir: Path) -> Path:
    if arg:
        return Path(arg)
    try:
        from adascale_rl.agents.bundled import bundled_policy

        return bundled_policy("pixel4")
    except KeyError:
        from adascale_rl.hardware_bridge.testing import exported_tiny_policy

        return exported_tiny_policy(workdir / "pixel4")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default=None, help="exported policy folder")
    parser.add_argument("--n", type=int, default=20_000, help="timed in-process calls")
    parser.add_argument("--server-n", type=int, default=5_000, help="timed server round trips")
    parser.add_argument("--out", default=None, help="also write the JSON result here")
    args = parser.parse_args()

    from adascale_rl.envs.contract import Reading
    from adascale_rl.hardware_bridge.client import DecisionClient
    from adascale_rl.hardware_bridge.export import rollout_observations
    from adascale_rl.hardware_bridge.runtime import PolicyRuntime

    with tempfile.TemporaryDirectory() as tmp:
        policy = find_policy(args.policy, Path(tmp))
        runtime = PolicyRuntime(policy)
        obs, masks = rollout_observations(runtime.scenario, args.n, seed=1)
        decide = time_calls(runtime.decide, list(zip(obs, masks, strict=True)))
        session, outputs = runtime.session, ["action"]
        feeds = [({"observation": o.reshape(1, -1), "action_mask": m.reshape(1, -1)},) for o, m in zip(obs, masks,
                                                                                                    strict=True)]
        bare = time_calls(lambda feed: session.run(outputs, feed), feeds)
        readings = [(Reading(float(o[0]), float(o[1]), float(o[2])),) for o in obs]
        from_reading = time_calls(runtime.decide_reading, readings)
        samples = [({"cpu_freq_frac": float(o[0]), "cpu_bg_util": float(o[1]), "mem_avail_frac": float(o[2])},)
                   for o in obs[: args.server_n]]
        server = subprocess.Popen([sys.executable, "-m", "adascale_rl", "bridge", "serve", "--policy", str(policy),
                                   "--port", "0"], stdout=subprocess.PIPE, text=True)
        try:
            port = int(re.search(r"http://127\.0\.0\.1:(\d+)", server.stdout.readline()).group(1))
            with DecisionClient("127.0.0.1", port) as client:
                round_trip = time_calls(client.decide, samples, warmup=500)
        finally:
            server.terminate()
            server.wait(10)
    result = {
        "machine": f"{platform.machine()} python {platform.python_version()} onnxruntime {ort.__version__}",
        "date": time.strftime("%Y-%m-%d"),
        "policy": str(policy),
        "runtime_decide": percentiles_us(decide),
        "onnxruntime_session_run": percentiles_us(bare),
        "runtime_decide_reading": percentiles_us(from_reading),
        "server_round_trip": percentiles_us(round_trip),
        "goal_decide": "p50 <= 20 us, p99 <= 100 us",
    }
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
