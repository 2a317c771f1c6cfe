"""Export a trained MaskablePPO run to ``policy.onnx`` + ``policy.json`` and prove the export is faithful.

The ONNX graph is the actor only — ``mlp_extractor.policy_net`` then ``action_net`` — with the masked
argmax *inside* the graph, so a device runtime feeds ``observation float32[batch, n_obs]`` and
``action_mask bool[batch, n_actions]`` and gets ``action int64[batch]`` with nothing else to reimplement::

    logits = action_net(policy_net(observation))
    masked = Where(action_mask, logits, -1e8)
    action = ArgMax(masked - (max(masked) + Log(ReduceSum(Exp(masked - max(masked))))), axis=-1)

That is SB3's deterministic ``predict(obs, action_masks=mask)``: sb3-contrib's ``MaskableCategorical``
replaces masked logits by −1e8, normalises them (``logits − logsumexp``) and takes the argmax of the
probabilities. Mathematically that is the argmax of the masked logits, but in float32 two logits a few
1e-7 apart can round to the same normalised value, and then the first index wins; computing the same
normalisation in the graph makes those near-ties round alike (a plain ArgMax of the raw logits disagreed
on 2 of 80,000 observations of a barely trained policy, this graph on none of 340,000).

Observations are already normalised inside the env from fixed physical ranges, and ``MlpPolicy`` with a
``Box`` space only flattens them, so no pre-processing is lost.

Exporter: torch's ``torch.onnx.export(..., dynamo=True)`` (opset 18), which needs ``onnxscript`` (a
dependency of this package). There is no fallback to the deprecated TorchScript exporter: a second
exporter would produce a different graph (opset 17) that no test covers, and a failure of the supported
one is a bug to see, not to hide. :func:`verify_export` runs the ONNX file in onnxruntime against SB3 on
observations from real env rollouts (random masked actions) and counts agreements.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from adascale_rl.envs.contract import DecisionContract
from adascale_rl.hardware_bridge.policy_file import (
    ACTION_OUTPUT,
    MASK_INPUT,
    OBS_INPUT,
    ONNX_FILE,
    PolicyContract,
    build_contract,
    read_contract,
    write_contract,
)
from adascale_rl.scenario import Scenario, get_scenario

MODEL_FILES = ("best_model.zip", "model.zip")
RUN_FILE = "run.json"
MASKED_LOGIT = -1e8  # sb3-contrib MaskableCategorical's HUGE_NEG
OPSET = 18


@dataclass(frozen=True)
class RunInfo:
    """What an exporter needs to know about a training run directory."""

    run_dir: Path
    model_path: Path
    scenario_ref: str
    scenario_digest: str | None
    doc: dict[str, Any]


def read_run(run_dir: str | Path, model_file: str | None = None) -> RunInfo:
    """Find the model (``best_model.zip``, else ``model.zip``) and ``run.json`` of a training run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: not a run directory (expected runs/NAME with model.zip and run.json)")
    candidates = (model_file,) if model_file else MODEL_FILES
    model_path = next((run_dir / name for name in candidates if (run_dir / name).is_file()), None)
    if model_path is None:
        raise FileNotFoundError(f"{run_dir}: none of {', '.join(candidates)} found")
    run_json = run_dir / RUN_FILE
    if not run_json.is_file():
        raise FileNotFoundError(f"{run_json}: missing (the training run records its scenario there)")
    doc = json.loads(run_json.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or not isinstance(doc.get("scenario"), str):
        raise ValueError(f"{run_json}: expected a JSON object with a string 'scenario'")
    digest = doc.get("scenario_digest")
    return RunInfo(run_dir, model_path, doc["scenario"], digest if isinstance(digest, str) else None, doc)


def load_model(model_path: Path, contract: DecisionContract):
    """Load a MaskablePPO zip on CPU without unpickling anything from it (the agents package's safe loader
    rebuilds the pickled entries from the scenario's contract and refuses unknown ones)."""
    from adascale_rl.agents.ppo import load_policy

    return load_policy(model_path, contract)


def actor_module(policy):
    """A ``torch.nn.Module`` (observation, mask) → action wrapping the policy's actor (see module doc)."""
    import torch
    from torch import nn

    class MaskedActor(nn.Module):
        """The MaskablePPO actor with the masked argmax in the graph."""

        def __init__(self) -> None:
            super().__init__()
            self.policy_net = policy.mlp_extractor.policy_net
            self.action_net = policy.action_net

        def forward(self, observation: torch.Tensor, action_mask: torch.Tensor) -> torch.Tensor:
            logits = self.action_net(self.policy_net(observation))
            masked = torch.where(action_mask, logits, torch.full_like(logits, MASKED_LOGIT))
            # Normalise as torch.distributions.Categorical does (logits - logsumexp, with logsumexp spelled
            # out as max + log sum exp(x - max), torch's own formula) so float32 near-ties round the same
            # way as in SB3; a plain ArgMax of the raw logits disagreed on ~1 in 40,000 observations.
            top = torch.amax(masked, dim=-1, keepdim=True)
            log_norm = torch.log(torch.sum(torch.exp(masked - top), dim=-1, keepdim=True)) + top
            return torch.argmax(masked - log_norm, dim=-1)

    return MaskedActor().eval()


def _check_policy(policy, contract: DecisionContract) -> None:
    from gymnasium import spaces
    from stable_baselines3.common.torch_layers import FlattenExtractor

    if not isinstance(policy.observation_space, spaces.Box) or policy.observation_space.shape != (contract.n_obs,):
        raise ValueError(f"policy observation space {policy.observation_space} does not match the scenario's "
                         f"({contract.n_obs},) observation")
    if not isinstance(policy.action_space, spaces.Discrete) or int(policy.action_space.n) != contract.n_actions:
        raise ValueError(f"policy action space {policy.action_space} does not match Discrete({contract.n_actions})")
    if not isinstance(policy.pi_features_extractor, FlattenExtractor):
        raise ValueError("only MlpPolicy (FlattenExtractor) policies can be exported: the graph exports "
                         "mlp_extractor.policy_net + action_net")


def _onnx_export(module, n_obs: int, n_actions: int, path: Path) -> tuple[int, str]:
    """Export with torch's dynamo ONNX exporter (batch dimension dynamic); returns (opset, exporter)."""
    import torch

    example = (torch.zeros(1, n_obs), torch.ones(1, n_actions, dtype=torch.bool))
    names = {"input_names": [OBS_INPUT, MASK_INPUT], "output_names": [ACTION_OUTPUT]}
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "torchvision is not installed" registration warnings are noise here
    try:
        batch = torch.export.Dim("batch", min=1)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(module, example, dynamo=True, opset_version=OPSET, verbose=False,
                                        dynamic_shapes=({0: batch}, {0: batch}), **names)
            program.save(str(path), external_data=False)  # one self-contained file (the checksum covers it)
    finally:
        quiet.setLevel(level)
    return OPSET, f"torch.onnx.export(dynamo=True), torch {torch.__version__}"


@dataclass(frozen=True)
class ExportResult:
    """Where the export went and how well it agreed with SB3 (``verification`` None if not run)."""

    out_dir: Path
    onnx_path: Path
    contract_path: Path
    verification: VerifyReport | None


def export_policy(run_dir: str | Path, out_dir: str | Path, *, model_file: str | None = None,
                  scenario: str | Scenario | None = None, verify_n: int = 10_000, seed: int = 0) -> ExportResult:
    """Export ``run_dir``'s MaskablePPO actor to ``out_dir/policy.onnx`` + ``out_dir/policy.json``.

    ``scenario`` overrides the run's recorded scenario (a name or TOML path); the run's recorded digest
    must still match it, so a policy is never exported against a scenario it was not trained on.
    ``verify_n`` > 0 checks the ONNX actions against SB3 on that many env observations and records the
    result in the contract; a disagreement raises ``ValueError`` after writing the report.
    """
    import onnx

    run = read_run(run_dir, model_file)
    scenario_ref = scenario if isinstance(scenario, str) else run.scenario_ref
    scn = scenario if isinstance(scenario, Scenario) else get_scenario(scenario_ref)
    if run.scenario_digest is not None and run.scenario_digest != scn.digest():
        raise ValueError(f"{run.run_dir}: trained on scenario digest {run.scenario_digest[:12]}…, but scenario "
                         f"'{scn.name}' ({scenario_ref}) now has digest {scn.digest()[:12]}…")
    contract = DecisionContract(scn)
    model = load_model(run.model_path, contract)
    _check_policy(model.policy, contract)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / ONNX_FILE
    opset, exporter = _onnx_export(actor_module(model.policy), contract.n_obs, contract.n_actions, onnx_path)
    onnx.checker.check_model(onnx.load(str(onnx_path)))
    source = {"run_dir": str(run.run_dir), "model_file": run.model_path.name, "algorithm": "MaskablePPO",
              "exported_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    doc = build_contract(scn, scenario_ref, contract, onnx_path, opset, exporter, source)
    contract_path = write_contract(doc, out)
    report = None
    if verify_n > 0:
        report = verify_export(out, model=model, scenario=scn, n=verify_n, seed=seed)
        doc["verification"] = report.to_dict()
        write_contract(doc, out)
        if report.agree != report.n:
            raise ValueError(f"exported policy disagrees with SB3 on {report.n - report.agree} of {report.n} "
                             f"observations (first: {report.mismatches[:3]})")
    return ExportResult(out, onnx_path, contract_path, report)


@dataclass(frozen=True)
class VerifyReport:
    """Agreement between the ONNX policy and SB3's deterministic predict on ``n`` observations."""

    n: int
    agree: int
    n_unique_actions: int
    mismatches: list[int]  # indices of the first disagreeing observations (at most 10)

    def to_dict(self) -> dict[str, int]:
        return {"n": self.n, "agree": self.agree, "n_unique_actions": self.n_unique_actions}


def rollout_observations(scenario: Scenario, n: int, seed: int = 0, episode_epochs: int = 128
                         ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` (observation, mask) pairs from env rollouts with uniformly random allowed actions.

    Half the episodes come from the train split and half from the test split, so the observations cover
    both sets of traces.
    """
    from adascale_rl.envs import AdaScaleEnv

    rng = np.random.default_rng(seed)
    obs = np.empty((n, DecisionContract(scenario).n_obs), dtype=np.float32)
    masks = np.empty((n, DecisionContract(scenario).n_actions), dtype=bool)
    envs = [AdaScaleEnv(scenario, split=split, episode_epochs=episode_epochs)
            for split in dict.fromkeys((scenario.train_split, scenario.test_split))]
    i, episode = 0, 0
    while i < n:
        env = envs[episode % len(envs)]
        observation, _ = env.reset(seed=seed + episode)
        episode += 1
        done = False
        while not done and i < n:
            mask = env.action_masks()
            obs[i], masks[i] = observation, mask
            i += 1
            action = int(rng.choice(np.flatnonzero(mask)))
            observation, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
    return obs, masks


def verify_export(policy_dir: str | Path, *, model=None, run_dir: str | Path | None = None,
                  scenario: Scenario | None = None, n: int = 10_000, seed: int = 0,
                  observations: tuple[np.ndarray, np.ndarray] | None = None) -> VerifyReport:
    """Compare the exported ONNX actions with SB3's ``model.predict(obs, action_masks=mask,
    deterministic=True)`` on ``n`` env observations (or the given ``observations``, ``masks``).

    Give either the loaded ``model`` or the ``run_dir`` it came from. Uses the real onnxruntime session
    the device runtime uses, batched.
    """
    import onnxruntime as ort

    policy: PolicyContract = read_contract(policy_dir)
    if model is None and run_dir is None:
        raise ValueError("verify_export needs the SB3 model or the run directory it came from")
    scn = scenario or get_scenario(policy.scenario_ref)
    if model is None:
        model = load_model(read_run(run_dir).model_path, DecisionContract(scn))
    if observations is None:
        obs, masks = rollout_observations(scn, n, seed)
    else:
        obs, masks = observations
        obs, masks = np.asarray(obs, dtype=np.float32), np.asarray(masks, dtype=bool)
    session = ort.InferenceSession(str(policy.onnx_path), providers=["CPUExecutionProvider"])
    onnx_actions = np.empty(len(obs), dtype=np.int64)
    sb3_actions = np.empty(len(obs), dtype=np.int64)
    for start in range(0, len(obs), 2048):
        chunk = slice(start, start + 2048)
        onnx_actions[chunk] = session.run([ACTION_OUTPUT], {OBS_INPUT: obs[chunk], MASK_INPUT: masks[chunk]})[0]
        sb3_actions[chunk] = model.predict(obs[chunk], action_masks=masks[chunk], deterministic=True)[0]
    differ = np.flatnonzero(onnx_actions != sb3_actions)
    return VerifyReport(n=len(obs), agree=int(len(obs) - differ.size),
                        n_unique_actions=int(np.unique(sb3_actions).size), mismatches=differ[:10].tolist())
