"""``PolicyRuntime``: the exported policy as a :class:`~adascale_rl.agents.controller.Controller`, with numpy
and onnxruntime only (no torch, no stable-baselines3 — a device runtime should not carry them).

It loads ``policy.json`` + ``policy.onnx``, refuses a contract that does not match the scenario (digest,
sizes, action table, package major version, ONNX checksum — :func:`~.policy_file.check_contract`), builds
observations with the one shared :class:`~adascale_rl.envs.contract.DecisionContract`, and decides.

Safety: the runtime never raises on bad input at decision time. It answers the scenario's safe variant
(:attr:`DecisionContract.fallback_action`, the smallest memory footprint) and logs why when

- a reading is unreadable: a required field (``cpu_bg_util``, ``mem_avail_frac``) is None, NaN or outside
  [0, 1]; an optional field (``cpu_freq_frac`` in (0, 1], ``temp_c`` in [-40, 150] °C, ``battery_frac`` in
  [0, 1]) is present but out of range (None/NaN there means "unknown", which the contract handles);
- an observation or mask has the wrong shape or non-finite / out-of-range values;
- onnxruntime fails, or returns an action the mask forbids.

Stateful use (:meth:`PolicyRuntime.step`) keeps the background-load history and the current action the
way the env does; :meth:`PolicyRuntime.decide_reading` is the stateless form the decision server uses.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from adascale_rl.envs.contract import HISTORY, DecisionContract, Reading
from adascale_rl.hardware_bridge.policy_file import (
    ACTION_OUTPUT,
    MASK_INPUT,
    OBS_INPUT,
    ContractError,
    check_contract,
    read_contract,
)
from adascale_rl.scenario import Scenario, get_scenario
from adascale_rl.sim.stats import EpochStats

log = logging.getLogger(__name__)

# (field, low, high, required): the physical ranges a reading must respect (the trace schema's ranges).
READING_RANGES: tuple[tuple[str, float, float, bool], ...] = (
    ("cpu_freq_frac", 0.0, 1.0, False),
    ("cpu_bg_util", 0.0, 1.0, True),
    ("mem_avail_frac", 0.0, 1.0, True),
    ("temp_c", -40.0, 150.0, False),
    ("battery_frac", 0.0, 1.0, False),
)


@dataclass(frozen=True)
class Decision:
    """One decision: the action, what it names, whether it is the fallback and why, and how long it took."""

    action: int
    variant_id: str
    branch: str
    compression: str
    fallback: bool
    reason: str
    decision_us: float

    def to_dict(self) -> dict[str, object]:
        return {"action": self.action, "variant_id": self.variant_id, "branch": self.branch,
                "compression": self.compression, "fallback": self.fallback, "reason": self.reason,
                "decision_us": self.decision_us}


def reading_problem(reading: object) -> str | None:
    """Why a reading cannot be used (None if it can). Accepts any object with the Reading attributes."""
    for name, low, high, required in READING_RANGES:
        value = getattr(reading, name, None)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            if required:
                return f"{name} is unreadable ({value!r})"
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
            return f"{name} is not a number ({value!r})"
        value = float(value)
        if not math.isfinite(value) or value < low or value > high or (name == "cpu_freq_frac" and value == 0.0):
            return f"{name}={value!r} outside its range [{low:g}, {high:g}]"
    return None


def clean_reading(reading: object) -> Reading:
    """A contract :class:`Reading` from a checked reading (None in optional fields becomes NaN)."""
    values = {}
    for name, _low, _high, _required in READING_RANGES:
        value = getattr(reading, name, None)
        values[name] = math.nan if value is None else float(value)
    return Reading(**values)


class PolicyRuntime:
    """An exported policy ready to decide (see module docstring). Implements the Controller protocol.

    ``PolicyRuntime(policy_dir, scenario=None)``: ``scenario`` is a :class:`Scenario`, a bundled name or a
    TOML path; by default the one the contract names (``scenario.ref``). ``threads``: onnxruntime
    intra-op threads — 1 is fastest for this tiny MLP and leaves the cores to the model being controlled.
    """

    def __init__(self, policy_dir: str | Path, scenario: str | Scenario | None = None, *, threads: int = 1) -> None:
        policy = read_contract(policy_dir)
        if scenario is None:
            try:
                scenario = get_scenario(policy.scenario_ref)
            except (KeyError, FileNotFoundError, ValueError) as exc:
                raise ContractError(f"{policy.path}: cannot load scenario {policy.scenario_ref!r} named by the "
                                    f"contract ({exc}); pass the scenario explicitly") from None
        elif isinstance(scenario, str):
            scenario = get_scenario(scenario)
        self.policy = policy
        self.scenario = scenario
        self.contract = DecisionContract(scenario)
        check_contract(policy, scenario, self.contract)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(policy.onnx_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own exception types
            raise ContractError(f"{policy.onnx_path}: onnxruntime cannot load the graph ({exc})") from None
        inputs = {i.name for i in self.session.get_inputs()}
        if inputs != {OBS_INPUT, MASK_INPUT}:
            raise ContractError(f"{policy.onnx_path}: graph inputs {sorted(inputs)} are not "
                                f"['{MASK_INPUT}', '{OBS_INPUT}']")
        self.name = f"onnx:{policy.path.parent.name}"
        self.fallback_action = self.contract.fallback_action
        self.n_fallbacks = 0
        self._local = threading.local()
        self._readings = ReadingDecider(self, self.contract)

    # -- Controller protocol ---------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the background history and current action (a new episode / device session)."""
        self._readings.reset()

    def decide(self, observation: np.ndarray, action_mask: np.ndarray) -> int:
        """The policy's action for one observation and mask; the fallback action if anything is wrong."""
        return self.decide_with_reason(observation, action_mask)[0]

    def decide_with_reason(self, observation: np.ndarray, action_mask: np.ndarray) -> tuple[int, str]:
        """(action, why it is the fallback — empty when it is the policy's own choice)."""
        obs = np.asarray(observation, dtype=np.float32).reshape(-1)
        mask = np.asarray(action_mask, dtype=bool).reshape(-1)
        if obs.shape[0] != self.contract.n_obs or mask.shape[0] != self.contract.n_actions:
            return self._fallback(f"observation/mask sizes {obs.shape[0]}/{mask.shape[0]}, expected "
                                  f"{self.contract.n_obs}/{self.contract.n_actions}")
        if not (obs.min() >= 0.0 and obs.max() <= 1.0):  # NaN fails both comparisons
            return self._fallback("observation has values outside [0, 1] or non-finite values")
        if not mask.any():
            return self._fallback("action mask allows nothing")
        try:
            action = self._run(obs, mask)
        except Exception as exc:  # onnxruntime raises its own exception types; any failure means fallback
            return self._fallback(f"onnxruntime failed: {type(exc).__name__}: {exc}")
        if not 0 <= action < self.contract.n_actions or not mask[action]:
            return self._fallback(f"policy returned action {action}, which the mask forbids")
        return action, ""

    def _run(self, obs: np.ndarray, mask: np.ndarray) -> int:
        """One batch-1 inference through an I/O binding to preallocated buffers (one set per thread, so
        concurrent server threads never share them); saves ~2 µs of input conversion per call."""
        bound = getattr(self._local, "bound", None)
        if bound is None:
            in_obs = np.zeros((1, self.contract.n_obs), dtype=np.float32)
            in_mask = np.zeros((1, self.contract.n_actions), dtype=bool)
            out = np.zeros(1, dtype=np.int64)
            binding = self.session.io_binding()
            binding.bind_cpu_input(OBS_INPUT, in_obs)
            binding.bind_cpu_input(MASK_INPUT, in_mask)
            binding.bind_output(ACTION_OUTPUT, "cpu", 0, np.int64, [1], out.ctypes.data)
            bound = self._local.bound = (binding, in_obs, in_mask, out)
        binding, in_obs, in_mask, out = bound
        in_obs[0] = obs
        in_mask[0] = mask
        self.session.run_with_iobinding(binding)
        return int(out[0])

    def _fallback(self, reason: str) -> tuple[int, str]:
        self.n_fallbacks += 1
        log.warning("fallback to action %d (%s): %s", self.fallback_action,
                    self.contract.describe(self.fallback_action)["variant_id"], reason)
        return self.fallback_action, reason

    # -- from readings ---------------------------------------------------------------------------------
    def decide_reading(self, reading: object, last: EpochStats | None = None,
                       bg_history: np.ndarray | list[float] | None = None,
                       current_action: int | None = None) -> Decision:
        """Stateless decision from a raw reading (see :meth:`ReadingDecider.decide_reading`)."""
        return self._readings.decide_reading(reading, last, bg_history, current_action)

    def step(self, reading: object, last: EpochStats | None = None) -> Decision:
        """Stateful decision for a device loop (see :meth:`ReadingDecider.step`)."""
        return self._readings.step(reading, last)

    def set_current(self, action: int) -> None:
        """The device serves ``action`` now (see :meth:`ReadingDecider.set_current`)."""
        self._readings.set_current(action)


