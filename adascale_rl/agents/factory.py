"""Controllers by name, as the CLI and reports name them."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from adascale_rl.agents.baselines import GreedyController, RandomController, StaticController, most_accurate_action
from adascale_rl.agents.controller import Controller
from adascale_rl.agents.oracle import OracleController
from adascale_rl.envs.adascale_env import AdaScaleEnv
from adascale_rl.envs.contract import DecisionContract
from adascale_rl.errors import DataError
from adascale_rl.scenario import Scenario
from adascale_rl.traces import Trace

log = logging.getLogger(__name__)

CONTROLLER_NAMES = ("ppo", "greedy", "best-static", "static-full", "random", "oracle")


def best_static_action(contract: DecisionContract, n_episodes: int = 6, episode_epochs: int = 128,
                       seed: int = 123, traces: list[Trace] | None = None) -> int:
    """The single action with the highest total reward on seeded segments of TRAIN traces: ``traces``
    (an experiment fold's train traces), default the scenario's train split — never the test traces,
    or best-static would be chosen in hindsight on the data it is scored on."""
    from adascale_rl.agents.evaluate import episode_specs, run_episode

    env = AdaScaleEnv(contract.scenario, split=contract.scenario.train_split, mode="eval", traces=traces)
    # Uniform segments (no share placed on state changes): the pick should weigh conditions as often as
    # the traces hold them, not over-represent transitions as the evaluation episodes do on purpose.
    specs = episode_specs(env, n_episodes, episode_epochs, seed, change_share=0.0)
    totals = {}
    for action in np.flatnonzero(contract.exists):
        controller = StaticController(env.contract, int(action))
        totals[int(action)] = sum(run_episode(env, controller, spec)["reward"].sum() for spec in specs)
    return max(totals, key=totals.__getitem__)


def recorded_scenario(policy: Path) -> tuple[Path, str, str, str] | None:
    """(file, scenario name, how to pass it, digest) recorded with a policy, or None if nothing was.

    An exported folder records them in ``policy.json``, a training run in ``run.json`` (beside a model
    zip too); a bare SB3 zip records nothing.
    """
    folder = policy if policy.is_dir() else policy.parent
    contract_file, run_file = folder / "policy.json", folder / "run.json"
    try:
        if (folder / "policy.onnx").is_file() and contract_file.is_file():
            doc = json.loads(contract_file.read_text(encoding="utf-8"))["scenario"]
            return contract_file, str(doc["name"]), str(doc["ref"]), str(doc["digest"])
        if run_file.is_file():
            doc = json.loads(run_file.read_text(encoding="utf-8"))
            return run_file, str(doc["scenario"]), str(doc["scenario"]), str(doc["scenario_digest"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise DataError(contract_file if contract_file.is_file() else run_file,
                        f"cannot read the policy's scenario ({type(exc).__name__}: {exc})",
                        expected="JSON with the scenario name and digest, as `train`/`export` write it") from None
    return None


def check_policy_scenario(policy: str | Path, scenario: Scenario) -> None:
    """Refuse a policy trained for another scenario (or an older version of this one).

    Two scenarios can have the same observation and action sizes (``pixel4`` and ``s10`` both have 32
    actions), so a shape check alone would let a policy score the wrong scenario; the digest recorded
    at training time must equal ``scenario.digest()``.
    """
    recorded = recorded_scenario(Path(policy))
    if recorded is None:
        log.warning("%s: no run.json or policy.json beside the policy; cannot check that it was trained on "
                    "scenario %r", policy, scenario.name)
        return
    source, name, ref, digest = recorded
    if digest == scenario.digest():
        return
    if name != scenario.name:
        raise DataError(source, f"the policy was trained on scenario '{name}', but this evaluation uses scenario "
                        f"'{scenario.name}': pass --scenario {ref}")
    raise DataError(source, f"the policy was trained on scenario '{name}' with digest {digest[:12]}…, but scenario "
                    f"'{name}' now has digest {scenario.digest()[:12]}… (its settings, device profile or catalog "
                    "changed): retrain (and re-export) the policy on it, or pass --scenario with the scenario TOML "
                    "it was trained on")


def load_ppo(policy: str | Path, contract: DecisionContract) -> Controller:
    """A trained policy: an SB3 run folder / zip, or an exported ONNX policy folder (``policy.onnx``),
    refused if it was trained on another scenario (:func:`check_policy_scenario`)."""
    path = Path(policy)
    check_policy_scenario(path, contract.scenario)
    if (path / "policy.onnx").is_file():
        from adascale_rl.hardware_bridge.runtime import PolicyRuntime

        runtime = PolicyRuntime(path, contract.scenario)
        runtime.name = "ppo"
        return runtime
    from adascale_rl.agents.ppo import PPOController, load_policy

    return PPOController(load_policy(path, contract))


def build_controllers(names: list[str], contract: DecisionContract, policy: str | Path | None = None,
                      seed: int = 0, train_traces: list[Trace] | None = None) -> list[Controller]:
    """Instantiate controllers by name: those in :data:`CONTROLLER_NAMES` or ``static:VARIANT_ID``.

    ``train_traces``: where ``best-static`` picks its variant (default: the scenario's train split).
    """
    controllers: list[Controller] = []
    for name in names:
        if name == "ppo":
            if policy is None:
                raise ValueError("controller 'ppo' needs a policy (--policy RUN_DIR or exported policy folder)")
            controllers.append(load_ppo(policy, contract))
        elif name == "greedy":
            controllers.append(GreedyController(contract))
        elif name == "best-static":
            controllers.append(StaticController(contract, best_static_action(contract, traces=train_traces),
                                                "best-static"))
        elif name == "static-full":
            controllers.append(StaticController(contract, most_accurate_action(contract), "static-full"))
        elif name == "random":
            controllers.append(RandomController(contract, seed))
        elif name == "oracle":
            controllers.append(OracleController())
        elif name.startswith("static:"):
            variant = contract.table.index(name.split(":", 1)[1])
            controllers.append(StaticController(contract, int(contract.variant_action[variant]), name))
        else:
            raise ValueError(f"unknown controller {name!r}; known: {', '.join(CONTROLLER_NAMES)} or static:VARIANT_ID")
    return controllers
