"""The Gymnasium environment: pick a model variant each decision epoch while a real trace plays."""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar, NamedTuple

import gymnasium as gym
import numpy as np

from adascale_rl.envs.contract import HISTORY, DecisionContract, Reading
from adascale_rl.envs.trace_source import TraceSource
from adascale_rl.randomization import Draw, Randomization, randomized_episode
from adascale_rl.scenario import Scenario, get_scenario
from adascale_rl.sim.simulator import ContentionSim, SimConfig
from adascale_rl.sim.situations import SituationTable
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

    **Domain randomisation** (train mode only, on by default there when the scenario has a
    ``[randomize]`` table; ``randomize=False`` turns it off): each training episode is played as if by
    another device — CPU-frequency scale and floor, background-load gain and offset, available-memory
    shift, temperature offset, request-rate factor, time warp and splicing of pieces from several traces,
    each drawn once per episode from ``np_random`` within the scenario's physical ranges
    (:mod:`adascale_rl.randomization`; the episode's draw is :attr:`draw`). Eval mode never randomises:
    evaluation plays the recorded traces as they are.

    **Start state**: the variant with the smallest memory footprint is loaded, no requests are queued.

    **Info**: every ``reset``/``step`` info holds ``action_mask``, the allowed actions for the returned
    observation (so wrappers and vector envs need no method call for it). With ``full_info`` (the
    default in eval mode) a step's info also holds ``stats`` (the epoch's :class:`EpochStats`),
    ``epoch``, ``state``, ``variant_id``, ``branch`` and ``compression``; training (the default
    ``full_info=False`` in train mode) needs none of them, and vectorised envs copy or pickle every info.

    **Arguments**: ``scenario`` (bundled name, path or :class:`Scenario`), ``split`` (manifest split,
    default the scenario's train split in train mode and test split in eval mode), ``mode``,
    ``episode_epochs`` (default from the scenario), ``traces`` (explicit list of :class:`Trace` to use
    instead of a split), ``render_mode`` (``ansi`` or ``rgb_array``), ``full_info`` (see *Info*; default
    ``mode == "eval"``), ``source`` and ``situations`` (a :class:`TraceSource` and
    :class:`SituationTable` to share between envs of one scenario instead of building their own),
    ``randomize`` (see *Domain randomisation*; default: on in train mode).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(self, scenario: str | Scenario = "pixel4", split: str | None = None, mode: str = "train",
                 episode_epochs: int | None = None, traces: list[Trace] | None = None,
                 render_mode: str | None = None, full_info: bool | None = None, source: TraceSource | None = None,
                 situations: SituationTable | None = None, randomize: bool | None = None) -> None:
        if mode not in ("train", "eval"):
            raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
        if mode == "eval" and randomize:
            raise ValueError("randomize applies to training episodes; eval mode plays the recorded traces as they are")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        if source is not None and traces is not None:
            raise ValueError("pass either traces or a prepared source, not both")
        self.scenario = scenario if isinstance(scenario, Scenario) else get_scenario(scenario)
        self.mode = mode
        self.render_mode = render_mode
        self.full_info = mode == "eval" if full_info is None else bool(full_info)
        use = mode == "train" if randomize is None else randomize
        self.randomization = self.scenario.randomize if use else Randomization()
        self.draw: Draw | None = None  # this episode's randomisation (None when not randomised)
        self.contract = DecisionContract(self.scenario)
        self.observation_space = self.contract.observation_space
        self.action_space = self.contract.action_space
        epoch_s = self.scenario.epoch_s
        if source is not None:
            self.source = source
        elif traces is not None:
            self.source = TraceSource.from_traces(traces, epoch_s)
        else:
            default = self.scenario.train_split if mode == "train" else self.scenario.test_split
            self.source = TraceSource.bundled_split(split or default, epoch_s)
        self.episode_epochs = episode_epochs or self.scenario.episode_epochs
        s = self.scenario
        self.sim = ContentionSim(s.profile, s.table, SimConfig(s.epoch_s, s.request_rate_hz, s.latency_budget_ms,
                                                               s.queue_limit, s.mem_reserve_mb), situations)
        self._next_trace = 0
        self._trace: Trace | None = None
        self._render_log: deque = deque(maxlen=RENDER_WINDOW)

    # -- gymnasium API ---------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode. Eval-mode ``options``: ``trace_index`` (default: the next trace), and
        optionally ``start`` and ``length`` (epochs) to play a fixed segment of that trace."""
        super().reset(seed=seed)
        options = options or {}
        rate = None
        if self.mode == "train" and self.randomization.enabled:
            trace, self.draw = randomized_episode(self.source.traces, self.source.weights, self.np_random,
                                                  self.episode_epochs, self.scenario.epoch_s, self.randomization)
            start, length, rate = 0, self.episode_epochs, self.scenario.request_rate_hz * self.draw.rate_scale
        elif self.mode == "train":
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
        self._start_episode(Episode(trace, start, length, int(self.np_random.integers(2**63 - 1))), rate)
        return self._observation_at(0), {"trace": trace.meta.name, "start_epoch": start,
                                         "action_mask": self._masks[0]}

    def _start_episode(self, episode: Episode, request_rate_hz: float | None = None) -> None:
        """Play ``episode`` from its first epoch (``request_rate_hz``: this episode's arrival rate, default
        the scenario's). The segment's columns become plain lists and its masks are computed at once,
        so a step indexes them instead of reading numpy scalars; the simulator's situations for the
        whole segment are looked up (new ones computed) in one pass."""
        trace, start, length = episode.trace, episode.start, episode.length
        stop = start + length
        self.episode = episode
        self._trace, self._start, self._length = trace, start, length
        self._freq = trace.cpu_freq_frac[start:stop].tolist()
        self._bg = trace.cpu_bg_util[start:stop].tolist()
        self._mem = trace.mem_avail_frac[start:stop].tolist()
        self._temp = trace.temp_c[start:stop].tolist()
        self._battery = trace.battery_frac[start:stop].tolist()
        self._situations = self.sim.situations.segment(self._bg, self._freq, self._temp)
        self._masks = self.contract.action_masks_for(trace.mem_avail_frac[start:stop])
        self._masks.flags.writeable = False  # handed out in infos: shared, so read-only
        self._t = 0
        self._action = self.contract.fallback_action
        self.sim.reset(episode.sim_seed, self.contract.action_to_variant(self._action),
                       request_rate_hz=request_rate_hz)
        self._last: EpochStats | None = None
        self._bg_history = [self._bg[0]] * HISTORY
        self._render_log.clear()

    def step(self, action):
        if self._trace is None:
            raise RuntimeError("call reset() before step()")
        variant = self.contract.action_to_variant(action)
        t = self._t
        stats = self.sim.step_situation(variant, self._situations[t], self._mem[t])
        reward = self.contract.reward(stats)
        self._action = action = int(action)
        self._last = stats
        self._bg_history = [self._bg[t], *self._bg_history[:HISTORY - 1]]
        self._t = t + 1
        truncated = self._t >= self._length
        seen = t if truncated else t + 1  # the last observation repeats the final epoch's reading
        info = {"action_mask": self._masks[seen]}
        if self.full_info or self.render_mode is not None:
            index = self._start + t
            info.update(stats=stats, epoch=index, state=str(self._trace.state[index]), **self.contract.describe(action))
            if self.render_mode is not None:
                self._render_log.append((index, self._bg[t], info["variant_id"], stats))
        return self._observation_at(seen), reward, False, truncated, info

    def action_masks(self) -> np.ndarray:
        """Allowed actions now (sb3-contrib MaskablePPO protocol); the same as the last info's
        ``action_mask``."""
        return self._masks[min(self._t, self._length - 1)].copy()

    def reading(self, index: int | None = None) -> Reading:
        """The resource reading the controller sees now (the current epoch's trace sample)."""
        trace = self._trace
        i = self._start + self._t if index is None else index
        return Reading(float(trace.cpu_freq_frac[i]), float(trace.cpu_bg_util[i]), float(trace.mem_avail_frac[i]),
                       float(trace.temp_c[i]), float(trace.battery_frac[i]))

    def _observation_at(self, t: int) -> np.ndarray:
        """The observation with epoch ``t`` of the segment as the current reading."""
        return self.contract.observation_values(self._freq[t], self._bg[t], self._mem[t], self._temp[t],
                                                self._battery[t], self._last, self._bg_history, self._action)

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
