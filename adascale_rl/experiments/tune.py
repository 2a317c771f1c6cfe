"""Hyperparameter search for MaskablePPO with Ray Tune (Optuna's TPE searcher and/or the ASHA scheduler).

**Objective**: the validation score ``(R − R_random) / (R_oracle − R_random)`` of the trained policy on
seeded segments of the *validation* part of the train traces — the last ``val_frac`` of every train
trace, which :func:`~adascale_rl.agents.ppo.train` holds out of training. The test split is never
touched. The random and oracle totals of those segments are computed once, before the trials.

Each trial trains on the first ``1 − val_frac`` of the train traces with the base hyperparameters
(the bundled file, or ``--hyperparams``) updated by the sampled values of :data:`SEARCH_SPACE`, reports
the validation score every ``report_every`` steps (ASHA stops poor trials early at those points) and at
the end. The best trial's configuration is written as an RL-Zoo-layout YAML that
``adascale-rl train --hyperparams`` reads.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from adascale_rl.agents.baselines import RandomController
from adascale_rl.agents.evaluate import EpisodeSpec, episode_specs, evaluate
from adascale_rl.agents.oracle import OracleController
from adascale_rl.agents.ppo import load_hyperparams, split_in_time
from adascale_rl.envs.adascale_env import AdaScaleEnv
from adascale_rl.experiments.backends import import_ray
from adascale_rl.scenario import Scenario
from adascale_rl.traces import Trace, load_split

#: network shapes by label (Optuna's categorical values must be scalars)
NET_ARCHS = {"64x64": [64, 64], "128x128": [128, 128], "256x256": [256, 256]}


def search_space() -> dict[str, Any]:
    """The sampled MaskablePPO hyperparameters (Ray Tune distributions); the rest come from the base file."""
    from ray import tune

    return {
        "learning_rate": tune.loguniform(1e-4, 3e-3),
        "gamma": tune.choice([0.8, 0.9, 0.95, 0.99]),
        "gae_lambda": tune.choice([0.8, 0.9, 0.95]),
        "ent_coef": tune.loguniform(1e-4, 3e-2),
        "n_steps": tune.choice([128, 256, 512]),
        "batch_size": tune.choice([64, 128, 256]),
        "n_epochs": tune.choice([5, 10]),
        "clip_range": tune.choice([0.1, 0.2, 0.3]),
        "net_arch": tune.choice(list(NET_ARCHS)),
    }



def params_from_config(base: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Base hyperparameters with a trial's sampled values (``net_arch`` label → ``policy_kwargs``)."""
    params = dict(base)
    for key, value in config.items():
        if key == "net_arch":
            params["policy_kwargs"] = {**params.get("policy_kwargs", {}), "net_arch": list(NET_ARCHS[value])}
        else:
            params[key] = value.item() if hasattr(value, "item") else value
    return params


@dataclass(frozen=True)
class Validation:
    """The validation episodes and their random/oracle total rewards (the score's 0 and 1)."""

    traces: tuple[Trace, ...]  # validation parts of the train traces
    specs: tuple[EpisodeSpec, ...]
    random_total: float
    oracle_total: float

    def score(self, scenario: Scenario, controller) -> float:
        env = AdaScaleEnv(scenario, mode="eval", traces=list(self.traces))
        total = float(evaluate(env, [controller], list(self.specs))["reward"].sum())
        return (total - self.random_total) / (self.oracle_total - self.random_total)


def make_validation(scenario: Scenario, train_traces: list[Trace], val_frac: float, episodes: int, epochs: int,
                    seed: int) -> Validation:
    """Seeded segments of the held-out part of the train traces, scored by random and oracle once."""
    _, held_out = split_in_time(train_traces, val_frac)
    env = AdaScaleEnv(scenario, mode="eval", traces=held_out)
    specs = episode_specs(env, episodes, epochs, seed)
    records = evaluate(env, [RandomController(env.contract, seed), OracleController()], specs)
    totals = records.groupby("controller")["reward"].sum()
    if not totals["oracle"] > totals["random"]:
        raise ValueError("the oracle does not beat random on the validation segments: no score to optimise")
    return Validation(tuple(held_out), tuple(specs), float(totals["random"]), float(totals["oracle"]))


@dataclass(frozen=True)
class TuneSetup:
    """What every trial needs (shipped to trials once through the object store)."""

    scenario: Scenario
    train_traces: tuple[Trace, ...]
    base: dict[str, Any]
    timesteps: int
    report_every: int
    val_frac: float
    seed: int
    validation: Validation


