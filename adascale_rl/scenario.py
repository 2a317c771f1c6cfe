"""``Scenario``: everything that defines one controller problem, loaded from a TOML file.

A scenario names a device profile and a variant catalog (bundled names or paths), the trace split to
train and test on, the decision-epoch length, the request rate, the latency budget (p95, ms), the
reward weights and the queue limit. Bundled scenarios live in ``adascale_rl/data/scenarios/``::

    name = "pixel4"
    description = "..."
    device = "pixel4"            # bundled profile name or path to a profile TOML
    catalog = "pixel4"           # bundled catalog name or path to a VariantTable CSV
    train_split = "train"        # manifest split the env samples training episodes from
    test_split = "test"
    epoch_s = 1.0                # one decision per epoch
    episode_epochs = 300         # training episode length (a random segment of a train trace)
    request_rate_hz = 10.0       # Poisson inference requests per second
    latency_budget_ms = 50.0     # the SLO: p95 latency per epoch must stay within it
    queue_limit = 8              # requests waiting beyond this are dropped
    mem_reserve_mb = 512.0       # memory the OS keeps free; a variant must fit in what remains

    [reward]                     # see adascale_rl.envs.contract.reward for the formula
    accuracy = 1.0
    latency = 1.0
    energy = 0.1
    switch = 0.02
    failure = 1.0
    energy_ref_mj = 100.0        # energy per request that costs ``energy`` reward units

    [randomize]                  # optional: per-episode domain randomisation of training episodes
    freq_scale = [0.6, 1.0]      # ranges of physical knobs, see adascale_rl.randomization
    time_warp = [0.5, 2.0]
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path

from adascale_rl._resources import data_path
from adascale_rl._toml import load_toml, require
from adascale_rl.catalog import DeviceProfile, VariantTable, bundled_profile, bundled_table, load_profile
from adascale_rl.errors import DataError
from adascale_rl.randomization import Randomization


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the reward terms (see :func:`adascale_rl.envs.contract.reward`)."""

    accuracy: float = 1.0
    latency: float = 1.0
    energy: float = 0.1
    switch: float = 0.02
    failure: float = 1.0
    energy_ref_mj: float = 100.0


@dataclass(frozen=True)
class Scenario:
    """A controller problem: device, variants, traces, SLO and reward (see module docstring)."""

    name: str
    description: str
    device: str
    catalog: str
    epoch_s: float
    episode_epochs: int
    request_rate_hz: float
    latency_budget_ms: float
    queue_limit: int
    mem_reserve_mb: float
    train_split: str = "train"
    test_split: str = "test"
    reward: RewardWeights = field(default_factory=RewardWeights)
    randomize: Randomization = field(default_factory=Randomization)
    source: str = ""

    @cached_property
    def profile(self) -> DeviceProfile:
        """The device profile (bundled name or path relative to the scenario file)."""
        return _resolve(self.device, self.source, load_profile, bundled_profile, ".toml")

    @cached_property
    def table(self) -> VariantTable:
        """The variant catalog, checked against the profile's compute configurations."""
        table = _resolve(self.catalog, self.source, VariantTable.load, bundled_table, ".csv")
        unknown = [cfg for cfg in table.configs if cfg not in self.profile.config_names]
        if unknown:
            raise DataError(self.source or self.name, f"catalog '{self.catalog}' has configurations "
                            f"{', '.join(unknown)} that device '{self.device}' does not define",
                            expected=f"configurations among {', '.join(self.profile.config_names)}")
        return table

    def to_dict(self) -> dict:
        """Plain data (for JSON contracts and reports); excludes the source path."""
        data = asdict(self)
        data.pop("source")
        data["randomize"] = self.randomize.to_dict()
        return data

    def digest(self) -> str:
        """SHA-256 over the scenario's settings, its device profile and its catalog's content: a policy
        is tied to all three, since each changes what an action leads to. The ``[randomize]`` ranges are
        left out: they shape training episodes only, never what an action leads to on a device (a run
        records them in ``run.json``)."""
        settings = self.to_dict()
        settings.pop("randomize")
        payload = json.dumps(settings, sort_keys=True).encode()
        profile = json.dumps(asdict(self.profile), sort_keys=True).encode()
        catalog = self.table.to_frame().to_csv(index=False).encode()
        return hashlib.sha256(payload + b"\0" + profile + b"\0" + catalog).hexdigest()


