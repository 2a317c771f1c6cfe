"""Domain randomisation of training episodes: the same real traces, played as if by other devices.

Why: a policy trained on three boards' recordings learns those boards — their clock ranges, their load
levels, their memory — and loses to a fixed variant on a board it never saw. Randomising, per episode,
the physical quantities in which devices differ makes the boards it trains on a *distribution* that
covers unseen ones (Tobin et al., 2017; the sim-to-real recipe of domain randomisation).

Every knob is a range of a physical quantity, drawn uniformly once per episode from the env's
``np_random`` (``rate_scale`` and ``time_warp`` log-uniformly, so a range like [0.5, 2] is symmetric
about 1), and applied to the episode's resampled trace columns:

===================  ===========================================================  ==================
knob                 what it does to the episode                                  identity (off)
===================  ===========================================================  ==================
``freq_scale``       CPU frequency fraction × s: a device that does not reach     [1, 1]
                     its rated clock (power-save governor, thermal cap)
``freq_floor``       frequency fraction at least f: the governor's minimum         [0, 0]
                     (600 MHz is 0.33 of an 1800 MHz board, 0.75 of an 800 MHz one)
``bg_gain``          background CPU share × g (heavier or lighter apps, or the     [1, 1]
``bg_offset``        same apps on fewer/more cores) then + o, clipped to [0, 1]    [0, 0]
``mem_shift``        available-memory fraction + m, clipped to [0, 1]             [0, 0]
                     (a smaller or fuller RAM)
``temp_offset_c``    temperature + t °C (a hotter case, so throttling is seen)    [0, 0]
``rate_scale``       request arrival rate × r for the episode                     [1, 1]
``time_warp``        the trace plays w× as fast (w > 1: changes come sooner),     [1, 1]
                     by holding/skipping samples of a ``round(w·n)``-epoch window
``splice_prob``      probability that the episode is spliced from 2 to            0
``splice_max_pieces``  ``splice_max_pieces`` windows of random traces (abrupt      4
                     context changes, also across boards)
``share``            share of training episodes that are randomised at all (the    1
                     rest play the recordings as they are, so the policy keeps
                     seeing the real boards' conditions)
``sensor_dropout``   probability, for each of the frequency and temperature       0
                     sensors, that it is unreadable (NaN) for the episode — VMs,
                     containers and unrooted phones expose no cpufreq or thermal
                     zone (the simulator then runs at nominal clock, unthrottled,
                     as the latency model reads NaN)
===================  ===========================================================  ==================

Unknown readings (NaN frequency or temperature) stay unknown. The scenario TOML's ``[randomize]``
table sets the ranges (:meth:`Randomization.from_table`); the env applies them in train mode only unless
told otherwise, and never changes what an action leads to at deployment, so they are not part of the
scenario digest.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from adascale_rl.errors import DataError
from adascale_rl.traces import Trace, TraceMeta

RANGE_KNOBS: dict[str, tuple[float, float, str]] = {  # knob: (lowest, highest allowed, unit / meaning)
    "freq_scale": (0.2, 1.0, "× CPU frequency fraction"),
    "freq_floor": (0.0, 1.0, "minimum CPU frequency fraction"),
    "bg_gain": (0.0, 4.0, "× background CPU share"),
    "bg_offset": (-1.0, 1.0, "+ background CPU share"),
    "mem_shift": (-1.0, 1.0, "+ available-memory fraction"),
    "temp_offset_c": (-40.0, 60.0, "+ °C"),
    "rate_scale": (0.1, 10.0, "× request rate (log-uniform)"),
    "time_warp": (0.1, 10.0, "× playback speed (log-uniform)"),
}
LOG_UNIFORM = ("rate_scale", "time_warp")
MIN_FREQ_FRAC = 0.05  # the latency model's floor (sim.latency_model.MIN_FREQ_FRAC)
TEMP_RANGE_C = (-40.0, 150.0)  # the trace schema's range


class Draw(NamedTuple):
    """One episode's randomisation: a value per range knob and how many pieces it is spliced from."""

    freq_scale: float
    freq_floor: float
    bg_gain: float
    bg_offset: float
    mem_shift: float
    temp_offset_c: float
    rate_scale: float
    time_warp: float
    pieces: int
    freq_unknown: bool = False
    temp_unknown: bool = False