def _trial(config: dict[str, Any], setup: TuneSetup) -> None:
    """One Tune trial: train with the sampled hyperparameters, report the validation score."""
    from ray import tune
    from stable_baselines3.common.callbacks import BaseCallback

    from adascale_rl.agents.ppo import PPOController, train
    from adascale_rl.experiments.cells import single_torch_thread

    class ReportScore(BaseCallback):
        """Validation score every ``report_every`` steps (ASHA's rungs) and at the end."""

        def __init__(self) -> None:
            super().__init__()
            self.reported_at = 0

        def _report(self) -> None:
            self.reported_at = self.num_timesteps
            score = setup.validation.score(setup.scenario, PPOController(self.model))
            tune.report({"score": score, "timesteps": self.num_timesteps})

        def _on_step(self) -> bool:
            if self.num_timesteps - self.reported_at >= setup.report_every:
                self._report()
            return True

        def _on_training_end(self) -> None:
            if self.num_timesteps > self.reported_at:
                self._report()

    params = params_from_config(setup.base, config)
    with tempfile.TemporaryDirectory(prefix="adascale-tune-") as tmp, single_torch_thread(True):
        path = Path(tmp, "hyperparams.yml")
        path.write_text(yaml.safe_dump({setup.scenario.name: params}), encoding="utf-8")
        train(setup.scenario, Path(tmp, "run"), timesteps=setup.timesteps, seed=setup.seed, hyperparams=path,
              val_frac=setup.val_frac, eval_freq=setup.timesteps + 1, progress_bar=False,
              traces=list(setup.train_traces), callbacks=[ReportScore()])


@dataclass(frozen=True)
class TuneOutcome:
    best_params: dict[str, Any]
    best_score: float
    trials: int
    path: Path


def tune_hyperparams(scenario: Scenario, out: str | Path, samples: int = 16, timesteps: int | None = None,
                     searcher: str = "optuna", scheduler: str = "asha", report_every: int | None = None,
                     hyperparams: str | Path | None = None, val_frac: float = 0.2, val_episodes: int = 4,
                     val_epochs: int = 128, seed: int = 0, address: str | None = None,
                     storage: str | Path | None = None, max_concurrent: int | None = None) -> TuneOutcome:
    """Search MaskablePPO hyperparameters for ``scenario`` (see module docstring); write the best to ``out``."""
    if searcher not in ("optuna", "random") or scheduler not in ("asha", "fifo"):
        raise ValueError(f"searcher must be optuna or random, scheduler asha or fifo (got {searcher}, {scheduler})")
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    ray = import_ray()
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    base = load_hyperparams(scenario.name, hyperparams)
    timesteps = timesteps or int(base.get("n_timesteps", 100_000))
    base.pop("n_timesteps", None)
    report_every = report_every or max(1, timesteps // 4)
    _ = scenario.profile, scenario.table
    train_traces = load_split(scenario.train_split)
    validation = make_validation(scenario, train_traces, val_frac, val_episodes, val_epochs, seed)
    setup = TuneSetup(scenario, tuple(train_traces), base, timesteps, report_every, val_frac, seed, validation)
    search_alg = None
    if searcher == "optuna":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        search_alg = OptunaSearch(sampler=optuna.samplers.TPESampler(seed=seed))
    sched = (ASHAScheduler(time_attr="timesteps", max_t=timesteps, grace_period=min(report_every, timesteps),
                           reduction_factor=2) if scheduler == "asha" else FIFOScheduler())
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    try:
        storage_path = Path(storage) if storage else Path(out).resolve().parent / "ray_tune"
        tuner = tune.Tuner(
            tune.with_resources(tune.with_parameters(_trial, setup=setup), {"cpu": 1}),
            param_space=search_space(),
            tune_config=tune.TuneConfig(metric="score", mode="max", num_samples=samples, search_alg=search_alg,
                                        scheduler=sched, max_concurrent_trials=max_concurrent),
            run_config=tune.RunConfig(storage_path=str(storage_path.resolve()), verbose=1,
                                      name=f"{scenario.name}-{searcher}-{scheduler}"),
        )
        results = tuner.fit()
        best = results.get_best_result(metric="score", mode="max", scope="last")
    finally:
        if started:
            ray.shutdown()
    if best.metrics is None or "score" not in best.metrics:
        raise RuntimeError(f"no trial reported a score; errors: {[str(r.error) for r in results if r.error]}")
    params = params_from_config(base, best.config)
    path = write_hyperparams(out, scenario.name, params, timesteps, comment=(
        f"tuned by `adascale-rl tune` ({searcher} + {scheduler}, {len(results)} trials of {timesteps} steps, "
        f"seed {seed}); validation score {best.metrics['score']:.4f} vs oracle on {val_episodes} segment(s) of "
        f"{val_epochs} epochs of the last {val_frac:g} of the {scenario.train_split} traces"))
    return TuneOutcome(params, float(best.metrics["score"]), len(results), path)


def write_hyperparams(path: str | Path, scenario_name: str, params: dict[str, Any], timesteps: int,
                      comment: str = "") -> Path:
    """An RL-Zoo-layout hyperparameter file (one top-level key per scenario), as the bundled one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {scenario_name: {"n_timesteps": timesteps, **params}}
    header = "".join(f"# {line}\n" for line in comment.splitlines()) if comment else ""
    path.write_text(header + yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path
