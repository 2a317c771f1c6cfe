"""PPO controller training with sb3-contrib ``MaskablePPO`` and loading trained policies safely.

Training data: the scenario's train traces, cut in time — the first ``1 − val_frac`` of every trace
trains, the last ``val_frac`` is held out for periodic evaluation and best-model selection, so the
test split stays untouched until the final evaluation. Training episodes are domain-randomised as the
scenario's ``[randomize]`` table says (:mod:`adascale_rl.randomization`); validation episodes never are
(they select the policy that does best on real recorded conditions). ``run.json`` records the ranges.
Every validation plays the same ``eval_episodes`` segments with the same simulator seeds
(:mod:`adascale_rl.agents.validation`), so checkpoints are compared on equal terms.

A run folder holds ``model.zip`` (final), ``best_model.zip`` (best on validation), ``run.json``
(scenario, its digest, hyperparameters, seed, timing; strict JSON: a value that is not a finite number,
such as the best validation reward when no validation ran, is ``null``), ``hyperparams.yml``,
``training_curve.png`` (validation and training reward vs timesteps), the validation log
``eval/evaluations.npz`` and TensorBoard logs under ``tb/``.

PPO collects whole rollouts of ``n_steps × n_envs`` steps, so a budget is rounded up to whole rollouts
before training (:func:`whole_rollouts`): the progress bar's total and ``run.json``'s ``timesteps`` are
the steps that really run, and ``requested_timesteps`` keeps what was asked for.
"""

from __future__ import annotations

import json
import time
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from adascale_rl import __version__
from adascale_rl._resources import data_path
from adascale_rl.envs.contract import DecisionContract
from adascale_rl.scenario import Scenario
from adascale_rl.traces import Trace, load_split

if TYPE_CHECKING:
    from stable_baselines3.common.callbacks import BaseCallback

PPO_KEYS = ("policy", "n_steps", "batch_size", "n_epochs", "gamma", "gae_lambda", "learning_rate", "ent_coef",
            "clip_range", "vf_coef", "max_grad_norm", "policy_kwargs", "target_kl")
RUN_KEYS = ("n_envs", "n_timesteps")
DEFAULT_VEC_ENV = "batched"  # fastest here; same learning semantics as the others (agents/vec_env.py)


def load_hyperparams(scenario_name: str, path: str | Path | None = None) -> dict[str, Any]:
    """Hyperparameters of one scenario from an RL-Zoo-style YAML file (default: the bundled one)."""
    path = Path(path) if path is not None else data_path("hyperparams", "maskable_ppo.yml")
    with Path(path).open(encoding="utf-8") as handle:
        document = yaml.safe_load(handle) or {}
    if scenario_name not in document:
        raise KeyError(f"{path}: no hyperparameters for scenario {scenario_name!r}; has {', '.join(document)}")
    params = dict(document[scenario_name])
    unknown = set(params) - set(PPO_KEYS) - set(RUN_KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown hyperparameter(s) {', '.join(sorted(unknown))} for {scenario_name!r}; "
                         f"known: {', '.join(PPO_KEYS + RUN_KEYS)}")
    return params


def split_in_time(traces: list[Trace], val_frac: float) -> tuple[list[Trace], list[Trace]]:
    """Each trace cut in two: the first part for training, the last ``val_frac`` for validation."""
    if not 0.0 < val_frac < 1.0:
        raise ValueError(f"val_frac must be in (0, 1), got {val_frac}")
    train, validation = [], []
    for trace in traces:
        cut = int(len(trace) * (1.0 - val_frac))
        train.append(trace.slice(0, cut))
        validation.append(trace.slice(cut, len(trace)))
    return train, validation


