"""The ``Controller`` protocol: every decision maker — PPO policies, baselines, the oracle, the exported
ONNX runtime — maps an observation and an action mask to an action, so evaluation and the hardware
bridge treat them alike."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Controller(Protocol):
    """Chooses the next action (a branch × compression grid cell) for one decision epoch."""

    name: str

    def decide(self, observation: np.ndarray, action_mask: np.ndarray) -> int:
        """Return an action allowed by ``action_mask`` for this observation."""
        ...

    def reset(self) -> None:
        """Forget any per-episode state (called at the start of every episode)."""
        ...
