"""The exported policy's JSON contract (``policy.json``): what a device runtime needs besides the ONNX graph.

A policy is only meaningful for the scenario it was trained on: the observation layout, the action grid
and the reward all come from that scenario's :class:`~adascale_rl.envs.contract.DecisionContract`. So the
contract records the scenario's name, how to load it again (``ref``: a bundled name or a TOML path) and
its :meth:`~adascale_rl.scenario.Scenario.digest`, the observation fields with their ranges, the
action → variant table, the safe fallback action, the ONNX file's SHA-256 and the package version, and
:func:`check_contract` refuses to pair it with anything else.

Layout (``format_version`` 1)::

    {"format": "adascale-rl-policy", "format_version": 1,
     "package": "adascale-rl", "package_version": "0.1.0",
     "scenario": {"name": "pixel4", "ref": "pixel4", "digest": "<sha256>"},
     "n_obs": 44, "n_actions": 32, "history": 3, "fallback_action": 7,
     "observation": {"dtype": "float32", "fields": [{"name", "low", "high", "meaning"}, ...]},
     "action_mask": {"dtype": "bool", "meaning": "..."},
     "actions": [{"action": 0, "variant_id": "...", "branch": "...", "compression": "..."}, ...],
     "onnx": {"file": "policy.onnx", "sha256": "...", "opset": 18, "exporter": "...",
              "inputs": {"observation": [-1, 44], "action_mask": [-1, 32]}, "outputs": {"action": [-1]}},
     "source": {...}, "verification": {"n": 10000, "agree": 10000}}

``actions`` lists only grid cells that name a variant (empty cells are always masked). This module uses
only the standard library and the decision contract, never torch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adascale_rl import __version__
from adascale_rl.envs.contract import HISTORY, DecisionContract
from adascale_rl.scenario import Scenario

FORMAT = "adascale-rl-policy"
FORMAT_VERSION = 1
CONTRACT_FILE = "policy.json"
ONNX_FILE = "policy.onnx"
OBS_INPUT, MASK_INPUT, ACTION_OUTPUT = "observation", "action_mask", "action"


class ContractError(ValueError):
    """An exported policy does not fit the scenario, package or ONNX file it is paired with."""


@dataclass(frozen=True)
class PolicyContract:
    """The parsed ``policy.json`` (the raw document is kept for ``GET /contract`` and reports)."""

    path: Path
    doc: dict[str, Any]

    @property
    def scenario_name(self) -> str:
        return str(self.doc["scenario"]["name"])

    @property
    def scenario_ref(self) -> str:
        return str(self.doc["scenario"]["ref"])

    @property
    def scenario_digest(self) -> str:
        return str(self.doc["scenario"]["digest"])

    @property
    def n_obs(self) -> int:
        return int(self.doc["n_obs"])

    @property
    def n_actions(self) -> int:
        return int(self.doc["n_actions"])

    @property
    def fallback_action(self) -> int:
        return int(self.doc["fallback_action"])

    @property
    def package_version(self) -> str:
        return str(self.doc["package_version"])

    @property
    def onnx_path(self) -> Path:
        return self.path.parent / str(self.doc["onnx"]["file"])

    @property
    def onnx_sha256(self) -> str:
        return str(self.doc["onnx"]["sha256"])


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file (ties the contract to exactly one ONNX graph)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_contract(scenario: Scenario, scenario_ref: str, contract: DecisionContract, onnx_path: Path,
                   opset: int, exporter: str, source: dict[str, Any]) -> dict[str, Any]:
    """The contract document for an ONNX policy trained on ``scenario``."""
    actions = []
    for action in range(contract.n_actions):
        if contract.exists[action]:
            actions.append({"action": action, **contract.describe(action)})
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package": "adascale-rl",
        "package_version": __version__,
        "scenario": {"name": scenario.name, "ref": scenario_ref, "digest": scenario.digest()},
        "n_obs": contract.n_obs,
        "n_actions": contract.n_actions,
        "history": HISTORY,
        "fallback_action": contract.fallback_action,
        "observation": {"dtype": "float32", "fields": contract.observation_fields()},
        "action_mask": {"dtype": "bool", "meaning": "True = the action may be chosen (variant exists and fits "
                                                    "memory); build it with DecisionContract.action_mask"},
        "actions": actions,
        "onnx": {
            "file": onnx_path.name,
            "sha256": sha256_file(onnx_path),
            "opset": opset,
            "exporter": exporter,
            "inputs": {OBS_INPUT: [-1, contract.n_obs], MASK_INPUT: [-1, contract.n_actions]},
            "outputs": {ACTION_OUTPUT: [-1]},
            "semantics": "action = argmax of the MaskablePPO actor's logits with masked actions at -1e8, "
                         "normalised by logsumexp as SB3 does (SB3's deterministic predict)",
        },
        "source": source,
    }


def write_contract(doc: dict[str, Any], out_dir: Path) -> Path:
    """Write ``policy.json`` (sorted keys, so identical exports give identical files)."""
    path = out_dir / CONTRACT_FILE
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "format": str, "format_version": int, "package_version": str, "scenario": dict, "n_obs": int,
    "n_actions": int, "fallback_action": int, "observation": dict, "actions": list, "onnx": dict,
}


def read_contract(policy_dir: str | Path) -> PolicyContract:
    """Read ``policy.json`` from a policy directory (or the file itself); check its shape, not its fit."""
    path = Path(policy_dir)
    if path.is_dir():
        path = path / CONTRACT_FILE
    if not path.is_file():
        raise ContractError(f"{path}: no policy contract (expected {CONTRACT_FILE} written by `adascale-rl export`)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContractError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ContractError(f"{path}: the contract must be a JSON object")
    for key, kind in _REQUIRED.items():
        if key not in doc or not isinstance(doc[key], kind) or (isinstance(doc[key], bool) and kind is int):
            raise ContractError(f"{path}: key '{key}' missing or not a {getattr(kind, '__name__', kind)}")
    if doc["format"] != FORMAT:
        raise ContractError(f"{path}: format {doc['format']!r} is not {FORMAT!r}")
    if doc["format_version"] != FORMAT_VERSION:
        raise ContractError(f"{path}: format_version {doc['format_version']} is not supported "
                            f"(this package reads version {FORMAT_VERSION})")
    for key in ("name", "ref", "digest"):
        if not isinstance(doc["scenario"].get(key), str):
            raise ContractError(f"{path}: scenario.{key} missing or not a string")
    for key in ("file", "sha256"):
        if not isinstance(doc["onnx"].get(key), str):
            raise ContractError(f"{path}: onnx.{key} missing or not a string")
    if Path(doc["onnx"]["file"]).name != doc["onnx"]["file"]:
        raise ContractError(f"{path}: onnx.file must be a file name beside policy.json, got {doc['onnx']['file']!r}")
    return PolicyContract(path, doc)


def _major(version: str) -> str:
    return version.split(".", 1)[0]


def check_contract(policy: PolicyContract, scenario: Scenario, contract: DecisionContract) -> None:
    """Refuse a policy that does not match ``scenario`` or this package (every mismatch is named).

    Checks the scenario digest (settings + device profile + catalog), the observation and action sizes, the fallback
    action, the action → variant table, the package major version and the ONNX file's SHA-256.
    """
    where = str(policy.path)
    problems = []
    digest = scenario.digest()
    if policy.scenario_digest != digest:
        problems.append(f"scenario digest {policy.scenario_digest[:12]}… was exported for scenario "
                        f"'{policy.scenario_name}', but scenario '{scenario.name}' now has digest {digest[:12]}… "
                        "(its settings or catalog changed: re-train or re-export against this scenario)")
    if policy.n_obs != contract.n_obs:
        problems.append(f"n_obs {policy.n_obs} != {contract.n_obs} observation fields of this package's contract")
    if policy.n_actions != contract.n_actions:
        problems.append(f"n_actions {policy.n_actions} != {contract.n_actions} actions of scenario '{scenario.name}'")
    if _major(policy.package_version) != _major(__version__):
        problems.append(f"package version {policy.package_version} has a different major version than the "
                        f"installed adascale-rl {__version__}")
    if not problems:
        if policy.fallback_action != contract.fallback_action:
            problems.append(f"fallback_action {policy.fallback_action} != {contract.fallback_action}")
        expected = [{"action": a, **contract.describe(a)} for a in range(contract.n_actions) if contract.exists[a]]
        if policy.doc["actions"] != expected:
            problems.append("the action → variant table differs from the scenario's catalog")
        names = [f.get("name") for f in policy.doc["observation"].get("fields", []) if isinstance(f, dict)]
        if names != list(contract.field_names):
            problems.append("observation field names differ from this package's decision contract")
    onnx_path = policy.onnx_path
    if not onnx_path.is_file():
        problems.append(f"ONNX file {onnx_path} is missing")
    elif sha256_file(onnx_path) != policy.onnx_sha256:
        problems.append(f"ONNX file {onnx_path.name} does not match the contract's sha256 (replaced or corrupted)")
    if problems:
        raise ContractError(f"{where}: policy does not match: " + "; ".join(problems))