class ReadingDecider:
    """Turns device readings into decisions for any :class:`Controller`, with the contract's observation.

    Used by :class:`PolicyRuntime` and, in the closed loop and benchmarks, to drive baselines
    (``static-full`` …) through exactly the same path. Unreadable readings give the fallback action
    without asking the controller.
    """

    def __init__(self, controller, contract: DecisionContract) -> None:
        self.controller = controller
        self.contract = contract
        self.fallback_action = contract.fallback_action
        self._with_reason = getattr(controller, "decide_with_reason", None)
        self.reset()

    def reset(self) -> None:
        self._bg_history: np.ndarray | None = None
        self._current = self.fallback_action
        if self.controller is not None and hasattr(self.controller, "reset") and self._with_reason is None:
            self.controller.reset()

    def _fallback(self, reason: str) -> tuple[int, str]:
        owner = getattr(self.controller, "_fallback", None)
        if owner is not None:
            return owner(reason)
        log.warning("fallback to action %d: %s", self.fallback_action, reason)
        return self.fallback_action, reason

    def decide_reading(self, reading: object, last: EpochStats | None = None,
                       bg_history: np.ndarray | list[float] | None = None,
                       current_action: int | None = None) -> Decision:
        """Stateless decision from a raw reading (any object with the :class:`Reading` attributes).

        ``bg_history``: background utilisation of the previous epochs, newest first (default: the
        current value repeated, as at the start of an env episode). ``current_action``: the action
        applied now (default: the fallback action, the env's start state).
        """
        start = time.perf_counter()
        current = self.fallback_action if current_action is None else int(current_action)
        problem = reading_problem(reading)
        if problem is None and not (0 <= current < self.contract.n_actions and self.contract.exists[current]):
            problem = f"current_action {current} does not name a variant"
        if problem is not None:
            action, reason = self._fallback(f"unreadable sample: {problem}")
        else:
            clean = clean_reading(reading)
            history = (np.full(HISTORY, clean.cpu_bg_util) if bg_history is None
                       else np.asarray(bg_history, dtype=np.float64)[:HISTORY])
            try:
                obs = self.contract.observation(clean, last, history, current)
                mask = self.contract.action_mask(clean)
            except (ValueError, IndexError) as exc:
                action, reason = self._fallback(f"cannot build the observation: {exc}")
            else:
                if self._with_reason is not None:
                    action, reason = self._with_reason(obs, mask)
                else:
                    action, reason = int(self.controller.decide(obs, mask)), ""
        names = self.contract.describe(action)
        return Decision(action, names["variant_id"], names["branch"], names["compression"], bool(reason), reason,
                        (time.perf_counter() - start) * 1e6)

    def step(self, reading: object, last: EpochStats | None = None) -> Decision:
        """Stateful decision for a device loop: keeps the background history and current action like the env.

        The history holds the background utilisation of the readings before this one (newest first); an
        unreadable reading does not enter it.
        """
        usable = reading_problem(reading) is None
        if usable and self._bg_history is None:
            self._bg_history = np.full(HISTORY, float(reading.cpu_bg_util))
        decision = self.decide_reading(reading, last, self._bg_history, self._current)
        if usable:
            history = np.empty(HISTORY)
            history[1:] = self._bg_history[:-1]
            history[0] = float(reading.cpu_bg_util)
            self._bg_history = history
        self._current = decision.action
        return decision

    def set_current(self, action: int) -> None:
        """The device is serving ``action`` rather than the one last decided (it fell back to the safe
        variant after a fault): the next observation's "action in force" must say so, as in the env."""
        if not (0 <= action < self.contract.n_actions and self.contract.exists[action]):
            raise ValueError(f"action {action} does not name a variant")
        self._current = int(action)
