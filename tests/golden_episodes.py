"""Golden episodes: fixed seeds, fixed and random-action episodes, every observation, reward, mask, info
field and ``EpochStats`` field recorded, so that speed work on the simulator and the env can prove that
results for a fixed seed stay bit-identical.

``tests/data/golden_episodes.json`` was generated from main's code without the speed work — first at
commit 55a9ed0, then again at c83b9bd (main after the per-variant serving overhead changed the ``local``
catalog; the pixel4 and stress cases came out byte-identical), and on 2026-12-07 after the quiet-machine
re-measurement of that catalog's overhead (only the ``local`` and ``SimDevice`` cases changed) — with
main's ``adascale_rl`` first on the path::

    git archive main adascale_rl | tar -x -C /tmp/main
    PYTHONPATH=/tmp/main .venv/bin/python tests/golden_episodes.py --write tests/data/golden_episodes.json

and ``tests/test_golden.py`` replays the same episodes and compares exactly (floats round-trip through
JSON exactly; observations are float32 and stored as their shortest float32 repr). Regenerate only when a
change *means* to alter simulated results, and say so in the commit.

Cases: scenario ``pixel4`` and ``local`` × mode ``train`` (two consecutive 20-epoch episodes: the second
reset takes no seed, so the env's own random sequence is covered) and ``eval`` (a fixed 40-epoch segment
of the test trace) × policy ``fixed`` (the most accurate variant throughout: a load, queueing, misses)
and ``random`` (uniform over the allowed actions, seeded: many switches). Plus the hindsight oracle's plan
on a short pixel4 segment (the simulator restarted at arbitrary epochs), a ``SimDevice`` run, and an
overloaded pixel4 variant played ignoring the mask (drops, out-of-memory failures, a request waiting
while its variant is swapped for one that does not fit).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
from pathlib import Path
from typing import Any

import numpy as np

from adascale_rl.agents.baselines import most_accurate_action
from adascale_rl.agents.oracle import OracleController
from adascale_rl.envs import AdaScaleEnv
from adascale_rl.hardware_bridge.devices.sim import SimDevice
from adascale_rl.scenario import Scenario, get_scenario
from adascale_rl.sim.stats import EpochStats
from adascale_rl.traces import find_entry

GOLDEN_PATH = Path(__file__).parent / "data" / "golden_episodes.json"
GOLDEN_TRAIN_TRACES = ("rpi4b8gb_1800mhz_pattern_6h", "rpi4b2gb_800mhz_pattern_12h")
TRAIN_EPOCHS = 20
TRAIN_EPISODES = 2
EVAL_SEGMENT = {"trace_index": 0, "start": 3000, "length": 40}
ORACLE_SEGMENT = {"trace_index": 0, "start": 7000, "length": 12}
STAT_FIELDS = tuple(field.name for field in dataclasses.fields(EpochStats))


def make_env(scenario: str | Scenario, mode: str, **kwargs: Any) -> AdaScaleEnv:
    """The env every golden case plays, with full step infos (``full_info``; main's env, which this file
    also runs on to regenerate the JSON, always gave them and has no such argument), without domain
    randomisation (``randomize=False``; the recorded cases predate it, and eval mode never randomises),
    and in train mode on the two boards that were the train split when the cases were recorded (the
    split has grown since; naming them keeps the cases what they were)."""
    parameters = inspect.signature(AdaScaleEnv).parameters
    if "full_info" in parameters:
        kwargs.setdefault("full_info", True)
    if "randomize" in parameters and mode == "train":
        kwargs.setdefault("randomize", False)
        kwargs.setdefault("traces", [find_entry(name).load() for name in GOLDEN_TRAIN_TRACES])
    if mode == "train":
        return AdaScaleEnv(scenario, mode="train", episode_epochs=TRAIN_EPOCHS, **kwargs)
    return AdaScaleEnv(scenario, mode="eval", **kwargs)


def _obs(observation: np.ndarray) -> list[list]:
    """The non-zero entries ``[index, value]``, float32 values as their shortest repr (exact after
    ``np.float32(value)``); most of an observation is the action one-hot's zeros."""
    observation = np.asarray(observation, dtype=np.float32)
    return [[int(i), float(str(observation[i]))] for i in np.flatnonzero(observation)]