@dataclass(frozen=True)
class Randomization:
    """Ranges of the per-episode knobs (see module docstring); the default changes nothing."""

    freq_scale: tuple[float, float] = (1.0, 1.0)
    freq_floor: tuple[float, float] = (0.0, 0.0)
    bg_gain: tuple[float, float] = (1.0, 1.0)
    bg_offset: tuple[float, float] = (0.0, 0.0)
    mem_shift: tuple[float, float] = (0.0, 0.0)
    temp_offset_c: tuple[float, float] = (0.0, 0.0)
    rate_scale: tuple[float, float] = (1.0, 1.0)
    time_warp: tuple[float, float] = (1.0, 1.0)
    splice_prob: float = 0.0
    splice_max_pieces: int = 4
    sensor_dropout: float = 0.0
    share: float = 1.0

    @property
    def enabled(self) -> bool:
        """Whether any knob changes an episode."""
        return self.share > 0 and _replace(self, splice_max_pieces=4, share=1.0) != Randomization()

    def to_dict(self) -> dict[str, Any]:
        """Plain data (ranges as lists) for run records and reports."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    def without(self, knob: str) -> Randomization:
        """This randomisation with one knob (or ``splice``) back at its identity: for ablations."""
        identity = Randomization()
        if knob in ("splice", "sensor_dropout"):
            field = "splice_prob" if knob == "splice" else knob
            return _replace(self, **{field: getattr(identity, field)})
        if knob not in RANGE_KNOBS:
            raise KeyError(f"unknown knob {knob!r}; knobs: {', '.join(KNOBS)}")
        return _replace(self, **{knob: getattr(identity, knob)})

    @classmethod
    def from_table(cls, table: Mapping[str, Any], source: str | Path) -> Randomization:
        """Read a ``[randomize]`` table; every error names the file, the key, the value and what was
        expected (range knobs are ``[low, high]`` within the physical bounds of :data:`RANGE_KNOBS`)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise DataError(source, f"unknown [randomize] key(s) {', '.join(unknown)}",
                            expected=", ".join(sorted(known)))
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key in RANGE_KNOBS:
                values[key] = _range(key, value, source)
            elif key in ("splice_prob", "sensor_dropout", "share"):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                    raise DataError(source, f"[randomize] '{key}' must be a probability", value=value,
                                    expected="a number in [0, 1]")
                values[key] = float(value)
            else:  # splice_max_pieces
                if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= 64:
                    raise DataError(source, "[randomize] 'splice_max_pieces' must be an integer", value=value,
                                    expected="an integer in [2, 64]")
                values[key] = value
        return cls(**values)

    def draw(self, rng: np.random.Generator) -> Draw:
        """One episode's knob values (always the same number of draws from ``rng``, so one knob's range
        does not shift another knob's values); the identity for the episodes outside ``share``."""
        ranges = self if float(rng.random()) < self.share else Randomization()
        drawn = {}
        for knob in RANGE_KNOBS:
            low, high = getattr(ranges, knob)
            u = float(rng.random())
            if knob in LOG_UNIFORM:
                drawn[knob] = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
            else:
                drawn[knob] = low + u * (high - low)
        spliced = float(rng.random()) < ranges.splice_prob
        splice_into = int(rng.integers(2, self.splice_max_pieces + 1))
        pieces = splice_into if spliced else 1
        freq_lost, temp_lost = (float(u) < ranges.sensor_dropout for u in rng.random(2))
        return Draw(**drawn, pieces=pieces, freq_unknown=freq_lost, temp_unknown=temp_lost)


KNOBS = (*RANGE_KNOBS, "splice", "sensor_dropout")


def _replace(randomization: Randomization, **changes: Any) -> Randomization:
    return Randomization(**{**asdict(randomization), **changes})


def _range(key: str, value: Any, source: str | Path) -> tuple[float, float]:
    lowest, highest, meaning = RANGE_KNOBS[key]
    expected = f"[low, high] with {lowest:g} <= low <= high <= {highest:g} ({meaning})"
    ok = (isinstance(value, list) and len(value) == 2
          and all(not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) for v in value))
    if not ok or not lowest <= value[0] <= value[1] <= highest:
        raise DataError(source, f"[randomize] '{key}' is not a valid range", value=value, expected=expected)
    return float(value[0]), float(value[1])


def randomized_episode(traces: list[Trace], weights: np.ndarray, rng: np.random.Generator, n_epochs: int,
                       epoch_s: float, randomization: Randomization) -> tuple[Trace, Draw]:
    """An ``n_epochs`` training episode drawn from ``traces`` (resampled to ``epoch_s``, chosen with
    ``weights``) under one draw of ``randomization``, and that draw (see module docstring)."""
    draw = randomization.draw(rng)
    cuts = np.sort(rng.choice(np.arange(1, n_epochs), size=draw.pieces - 1, replace=False)) if draw.pieces > 1 else []
    bounds = [0, *map(int, cuts), n_epochs]
    parts, names = [], []
    for piece_start, piece_stop in itertools.pairwise(bounds):
        length = piece_stop - piece_start
        window = max(1, math.ceil(length * draw.time_warp))
        candidates = np.flatnonzero([len(t) >= window for t in traces])
        if not candidates.size:
            raise ValueError(f"no trace has the {window} epochs a time-warped piece of {length} epochs needs")
        p = weights[candidates] / weights[candidates].sum()
        trace = traces[int(candidates[int(rng.choice(candidates.size, p=p))])]
        start = int(rng.integers(0, len(trace) - window + 1))
        index = start + np.minimum((np.arange(length) * draw.time_warp).astype(np.int64), window - 1)
        parts.append((trace, index))
        names.append(trace.meta.name)
    column = {name: np.concatenate([getattr(trace, name)[index] for trace, index in parts])
              for name in ("cpu_freq_frac", "cpu_bg_util", "mem_avail_frac", "temp_c", "battery_frac", "state")}
    freq = column["cpu_freq_frac"]
    column["cpu_freq_frac"] = np.where(np.isnan(freq), np.nan,
                                       np.clip(np.maximum(freq * draw.freq_scale, draw.freq_floor), MIN_FREQ_FRAC, 1.0))
    column["cpu_bg_util"] = np.clip(column["cpu_bg_util"] * draw.bg_gain + draw.bg_offset, 0.0, 1.0)
    column["mem_avail_frac"] = np.clip(column["mem_avail_frac"] + draw.mem_shift, 0.0, 1.0)
    column["temp_c"] = np.clip(column["temp_c"] + draw.temp_offset_c, *TEMP_RANGE_C)
    if draw.freq_unknown:
        column["cpu_freq_frac"] = np.full(n_epochs, np.nan)
    if draw.temp_unknown:
        column["temp_c"] = np.full(n_epochs, np.nan)
    column["t_s"] = np.arange(n_epochs, dtype=np.float64) * epoch_s
    device = parts[0][0].meta.device if draw.pieces == 1 else "spliced"
    return Trace.from_columns(column, TraceMeta(name="+".join(dict.fromkeys(names)), device=device)), draw
