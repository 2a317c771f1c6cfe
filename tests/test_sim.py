"""The SimPy contention simulator: placement rule, latency model monotonicity, energy, switching,
memory failures and queue drops."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adascale_rl.scenario import get_scenario
from adascale_rl.sim import ContentionSim, EpochConditions, EpochStats, SimConfig
from adascale_rl.sim.latency_model import condition_factor, config_core_counts, placement_share_factors
from adascale_rl.sim.placement import place_background
from adascale_rl.sim.situations import SituationTable
from adascale_rl.sim.stats import percentile

SCENARIO = get_scenario("pixel4")
PROFILE, TABLE = SCENARIO.profile, SCENARIO.table
COUNTS = config_core_counts(PROFILE, TABLE.configs)
CALM = EpochConditions(cpu_freq_frac=1.0, cpu_bg_util=0.0, mem_avail_frac=0.8, temp_c=40.0)


def make_sim(**overrides) -> ContentionSim:
    config = SimConfig(epoch_s=1.0, request_rate_hz=10.0, latency_budget_ms=30.0, queue_limit=8,
                       mem_reserve_mb=512.0)
    return ContentionSim(PROFILE, TABLE, dataclasses.replace(config, **overrides))


def run_epochs(sim: ContentionSim, variant: int, conditions: EpochConditions, seed: int, epochs: int = 5):
    sim.reset(seed, variant)
    return [sim.step(variant, conditions) for _ in range(epochs)]


def best_latency(bg: float, freq: float) -> np.ndarray:
    share = placement_share_factors(PROFILE, COUNTS, place_background(PROFILE, bg))
    return (TABLE.latency_ms * share * condition_factor(freq, 40.0, PROFILE.throttle_c)).min(axis=1)


@given(st.floats(0.0, 1.0))
def test_placement_fills_little_cores_first_and_leaves_one_core(bg):
    placement = place_background(PROFILE, bg)
    sizes = [c.cores for c in PROFILE.clusters]
    demand = bg * PROFILE.n_cores
    assert sum(placement.held) <= PROFILE.n_cores - 1
    assert sum(placement.held) + sum(placement.rho) == pytest.approx(min(demand, PROFILE.n_cores), abs=1e-6)
    small = [c.name for c in PROFILE.clusters].index("small")
    if demand >= sizes[small]:
        assert placement.held[small] == sizes[small]
    else:
        assert sum(placement.held) == placement.held[small]
    assert all(0.0 <= r <= 1.0 for r in placement.rho) and sum(r > 0 for r in placement.rho) <= 1


@settings(max_examples=200)
@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.floats(0.3, 1.0), st.floats(0.3, 1.0))
def test_more_load_or_lower_frequency_never_makes_a_variant_faster(bg_a, bg_b, freq_a, freq_b):
    low_bg, high_bg = sorted((bg_a, bg_b))
    low_f, high_f = sorted((freq_a, freq_b))
    assert (best_latency(high_bg, high_f) >= best_latency(low_bg, high_f) - 1e-9).all()
    assert (best_latency(low_bg, low_f) >= best_latency(low_bg, high_f) - 1e-9).all()


@pytest.mark.parametrize("variant", [0, 9, 24])
def test_simulated_latency_grows_with_load_and_falling_frequency(variant):
    sim = make_sim()
    calm = run_epochs(sim, variant, CALM, seed=3)
    loaded = run_epochs(sim, variant, dataclasses.replace(CALM, cpu_bg_util=0.9), seed=3)
    slow = run_epochs(sim, variant, dataclasses.replace(CALM, cpu_freq_frac=0.5), seed=3)
    for a, b, c in zip(calm, loaded, slow, strict=True):
        assert b.latency_p50_ms >= a.latency_p50_ms and c.latency_p50_ms >= a.latency_p50_ms
    assert sum(s.latency_p50_ms for s in slow) > 1.5 * sum(s.latency_p50_ms for s in calm)


def test_energy_is_latency_times_power():
    variant = TABLE.index("mobilenet_w1|int8")
    # a budget no configuration meets makes the runtime take the fastest one at any clock
    sim = make_sim(request_rate_hz=2.0, latency_budget_ms=1e-3)
    fast = run_epochs(sim, variant, CALM, seed=5, epochs=3)
    half = run_epochs(sim, variant, dataclasses.replace(CALM, cpu_freq_frac=0.5), seed=5, epochs=3)
    config = int(np.argmin(TABLE.latency_ms[variant]))
    power_full = PROFILE.active_power_w(TABLE.configs[config], 1.0)
    power_half = PROFILE.active_power_w(TABLE.configs[config], 0.5)
    # same random draws, twice the service time at half the clock and the half-clock power
    ratio = sum(s.energy_j for s in half) / sum(s.energy_j for s in fast)
    assert ratio == pytest.approx(2.0 * power_half / power_full, rel=1e-9)
    mean_energy_mj = 1000 * sum(s.energy_j for s in fast) / sum(s.completed for s in fast)
    assert mean_energy_mj == pytest.approx(power_full * TABLE.latency_ms[variant, config], rel=0.1)


def test_runtime_takes_the_least_energy_configuration_that_meets_half_the_budget():
    variant = TABLE.index("mobilenet_w1|int8")
    sim = make_sim(latency_budget_ms=30.0)
    sim.reset(0, variant)
    sim.step(variant, CALM)
    service_ms, _, power_w = sim._service
    latency = TABLE.latency_ms[variant]
    energy = np.array([PROFILE.active_power_w(c) for c in TABLE.configs]) * latency
    within = latency <= 15.0
    assert service_ms <= 15.0
    assert service_ms * power_w == pytest.approx(energy[within].min())
    assert service_ms > latency.min()  # the fastest configuration costs more energy here


def test_switch_costs_a_load_proportional_to_model_bytes():
    sim = make_sim()
    sim.reset(0, 0)
    target = TABLE.index("resnet18|float")
    stats = sim.step(target, CALM)
    assert stats.switched
    assert stats.load_ms == pytest.approx(TABLE.model_bytes[target] / 1e6 / PROFILE.load_mb_per_s * 1000)
    assert not sim.step(target, CALM).switched


def test_variant_that_does_not_fit_memory_fails_its_requests():
    sim = make_sim(mem_reserve_mb=PROFILE.ram_mb)  # nothing fits
    stats = run_epochs(sim, 0, CALM, seed=1, epochs=3)
    assert all(s.out_of_memory and s.completed == 0 and s.failed == s.requests for s in stats)
    assert all(s.miss_frac == 1.0 for s in stats if s.requests)


def test_queue_limit_drops_requests():
    slow = TABLE.index("resnet18|float")
    sim = make_sim(request_rate_hz=60.0, queue_limit=3)
    stats = run_epochs(sim, slow, dataclasses.replace(CALM, cpu_bg_util=0.9, cpu_freq_frac=0.5), seed=2)
    assert sum(s.dropped for s in stats) > 0
    assert all(s.queue_len <= 3 for s in stats)
    assert all(s.completed + s.dropped + s.failed <= s.requests + 8 for s in stats)


def test_same_seed_same_epochs():
    sim = make_sim()
    assert run_epochs(sim, 4, CALM, seed=11) == run_epochs(sim, 4, CALM, seed=11)


@given(st.lists(st.floats(0.0, 1e3), min_size=1, max_size=50), st.floats(0.0, 100.0))
def test_percentile_matches_numpy(values, q):
    assert percentile(sorted(values), q) == pytest.approx(np.percentile(values, q), rel=1e-9, abs=1e-9)


def test_stats_from_tallies_equal_constructed_stats():
    """``from_tallies`` fills the frozen dataclass directly: every field set, equal to ``__init__``'s."""
    stats = run_epochs(make_sim(), 3, CALM, seed=4, epochs=1)[0]
    assert set(vars(stats)) == {field.name for field in dataclasses.fields(stats)}
    assert EpochStats(**stats.to_dict()) == stats and hash(EpochStats(**stats.to_dict())) == hash(stats)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.completed = 0


