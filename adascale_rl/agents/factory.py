"""Controllers by name, as the CLI and reports name them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from adascale_rl.agents.baselines import GreedyController, RandomController, StaticController, most_accurate_action
from adascale_rl.agents.controller import Controller
from adascale_rl.agents.oracle import OracleController
from adascale_rl.envs.adascale_env import AdaScaleEnv
from adascale_rl.envs.contract import DecisionContract
from adascale_rl.traces import Trace

CONTROLLER_NAMES = ("ppo", "greedy", "best-static", "static-full", "random", "oracle")


def best_static_action(contract: DecisionContract, n_episodes: int = 6, episode_epochs: int = 128,
                       seed: int = 123, traces: list[Trace] | None = None) -> int:
    """The single action with the highest total reward on seeded segments of TRAIN traces: ``traces``
    (an experiment fold's train traces), default the scenario's train split — never the test traces,
    or best-static would be chosen in hindsight on the data it is scored on."""
    from adascale_rl.agents.evaluate import episode_specs, run_episode

    env = AdaScaleEnv(contract.scenario, split=contract.scenario.train_split, mode="eval", traces=traces)
    specs = episode_specs(env, n_episodes, episode_epochs, seed)
    totals = {}
    for action in np.flatnonzero(contract.exists):
        controller = StaticController(env.contract, int(action))
        totals[int(action)] = sum(run_episode(env, controller, spec)["reward"].sum() for spec in specs)
    return max(totals, key=totals.__getitem__)


def load_ppo(policy: str | Path, contract: DecisionContract) -> Controller:
    """A trained policy: an SB3 run folder / zip, or an exported ONNX policy folder (``policy.onnx``)."""
    path = Path(policy)
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
