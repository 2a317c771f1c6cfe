"""The Gymnasium environment: pick a model variant each decision epoch while a real trace plays."""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar, NamedTuple

import gymnasium as gym
import numpy as np

from adascale_rl.envs.contract import HISTORY, DecisionContract, Reading
from adascale_rl.envs.trace_source import TraceSource
from adascale_rl.scenario import Scenario, get_scenario
from adascale_rl.sim.simulator import ContentionSim, EpochConditions, SimConfig
from adascale_rl.sim.stats import EpochStats
from adascale_rl.traces import Trace

RENDER_WINDOW = 120


class Episode(NamedTuple):
    """What an episode replays: a trace segment and the seed of the simulator's random numbers."""

    trace: Trace  # resampled to the decision epoch
    start: int
    length: int
    sim_seed: int


class AdaScaleEnv(gym.Env):
    """Context-aware DNN scaling on a device whose resources follow a real recorded trace.

    **Action space**: ``Discrete(n_branches × n_compressions)`` — the supernet's branch × compression
    grid (decoding and masking in :mod:`adascale_rl.envs.contract`); use :meth:`action_masks` (sb3-contrib
    ``MaskablePPO`` calls it) to avoid grid cells with no variant or variants that do not fit memory.
    An unmasked-but-invalid action (an empty grid cell) raises ``ValueError``; a variant that does not
    fit memory is allowed but fails its requests and is penalised.

    **Observation space**: ``Box(0, 1, (n_obs,), float32)``: the current resource reading, last epoch's
    latency/miss/energy/queue, a short background-load history and the current action one-hot — all
    normalised from fixed physical ranges (:mod:`adascale_rl.envs.contract`).

    **Reward**: accuracy served − budget misses − energy − switching − memory failures, weighted by the
    scenario (:meth:`DecisionContract.reward`).

    **Episodes**: ``mode="train"``: a random segment of ``episode_epochs`` epochs from the scenario's
    train traces (chosen in proportion to length); ``mode="eval"``: a whole trace (``reset(options=
    {"trace_index": i})``, default cycles through the traces). The episode ends with ``truncated=True``
    when the segment or trace runs out (a time limit, not a terminal state); ``terminated`` is always
    False.

    **Start state**: the variant with the smallest memory footprint is loaded, no requests are queued.

    **Arguments**: ``scenario`` (bundled name, path or :class:`Scenario`), ``split`` (manifest split,
    default the scenario's train split in train mode and test split in eval mode), ``mode``,
    ``episode_epochs`` (default from the scenario), ``traces`` (explicit list of :class:`Trace` to use
    instead of a split), ``render_mode`` (``ansi`` or ``rgb_array``).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(self, scenario: str | Scenario = "pixel4", split: str | None = None, mode: str = "train",
                 episode_epochs: int | None = None, traces: list[Trace] | None = None,
                 render_mode: str | None = None) -> None:
        if mode not in ("train", "eval"):
            raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.scenario = scenario if isinstance(scenario, Scenario) else get_scenario(scenario)
        self.mode = mode
        self.render_mode = render_mode
        self.contract = DecisionContract(self.scenario)
        self.observation_space = self.contract.observation_space
        self.action_space = self.contract.action_space
        epoch_s = self.scenario.epoch_s
        if traces is not None:
            self.source = TraceSource.from_traces(traces, epoch_s)
        else:
            default = self.scenario.train_split if mode == "train" else self.scenario.test_split
            self.source = TraceSource.bundled_split(split or default, epoch_s)
        self.episode_epochs = episode_epochs or self.scenario.episode_epochs
        s = self.scenario
        self.sim = ContentionSim(s.profile, s.table, SimConfig(s.epoch_s, s.request_rate_hz, s.latency_budget_ms,
                                                               s.queue_limit, s.mem_reserve_mb))
        self._next_trace = 0
        self._trace: Trace | None = None
        self._render_log: deque = deque(maxlen=RENDER_WINDOW)

    # -- gymnasium API ---------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode. Eval-mode ``options``: ``trace_index`` (default: the next trace), and
        optionally ``start`` and ``length`` (epochs) to play a fixed segment of that trace."""
        super().reset(seed=seed)
        options = options or {}
        if self.mode == "train":
            trace, start = self.source.random_segment(self.np_random, self.episode_epochs)
            length = self.episode_epochs
        else:
            index = int(options.get("trace_index", self._next_trace)) % len(self.source.traces)
            self._next_trace = index + 1
            trace = self.source.traces[index]
            start = int(options.get("start", 0))
            length = int(options.get("length", len(trace) - start))
            if not (start >= 0 and length >= 1 and start + length <= len(trace)):
                raise ValueError(f"segment start={start} length={length} does not fit trace {trace.meta.name!r} "
                                 f"of {len(trace)} epochs")
        self.episode = Episode(trace, start, length, int(self.np_random.integers(2**63 - 1)))
        self._trace, self._start, self._length = trace, start, length
        self._t = 0
        self._action = self.contract.fallback_action
        self.sim.reset(self.episode.sim_seed, self.contract.action_to_variant(self._action))
        self._last: EpochStats | None = None
        self._bg_history = np.full(HISTORY, float(trace.cpu_bg_util[start]))
        self._render_log.clear()
        return self._observation(), {"trace": trace.meta.name, "start_epoch": start}

    def step(self, action):
        if self._trace is None:
            raise RuntimeError("call reset() before step()")
        variant = self.contract.action_to_variant(action)
        index = self._start + self._t
        stats = self.sim.step(variant, EpochConditions.from_trace(self._trace, index))
        reward = self.contract.reward(stats)
        self._action = int(action)
        self._last = stats
        self._bg_history[1:] = self._bg_history[:-1]
        self._bg_history[0] = self._trace.cpu_bg_util[index]
        self._t += 1
        truncated = self._t >= self._length
        info = {"stats": stats, "epoch": index, "state": str(self._trace.state[index]),
                **self.contract.describe(action)}
        if self.render_mode is not None:
            self._render_log.append((index, float(self._trace.cpu_bg_util[index]), info["variant_id"], stats))
        observation = self._observation() if not truncated else self._observation(index)
        return observation, reward, False, truncated, info

    def action_masks(self) -> np.ndarray:
        """Allowed actions now (sb3-contrib MaskablePPO protocol)."""
        return self.contract.action_mask(self.reading())

    def reading(self, index: int | None = None) -> Reading:
        """The resource reading the controller sees now (the current epoch's trace sample)."""
        trace = self._trace
        i = self._start + self._t if index is None else index
        return Reading(float(trace.cpu_freq_frac[i]), float(trace.cpu_bg_util[i]), float(trace.mem_avail_frac[i]),
                       float(trace.temp_c[i]), float(trace.battery_frac[i]))

    def _observation(self, index: int | None = None) -> np.ndarray:
        return self.contract.observation(self.reading(index), self._last, self._bg_history, self._action)

    # -- rendering -------------------------------------------------------------------------------------
    def render(self):
        if self.render_mode == "ansi":
            if not self._render_log:
                return "(no epoch yet)\n"
            epoch, bg, variant_id, stats = self._render_log[-1]
            return (f"epoch {epoch:6d} bg {bg:4.0%} variant {variant_id:<28} p95 {stats.latency_p95_ms:7.1f} ms "
                    f"(budget {self.scenario.latency_budget_ms:g}) miss {stats.miss_frac:4.0%} "
                    f"acc {stats.accuracy:.3f} energy {stats.energy_j:.3f} J\n")
        if self.render_mode == "rgb_array":
            from adascale_rl.envs.render import render_timeline

            return render_timeline(list(self._render_log), self.scenario.latency_budget_ms)
        return None