def test_request_rate_per_episode():
    sim = make_sim()
    sim.reset(1, 3, request_rate_hz=0.0)
    assert sum(sim.step(3, CALM).requests for _ in range(5)) == 0
    sim.reset(1, 3, request_rate_hz=40.0)
    busy = sum(sim.step(3, CALM).requests for _ in range(5))
    sim.reset(1, 3)
    assert busy > 2 * sum(sim.step(3, CALM).requests for _ in range(5))
    with pytest.raises(ValueError, match="request_rate_hz must be a finite rate >= 0"):
        sim.reset(1, 3, request_rate_hz=float("nan"))


def test_situations_do_not_depend_on_batching():
    """A segment computed in one pass gives exactly what one situation at a time gives."""
    rng = np.random.default_rng(0)
    bg, freq, temp = rng.random(40).tolist(), rng.uniform(0.3, 1.0, 40).tolist(), rng.uniform(30, 110, 40).tolist()
    freq[3], temp[5] = float("nan"), float("nan")
    batched = SituationTable(PROFILE, TABLE, 30.0).segment(bg, freq, temp)
    single = SituationTable(PROFILE, TABLE, 30.0)
    for i, situation in enumerate(batched):
        alone = single.get(bg[i], freq[i], temp[i])
        assert situation.held == alone.held and situation.freq_frac == alone.freq_frac
        assert situation.load_power_w == alone.load_power_w
        np.testing.assert_array_equal(situation.choices, alone.choices)
    assert condition_factor(0.5, 100.0, 95.0) == condition_factor(np.array([0.5]), np.array([100.0]), 95.0)[0]


def test_simulators_share_a_situation_table_only_for_the_same_setup():
    table = SituationTable(PROFILE, TABLE, 30.0)
    first, second = make_sim(), ContentionSim(PROFILE, TABLE, make_sim().config, table)
    assert second.situations is table and first.situations is not table
    with pytest.raises(ValueError, match="same device profile, catalog and latency budget"):
        ContentionSim(PROFILE, TABLE, dataclasses.replace(make_sim().config, latency_budget_ms=5.0), table)
