"""Resampling invariants (hypothesis) and episode cutting."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from adascale_rl.traces import Trace, TraceMeta, find_entry, random_segment, resample, whole

STATES = ("idle", "game", "mining")


@st.composite
def traces(draw: st.DrawFn) -> Trace:
    """Irregularly sampled traces; cpu_freq_frac may contain NaN (unknown), other columns may not."""
    n = draw(st.integers(2, 30))
    steps = draw(st.lists(st.floats(0.05, 20.0), min_size=n - 1, max_size=n - 1))
    t = np.concatenate(([0.0], np.cumsum(np.round(steps, 3))))
    assume(np.all(np.diff(t) > 0))
    unit = st.floats(0.0, 1.0)
    freq = draw(st.lists(st.one_of(st.floats(0.01, 1.0), st.just(math.nan)), min_size=n, max_size=n))
    columns = {
        "t_s": t,
        "cpu_freq_frac": freq,
        "cpu_bg_util": draw(st.lists(unit, min_size=n, max_size=n)),
        "mem_avail_frac": draw(st.lists(unit, min_size=n, max_size=n)),
        "temp_c": draw(st.lists(st.floats(-40.0, 150.0), min_size=n, max_size=n)),
        "battery_frac": draw(st.lists(unit, min_size=n, max_size=n)),
        "state": draw(st.lists(st.sampled_from(STATES), min_size=n, max_size=n)),
    }
    return Trace.from_columns(columns, TraceMeta(name="h"))


def step_integral(trace: Trace, column: str, lo: float, hi: float) -> float:
    """∫ of the held-value step function over [lo, hi), computed sample by sample (the reference)."""
    starts = trace.t_s - trace.t_s[0]
    ends = np.append(starts[1:], starts[-1] + trace.period_s)
    overlap = np.clip(np.minimum(ends, hi) - np.maximum(starts, lo), 0.0, None)
    return float(np.sum(trace.column(column) * overlap))


def span(trace: Trace) -> float:
    return trace.duration_s + trace.period_s


@settings(max_examples=150, deadline=None)
@given(trace=traces(), epoch=st.floats(0.05, 30.0))
def test_resample_invariants(trace: Trace, epoch: float) -> None:
    assume(span(trace) >= epoch * (1 + 1e-6))
    out = resample(trace, epoch)
    n = len(out)
    # length = floor(span / epoch) and a regular grid starting at 0
    assert n == math.floor(span(trace) / epoch + 1e-9)
    assert np.allclose(out.t_s, np.arange(n) * epoch, rtol=0, atol=1e-9)
    for column in ("cpu_freq_frac", "cpu_bg_util", "mem_avail_frac", "temp_c", "battery_frac"):
        values, source = out.column(column), trace.column(column)
        known = source[~np.isnan(source)]
        # values stay within [min, max] of the input
        if known.size:
            finite = values[~np.isnan(values)]
            assert np.all(finite >= known.min()) and np.all(finite <= known.max())
        # NaN only where the input had NaN (in an overlapping sample)
        starts = trace.t_s - trace.t_s[0]
        ends = np.append(starts[1:], starts[-1] + trace.period_s)
        for k in np.flatnonzero(np.isnan(values)):
            lo, hi = k * epoch, (k + 1) * epoch
            overlapping = (starts < hi) & (ends > lo)
            assert np.isnan(source[overlapping]).any()
        # time-weighted mean preserved over the covered span (columns without NaN)
        if not np.isnan(source).any():
            covered = n * epoch
            expected = step_integral(trace, column, 0.0, covered) / covered
            assert values.mean() == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert set(out.state) <= set(trace.state)


def test_resample_real_trace_to_decision_epochs() -> None:
    trace = find_entry("rpi4b4gb_1200mhz_pattern_12h").load()
    out = resample(trace, 1.0)  # decision epochs shorter than the 5 s sampling period repeat the held value
    assert len(out) == math.floor(span(trace) / 1.0 + 1e-9)
    coarse = resample(trace, 60.0)
    assert coarse.cpu_bg_util.mean() == pytest.approx(
        step_integral(trace, "cpu_bg_util", 0, len(coarse) * 60.0) / (len(coarse) * 60.0), rel=1e-9)
    assert coarse.meta == trace.meta


def test_resample_rejects_bad_arguments() -> None:
    trace = find_entry("rpi4b8gb_1800mhz_pattern_6h").load()
    with pytest.raises(ValueError, match="epoch_s must be positive"):
        resample(trace, 0.0)
    with pytest.raises(ValueError, match="shorter than one epoch"):
        resample(trace, 1e6)
    with pytest.raises(ValueError, match="at least 2"):
        resample(trace.slice(0, 1), 1.0)


@pytest.mark.parametrize("length", [1, 17, 720])
def test_random_segment_is_deterministic_per_seed_and_has_the_asked_length(length: int) -> None:
    trace = find_entry("rpi4b8gb_1800mhz_pattern_6h").load()
    a = random_segment(trace, length, np.random.default_rng(7))
    b = random_segment(trace, length, np.random.default_rng(7))
    assert a == b
    assert len(a) == length and a.t_s[0] == 0.0
    # a contiguous window of the original, time re-based
    offsets = [i for i in range(len(trace) - length + 1)
               if np.array_equal(trace.cpu_bg_util[i:i + length], a.cpu_bg_util)
               and np.array_equal(trace.t_s[i:i + length] - trace.t_s[i], a.t_s)]
    assert offsets
    firsts = {float(random_segment(trace, length, np.random.default_rng(seed)).cpu_bg_util[0]) for seed in range(20)}
    assert len(firsts) > 1  # different seeds give different windows


def test_random_segment_rejects_impossible_lengths() -> None:
    trace = find_entry("rpi4b8gb_1800mhz_pattern_6h").load()
    with pytest.raises(ValueError, match="at least 1"):
        random_segment(trace, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="fewer than the 4322 asked for"):
        random_segment(trace, len(trace) + 1, np.random.default_rng(0))


def test_whole_rebases_time_and_keeps_everything_else() -> None:
    trace = find_entry("rpi4b8gb_1800mhz_pattern_6h").load()
    episode = whole(trace)
    assert len(episode) == len(trace) and episode.t_s[0] == 0.0
    assert np.array_equal(episode.cpu_bg_util, trace.cpu_bg_util) and episode.meta == trace.meta
