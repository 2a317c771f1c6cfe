"""The trained supernet as files: weights, recovered factorised weights, recorded accuracies.

A bundle is a folder with

``supernet.pt``   — the :class:`~adascale_rl.supernet.model.Supernet` ``state_dict`` (``torch.save``);
``recovered.pt``  — ``{family key: state_dict}`` of the recovery-fine-tuned factorised nets
                    (e.g. ``w0.5+lr0.5``), stored as float16 to keep the bundle small (accuracies are
                    recorded *after* the float16 round trip, so they are what a user gets);
``supernet.json`` — architecture config, training config and cost, recovery report, and the test
                    accuracy of every variant as built from exactly these files.

Both ``.pt`` files hold only tensors and are read with ``torch.load(..., weights_only=True)``: loading a
bundle never unpickles code. The package ships one (``adascale_rl/data/supernet``) so nothing has to be
trained to use or profile the supernet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from adascale_rl._resources import data_path
from adascale_rl.supernet.model import Supernet, SupernetConfig

WEIGHTS = "supernet.pt"
RECOVERED = "recovered.pt"
META = "supernet.json"


@dataclass
class Bundle:
    """A loaded bundle: the supernet (eval mode), recovered weights (float32) and metadata."""

    supernet: Supernet
    recovered: dict[str, dict[str, torch.Tensor]]
    meta: dict = field(default_factory=dict)

    @property
    def accuracies(self) -> dict[str, float]:
        """Recorded test accuracy per ``variant_id``."""
        return dict(self.meta.get("test_accuracy", {}))


def bundled_dir() -> Path:
    """The bundle shipped with the package."""
    return data_path("supernet")


def load_bundle(directory: str | Path | None = None) -> Bundle:
    """Load a bundle (default: the shipped one) with ``weights_only=True``."""
    directory = Path(directory) if directory is not None else bundled_dir()
    meta_path = directory / META
    if not meta_path.is_file():
        raise FileNotFoundError(f"no supernet bundle in {directory} (missing {META}); "
                                f"train one with 'adascale-rl supernet train --out {directory}'")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    supernet = Supernet(SupernetConfig.from_dict(meta["config"]))
    supernet.load_state_dict(torch.load(directory / WEIGHTS, map_location="cpu", weights_only=True))
    recovered: dict[str, dict[str, torch.Tensor]] = {}
    if (directory / RECOVERED).is_file():
        raw = torch.load(directory / RECOVERED, map_location="cpu", weights_only=True)
        recovered = {key: {k: v.float() for k, v in state.items()} for key, state in raw.items()}
    return Bundle(supernet.eval(), recovered, meta)


def save_bundle(directory: str | Path, supernet: Supernet, recovered: dict[str, dict[str, torch.Tensor]],
                meta: dict) -> Path:
    """Write a bundle; ``meta`` must not contain ``config`` (it is taken from the supernet)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(supernet.state_dict(), directory / WEIGHTS)
    torch.save({key: {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
                for key, state in recovered.items()}, directory / RECOVERED)
    document = {"config": supernet.config.to_dict(), **meta}
    (directory / META).write_text(json.dumps(document, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    return directory


def roundtrip_recovered(recovered: dict[str, dict[str, torch.Tensor]]) -> dict[str, dict[str, torch.Tensor]]:
    """The recovered weights as a saved-and-loaded bundle will hold them (float16 round trip)."""
    return {key: {k: v.half().float() if v.is_floating_point() else v for k, v in state.items()}
            for key, state in recovered.items()}