def whole_rollouts(timesteps: int, n_steps: int, n_envs: int) -> int:
    """``timesteps`` rounded up to whole rollouts: what ``learn`` really runs (it stops only after a rollout)."""
    rollout = n_steps * n_envs
    return -(-timesteps // rollout) * rollout


def finite_or_none(value: float) -> float | None:
    """A float for JSON, or None where it is not finite (JSON has no NaN or infinity)."""
    return float(value) if np.isfinite(value) else None


@dataclass(frozen=True)
class TrainResult:
    """Where a training run was written and how long it took."""

    run_dir: Path
    timesteps: int  # steps run: the requested budget rounded up to whole rollouts
    wall_s: float
    fps: float
    requested_timesteps: int


@contextmanager
def _distribution_checks_off() -> Iterator[None]:
    """torch.distributions argument validation off while training: MaskablePPO builds two Categorical
    distributions per forward pass and validating their arguments (finite logits, actions in support)
    costs ~5 % of training time; the values computed are the same."""
    from torch.distributions import Distribution

    previous = Distribution._validate_args
    Distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        Distribution.set_default_validate_args(previous)


def train(scenario: Scenario, out_dir: str | Path, timesteps: int | None = None, seed: int = 0,
          n_envs: int | None = None, hyperparams: str | Path | None = None, val_frac: float = 0.2,
          eval_freq: int = 10_000, eval_episodes: int = 8, progress_bar: bool = True, verbose: int = 0,
          vec_env: str = DEFAULT_VEC_ENV, traces: list[Trace] | None = None,
          callbacks: Sequence[BaseCallback] = ()) -> TrainResult:
    """Train a MaskablePPO controller for ``scenario`` and write a run folder (see module docstring).

    ``traces``: the traces to train (first ``1 − val_frac``) and validate (the rest) on; default the
    scenario's train split. Experiment grids pass a fold's train traces here. ``callbacks`` run beside
    the validation callback (hyperparameter search reports intermediate scores through one).

    ``vec_env`` (see :mod:`adascale_rl.agents.vec_env`): ``batched`` (default, the fastest measured on
    the 2-core reference machine, docs/BENCHMARKS.md), ``subproc`` or ``dummy`` (SB3's ``make_vec_env``).
    All three give the same training run for the same seed: sub-environment ``i`` is seeded ``seed + i``
    and PPO reads identical observations, rewards, masks and episode ends. Validation always runs in
    this process."""
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.callbacks import CallbackList

    from adascale_rl.agents.training_curve import plot_training_curve
    from adascale_rl.agents.validation import FixedEpisodesEvalCallback
    from adascale_rl.agents.vec_env import make_training_vec_env

    params = load_hyperparams(scenario.name, hyperparams)
    n_envs = n_envs or int(params.pop("n_envs", 1))
    params.pop("n_envs", None)
    requested = timesteps or int(params.pop("n_timesteps", 100_000))
    params.pop("n_timesteps", None)
    policy = params.pop("policy", "MlpPolicy")
    timesteps = whole_rollouts(requested, int(params.get("n_steps", 2048)), n_envs)  # MaskablePPO's n_steps default
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    traces = traces if traces is not None else load_split(scenario.train_split)
    train_traces, val_traces = split_in_time(traces, val_frac)
    vec = make_training_vec_env(vec_env, n_envs, seed, scenario=scenario, traces=train_traces)
    eval_env = make_training_vec_env("dummy" if vec_env == "dummy" else "batched", 1, seed + 10_000,
                                     scenario=scenario, traces=val_traces, randomize=False)
    callback = FixedEpisodesEvalCallback(eval_env, episode_seed=seed + 10_000, n_eval_episodes=eval_episodes,
                                         eval_freq=max(1, eval_freq // n_envs), best_model_save_path=str(out),
                                         log_path=str(out / "eval"), deterministic=True, verbose=verbose)
    model = MaskablePPO(policy, vec, seed=seed, verbose=verbose, tensorboard_log=str(out / "tb"), **params)
    started = time.perf_counter()
    with _distribution_checks_off(), warnings.catch_warnings():
        # validation runs batched in this process whatever trains; SB3 warns when the two differ in type
        warnings.filterwarnings("ignore", message="Training and eval env are not of the same type")
        model.learn(timesteps, callback=CallbackList([callback, *callbacks]), progress_bar=progress_bar,
                    tb_log_name="ppo")
    wall = time.perf_counter() - started
    model.save(out / "model.zip")
    if not (out / "best_model.zip").exists():
        model.save(out / "best_model.zip")
    vec.close()
    eval_env.close()
    run = {"scenario": scenario.name, "scenario_digest": scenario.digest(), "algorithm": "MaskablePPO",
           "timesteps": int(model.num_timesteps), "requested_timesteps": requested, "seed": seed, "n_envs": n_envs,
           "vec_env": vec_env, "val_frac": val_frac, "traces": [trace.meta.name for trace in traces],
           "randomize": scenario.randomize.to_dict() if scenario.randomize.enabled else None,
           "validation": {"every_steps": eval_freq, "episodes": eval_episodes, "same_episodes_each_time": True,
                          "randomized": False},
           "hyperparams": {"policy": policy, **params}, "wall_s": round(wall, 2),
           "fps": round(model.num_timesteps / wall, 1), "best_mean_reward": finite_or_none(callback.best_mean_reward),
           "package_version": __version__}
    (out / "run.json").write_text(json.dumps(run, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    plot_training_curve(out, f"MaskablePPO on scenario '{scenario.name}' ({model.num_timesteps:,} steps, seed {seed})")
    with (out / "hyperparams.yml").open("w", encoding="utf-8") as handle:
        yaml.safe_dump({scenario.name: {"n_envs": n_envs, "n_timesteps": timesteps, "policy": policy, **params}},
                       handle, sort_keys=False)
    return TrainResult(out, int(model.num_timesteps), wall, model.num_timesteps / wall, requested)


def policy_file(run_dir: str | Path) -> Path:
    """The policy to use from a run folder (best on validation, else final), or the file itself."""
    path = Path(run_dir)
    if path.is_file():
        return path
    for name in ("best_model.zip", "model.zip"):
        if (path / name).is_file():
            return path / name
    raise FileNotFoundError(f"{path}: no best_model.zip or model.zip (is this a training run folder?)")


def load_policy(run_dir: str | Path, contract: DecisionContract):
    """Load a MaskablePPO policy without unpickling anything from the file.

    SB3 stores tensors (loaded with ``weights_only=True``) and a JSON document in which a few entries
    (spaces, schedules, the policy class) are cloudpickled. Every pickled entry is replaced via
    ``custom_objects`` with the value rebuilt from the scenario's contract, and a file with a pickled
    entry we do not know how to rebuild is refused.
    """
    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy

    path = policy_file(run_dir)

    def constant(value: float):
        return lambda _: value

    replacements: dict[str, Any] = {
        "observation_space": contract.observation_space, "action_space": contract.action_space,
        "policy_class": MaskableActorCriticPolicy, "lr_schedule": constant(0.0), "clip_range": constant(0.2),
        "learning_rate": 0.0, "clip_range_vf": None, "rollout_buffer_class": None, "rollout_buffer_kwargs": {},
        # training-loop state, not needed to act
        "_last_obs": None, "_last_episode_starts": None, "_last_original_obs": None, "ep_info_buffer": None,
        "ep_success_buffer": None,
    }
    with zipfile.ZipFile(path) as archive:
        data = json.loads(archive.read("data").decode("utf-8"))
    pickled = sorted(key for key, value in data.items() if isinstance(value, dict) and ":serialized:" in value)
    unknown = [key for key in pickled if key not in replacements]
    if unknown:
        raise ValueError(f"{path}: refusing to unpickle entries {', '.join(unknown)}")
    model = MaskablePPO.load(path, custom_objects={key: replacements[key] for key in pickled}, device="cpu")
    if model.observation_space.shape != contract.observation_space.shape or model.action_space.n != contract.n_actions:
        raise ValueError(f"{path}: policy expects {model.observation_space.shape} observations and "
                         f"{model.action_space.n} actions; the scenario has {contract.observation_space.shape} "
                         f"and {contract.n_actions}")
    return model


class PPOController:
    """A trained MaskablePPO policy behind the ``Controller`` protocol (deterministic actions)."""

    def __init__(self, model, name: str = "ppo") -> None:
        self.model = model
        self.name = name

    def decide(self, observation: np.ndarray, action_mask: np.ndarray) -> int:
        action, _ = self.model.predict(observation, action_masks=action_mask, deterministic=True)
        return int(action)

    def reset(self) -> None:
        """Stateless (MLP policy)."""