def _resolve(ref: str, source: str, from_path, from_bundle, suffix: str):
    if ref.endswith(suffix):
        path = Path(ref)
        if not path.is_absolute() and source:
            path = Path(source).parent / path
        return from_path(path)
    return from_bundle(ref)


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario TOML; every error names the file and the key."""
    path = Path(path)
    doc = load_toml(path)

    def positive(key: str) -> float:
        value = float(require(doc, key, (int, float), path))
        if not (math.isfinite(value) and value > 0):
            raise DataError(path, f"key '{key}' must be a positive number", value=value)
        return value

    reward_doc = doc.get("reward", {})
    if not isinstance(reward_doc, dict):
        raise DataError(path, "[reward] must be a table", value=reward_doc)
    unknown = set(reward_doc) - set(RewardWeights.__dataclass_fields__)
    if unknown:
        raise DataError(path, f"unknown [reward] key(s) {', '.join(sorted(unknown))}",
                        expected=", ".join(RewardWeights.__dataclass_fields__))
    weights = {}
    for key, value in reward_doc.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise DataError(path, f"[reward] '{key}' must be a non-negative number", value=value)
        weights[key] = float(value)
    if weights.get("energy_ref_mj", 1.0) <= 0:
        raise DataError(path, "[reward] 'energy_ref_mj' must be positive", value=weights["energy_ref_mj"])
    episode_epochs = require(doc, "episode_epochs", int, path)
    queue_limit = require(doc, "queue_limit", int, path)
    if episode_epochs < 1 or queue_limit < 1:
        raise DataError(path, "episode_epochs and queue_limit must be at least 1",
                        value=(episode_epochs, queue_limit))
    return Scenario(
        name=require(doc, "name", str, path), description=doc.get("description", ""),
        device=require(doc, "device", str, path), catalog=require(doc, "catalog", str, path),
        epoch_s=positive("epoch_s"), episode_epochs=episode_epochs, request_rate_hz=positive("request_rate_hz"),
        latency_budget_ms=positive("latency_budget_ms"), queue_limit=queue_limit,
        mem_reserve_mb=float(require(doc, "mem_reserve_mb", (int, float), path)),
        train_split=doc.get("train_split", "train"), test_split=doc.get("test_split", "test"),
        reward=RewardWeights(**weights), randomize=_randomization(doc, path), source=str(path),
    )


def _randomization(doc: dict, path: Path) -> Randomization:
    table = doc.get("randomize", {})
    if not isinstance(table, dict):
        raise DataError(path, "[randomize] must be a table", value=table)
    return Randomization.from_table(table, path)


def bundled_scenarios() -> list[str]:
    """Names of the scenarios shipped with the package."""
    return sorted(p.stem for p in data_path("scenarios").glob("*.toml"))


def get_scenario(name_or_path: str | Path) -> Scenario:
    """A bundled scenario by name, or a scenario TOML by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml":
        return load_scenario(path)
    bundled = data_path("scenarios", f"{name_or_path}.toml")
    if not bundled.is_file():
        raise KeyError(f"no bundled scenario {str(name_or_path)!r}; known: {', '.join(bundled_scenarios())}")
    return load_scenario(bundled)


def with_catalog(scenario: Scenario, catalog: str | Path) -> Scenario:
    """``scenario`` with another catalog of the same device (e.g. one calibrated from a live run); its
    digest changes accordingly."""
    changed = replace(scenario, catalog=str(Path(catalog).resolve()))
    if changed.table.device != scenario.table.device:
        raise ValueError(f"catalog {catalog} is for device '{changed.table.device}', the scenario's catalog for "
                         f"'{scenario.table.device}'")
    return changed


def write_with_catalog(scenario: Scenario, out: str | Path, catalog: str | Path, note: str = "") -> Path:
    """Copy ``scenario``'s TOML to ``out`` with ``catalog`` in place of its catalog, everything else kept —
    same name, so its hyperparameters still apply — e.g. to re-train on a catalog calibrated on the device.

    The catalog is written relative to ``out``'s folder, a device profile path made absolute; ``note`` is
    appended to the description. The result is loaded back, so a broken file is never left unnoticed.
    """
    out = Path(out)
    if not scenario.source:
        raise ValueError(f"scenario '{scenario.name}' was not loaded from a TOML file; nothing to copy")
    out.parent.mkdir(parents=True, exist_ok=True)
    catalog_ref = Path(os.path.relpath(Path(catalog).resolve(), out.parent.resolve())).as_posix()
    replacements = {"catalog": catalog_ref}
    if scenario.device.endswith(".toml"):
        replacements["device"] = str((Path(scenario.source).parent / scenario.device).resolve())
    if note:
        replacements["description"] = f"{scenario.description} ({note})".strip()
    lines, top_level = [], True
    for line in Path(scenario.source).read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        top_level = top_level and not stripped.startswith("[")
        key = stripped.split("=", 1)[0].strip() if "=" in stripped and not stripped.startswith("#") else ""
        if top_level and key in replacements:
            line = f"{key} = {json.dumps(replacements.pop(key))}"
        lines.append(line)
    if replacements:
        missing = ", ".join(replacements)
        raise DataError(scenario.source, f"no top-level key(s) {missing} to replace", expected="a scenario TOML")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _ = load_scenario(out).table  # validates the file and the catalog against the profile now
    return out