def dense_obs(sparse: list[list], n_obs: int) -> np.ndarray:
    """Inverse of :func:`_obs`."""
    observation = np.zeros(n_obs, dtype=np.float32)
    for index, value in sparse:
        observation[index] = np.float32(value)
    return observation


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value JSON can hold (bit-exact)."""
    return value.item() if isinstance(value, np.generic) else value


def _mask(mask: np.ndarray) -> str:
    return "".join("1" if allowed else "0" for allowed in mask)


class _Recorder:
    """Column-oriented per-step records of one case."""

    def __init__(self) -> None:
        self.resets: list[dict[str, Any]] = []
        self.steps: dict[str, list] = {key: [] for key in ("action", "mask", "reward", "terminated", "truncated",
                                                           "epoch", "state", "variant_id", "branch",
                                                           "compression", "obs", *STAT_FIELDS)}

    def reset(self, env: AdaScaleEnv, observation: np.ndarray, info: dict) -> None:
        self.resets.append({"obs": _obs(observation), "trace": info["trace"], "start_epoch": info["start_epoch"],
                            "sim_seed": env.unwrapped.episode.sim_seed})

    def step(self, action: int, mask: np.ndarray, result: tuple) -> None:
        observation, reward, terminated, truncated, info = result
        record = {"action": int(action), "mask": _mask(mask), "reward": float(reward),
                  "terminated": bool(terminated), "truncated": bool(truncated), "obs": _obs(observation),
                  **{key: info[key] for key in ("epoch", "state", "variant_id", "branch", "compression")},
                  **info["stats"].to_dict()}
        for key, value in record.items():
            self.steps[key].append(_plain(value))

    def result(self, n_obs: int) -> dict[str, Any]:
        return {"n_obs": n_obs, "resets": self.resets, "steps": self.steps}


def stress_scenario() -> Scenario:
    """pixel4 overloaded: 40 requests/s into a 2-deep queue (drops), and a memory reserve that leaves
    6–12 MB usable on the eval segment (the test trace has 4,651–4,657 MB available there): part of the
    catalog fits, the rest fails its requests when the mask is ignored."""
    base = get_scenario("pixel4")
    return dataclasses.replace(base, request_rate_hz=40.0, queue_limit=2, mem_reserve_mb=4645.0)


def play_case(scenario: str | Scenario, mode: str, policy: str, seed: int, **env_kwargs: Any) -> dict[str, Any]:
    """Play one golden case and return its records. ``policy``: ``fixed`` (the most accurate variant when
    allowed), ``random`` (uniform over allowed actions) or ``unmasked`` (uniform over every variant, the
    mask ignored)."""
    env = make_env(scenario, mode, **env_kwargs)
    rng = np.random.default_rng(seed)
    fixed = most_accurate_action(env.contract)
    recorder = _Recorder()
    episodes = TRAIN_EPISODES if mode == "train" else 1
    for episode in range(episodes):
        if mode == "train":
            observation, info = env.reset(seed=seed if episode == 0 else None)
        else:
            observation, info = env.reset(seed=seed, options=dict(EVAL_SEGMENT))
        recorder.reset(env, observation, info)
        while True:
            mask = env.action_masks()
            allowed = np.flatnonzero(env.contract.exists if policy == "unmasked" else mask)
            action = fixed if policy == "fixed" and mask[fixed] else int(allowed[rng.integers(len(allowed))])
            result = env.step(action)
            recorder.step(action, mask, result)
            if result[2] or result[3]:
                break
    return recorder.result(env.contract.n_obs)


def play_oracle(seed: int, **env_kwargs: Any) -> dict[str, Any]:
    """The oracle's planned actions and realised rewards on a short pixel4 test segment."""
    env = make_env("pixel4", "eval", **env_kwargs)
    env.reset(seed=seed, options=dict(ORACLE_SEGMENT))
    oracle = OracleController()
    oracle.reset()
    oracle.plan(env)
    actions, rewards = [], []
    observation = None
    while True:
        action = oracle.decide(observation, env.action_masks())
        observation, reward, _, truncated, _ = env.step(action)
        actions.append(int(action))
        rewards.append(float(reward))
        if truncated:
            break
    return {"actions": actions, "rewards": rewards}


def play_sim_device(seed: int) -> dict[str, Any]:
    """``SimDevice`` (the bridge's simulated device) on the local scenario, alternating two variants."""
    scenario = get_scenario("local")
    from adascale_rl.traces import load_split

    device = SimDevice(scenario, load_split(scenario.test_split)[0], start_epoch=500, seed=seed)
    actions = np.flatnonzero(device.contract.exists)
    stats = {key: [] for key in STAT_FIELDS}
    for epoch in range(30):
        device.apply(int(actions[(epoch // 3) % 2 * 7]))
        for key, value in device.serve_epoch(scenario.epoch_s).to_dict().items():
            stats[key].append(_plain(value))
    return stats


def record_all(**env_kwargs: Any) -> dict[str, Any]:
    """Every golden case (keys ``scenario/mode/policy``, ``oracle``, ``sim_device``)."""
    cases: dict[str, Any] = {}
    for index, (scenario, mode, policy) in enumerate(
            (s, m, p) for s in ("pixel4", "local") for m in ("train", "eval") for p in ("fixed", "random")):
        cases[f"{scenario}/{mode}/{policy}"] = play_case(scenario, mode, policy, seed=100 + index, **env_kwargs)
    cases["stress/eval/unmasked"] = play_case(stress_scenario(), "eval", "unmasked", seed=120, **env_kwargs)
    cases["oracle"] = play_oracle(seed=7, **env_kwargs)
    cases["sim_device"] = play_sim_device(seed=3)
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, default=GOLDEN_PATH, help="JSON file to write")
    args = parser.parse_args()
    args.write.parent.mkdir(parents=True, exist_ok=True)
    args.write.write_text(json.dumps(record_all(), separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {args.write} ({args.write.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
