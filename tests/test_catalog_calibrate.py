"""Per-variant serving overhead in catalogs: the optional columns, the simulator and greedy rule using them,
and calibration from live profiles (the fit reproduces the measured distribution in the real simulator)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adascale_rl._resources import data_path
from adascale_rl.agents.baselines import GreedyController
from adascale_rl.catalog import VariantTable, bundled_profile, bundled_table, bundled_table_names
from adascale_rl.catalog.calibrate import MAX_SIGMA, LiveProfile, calibrate_table, lognormal_overhead, lognormal_sigma
from adascale_rl.cli import main
from adascale_rl.envs.contract import DecisionContract, Reading
from adascale_rl.errors import DataError
from adascale_rl.hardware_bridge.online_profile import OnlineProfiler
from adascale_rl.scenario import get_scenario, load_scenario, with_catalog
from adascale_rl.sim.latency_model import serving_overhead
from adascale_rl.sim.simulator import ContentionSim, EpochConditions, SimConfig


def _live(table: VariantTable, cells: dict[tuple[int, int], tuple[float, float]], n: int = 2000,
          seed: int = 0) -> LiveProfile:
    """A live profile measured by the online profiler from lognormal service times with given (median, p95)."""
    rng = np.random.default_rng(seed)
    profiler = OnlineProfiler(table, horizon=100_000)
    for (v, c), (median, p95) in cells.items():
        sigma = math.log(p95 / median) / 1.6448536269514722
        for x in rng.lognormal(math.log(median), sigma, n):
            profiler.record(v, c, latency_ms=float(x), service_ms=float(x), slowdown=1.0, energy_mj=1.0)
    return profiler.live_profile()


def test_phone_catalogs_without_overhead_save_byte_identically(tmp_path: Path) -> None:
    for name in bundled_table_names():
        table = bundled_table(name)
        if name == "local":
            assert table.has_overhead
            continue
        assert not table.has_overhead and table.overhead_ms is None
        assert table.save(tmp_path / f"{name}.csv").read_bytes() == data_path("catalogs", f"{name}.csv").read_bytes()


def test_overhead_columns_round_trip_and_are_checked(tmp_path: Path) -> None:
    table = bundled_table("local")
    again = VariantTable.load(table.save(tmp_path / "local.csv"))
    assert np.array_equal(again.overhead_ms, table.overhead_ms)
    assert np.array_equal(np.isinf(table.overhead_ms), ~table.available)
    frame = pd.read_csv(tmp_path / "local.csv", skiprows=1, dtype=str)

    def write(name: str, changed: pd.DataFrame) -> Path:
        path = tmp_path / name
        path.write_text("# device: local\n" + changed.to_csv(index=False))
        return path

    with pytest.raises(DataError, match=r"overhead_sd_ms@2t.*all present or all absent"):
        VariantTable.load(write("partial.csv", frame.drop(columns="overhead_sd_ms@2t")))
    negative = frame.copy()
    negative.loc[0, "overhead_ms@1t"] = "-0.1"
    with pytest.raises(DataError, match=r"line 3, column 'overhead_ms@1t'"):
        VariantTable.load(write("negative.csv", negative))


def test_simulator_and_greedy_use_each_variants_overhead() -> None:
    scenario = get_scenario("local")
    table, profile = scenario.table, scenario.profile
    overhead, _ = serving_overhead(profile, table)
    assert overhead is table.overhead_ms and np.unique(overhead[table.available]).size > 10  # not one constant
    phone = bundled_profile("pixel4")
    assert (serving_overhead(phone, bundled_table("pixel4"))[0] == phone.request_overhead_ms).all()
    greedy = GreedyController(DecisionContract(scenario))
    obs = DecisionContract(scenario).observation(Reading(1.0, 0.0, 0.9), None, np.zeros(3), 0)
    latency, _ = greedy.predict(obs)
    rows = np.arange(len(table))
    config = np.argmin(np.abs(latency[:, None] - (table.latency_ms + overhead)), axis=1)
    assert np.allclose(latency, (table.latency_ms + overhead)[rows, config])  # idle: catalog + own overhead


def test_calibration_reproduces_the_measured_service_in_the_simulator() -> None:
    scenario = get_scenario("local")
    table = scenario.table
    v = table.index("exit2|w0.5")
    live = _live(table, {(v, 0): (1.0, 2.4)})
    result = calibrate_table(table, scenario.profile, [live])
    calibrated = result.table
    assert result.changes["source"].tolist() == ["live", "scaled x" + result.changes["source"].iloc[1][8:]]
    assert result.changes["samples"].tolist() == [2000, 0]
    assert calibrated.overhead_ms[v, 0] == pytest.approx(result.changes["overhead_ms"].iloc[0])
    others = np.ones(table.latency_ms.shape, dtype=bool)
    others[v] = False
    assert np.array_equal(calibrated.overhead_ms[others], table.overhead_ms[others])  # other variants kept
    assert "calibrated" in calibrated.provenance[v] and calibrated.provenance[v].count("serving overhead:") == 1
    # serve the variant idle at a low rate (little queueing), 600 requests per epoch, in the real simulator
    sim = ContentionSim(scenario.profile, calibrated, SimConfig(20.0, 30.0, 10.0, 16, 0.0))
    sim.reset(7, v)
    epochs = [sim.step(v, EpochConditions(1.0, 0.0, 0.9, math.nan)) for _ in range(20)]
    weights = [s.completed for s in epochs]
    assert np.average([s.latency_p50_ms for s in epochs], weights=weights) == pytest.approx(1.0, rel=0.04)
    assert np.average([s.latency_p95_ms for s in epochs], weights=weights) == pytest.approx(2.4, rel=0.08)
    # … and the uncalibrated catalog does not
    sim = ContentionSim(scenario.profile, table, SimConfig(20.0, 30.0, 10.0, 16, 0.0))
    sim.reset(7, v)
    before = [sim.step(v, EpochConditions(1.0, 0.0, 0.9, math.nan)).latency_p95_ms for _ in range(5)]
    assert abs(np.mean(before) - 2.4) > 0.4


def test_unmeasured_configurations_of_a_measured_variant_scale_with_it() -> None:
    """A live run measures the configuration the runtime served; its sibling must not stay at the idle
    profile's (cheaper) cost, or the runtime moves there on the next run onto unmeasured numbers."""
    scenario = get_scenario("local")
    table = scenario.table
    v = table.index("exit3|w0.25")
    total = table.latency_ms[v] + table.overhead_ms[v]  # mean service per configuration before
    live = _live(table, {(v, 0): (1.3, 1.6)})  # 1 thread measured well above the catalog
    result = calibrate_table(table, scenario.profile, [live])
    after = result.table.latency_ms[v] + result.table.overhead_ms[v]
    ratio = after[0] / total[0]
    assert ratio > 1.3 and after[1] == pytest.approx(ratio * total[1])  # same measured slow-down
    assert result.changes.set_index("config").loc["2t", "source"] == f"scaled x{ratio:.3g}"
    sd_before = np.hypot(table.latency_sd_ms[v, 1], table.overhead_sd_ms[v, 1])
    assert np.hypot(table.latency_sd_ms[v, 1], result.table.overhead_sd_ms[v, 1]) == pytest.approx(ratio * sd_before)
    assert int(np.argmin(after)) == int(np.argmin(total))  # the faster configuration stays the faster one
    kept = calibrate_table(table, scenario.profile, [live], transfer=False)
    assert kept.table.overhead_ms[v, 1] == table.overhead_ms[v, 1] and len(kept.changes) == 1
    assert int(np.argmin(kept.table.latency_ms[v] + kept.table.overhead_ms[v])) == 1  # without it: moves to 2t


def test_fit_matches_median_and_spread_and_never_goes_negative() -> None:
    sigma = math.log(1.6 / 0.7) / 1.6448536269514722
    overhead, sd = lognormal_overhead(0.7, sigma, 0.25, 0.02)
    mean = 0.25 + overhead
    sim_sigma = math.sqrt(math.log1p((0.02**2 + sd**2) / mean**2))  # the simulator's lognormal spread
    assert mean * math.exp(-sim_sigma**2 / 2) == pytest.approx(0.7)
    assert mean * math.exp(1.6448536269514722 * sim_sigma - sim_sigma**2 / 2) == pytest.approx(1.6)
    assert lognormal_overhead(0.2, 0.1, 0.25, 0.01)[0] == 0.0  # faster than the catalog: no negative overhead


def test_spread_from_the_tail_or_the_quartiles_and_capped() -> None:
    cell = pd.Series({"service_p25_ms": 0.5, "service_p50_ms": 0.6, "service_p75_ms": 0.72, "service_p95_ms": 1.2})
    assert lognormal_sigma(cell, "tail") == pytest.approx(math.log(2.0) / 1.6448536269514722)
    assert lognormal_sigma(cell, "robust") == pytest.approx(math.log(0.72 / 0.5) / 1.3489795003921634)
    stalls = cell.copy()
    stalls["service_p95_ms"] = 120.0  # a busy machine's stalls in the tail
    assert lognormal_sigma(stalls, "tail") == MAX_SIGMA
    assert lognormal_sigma(stalls, "robust") == lognormal_sigma(cell, "robust")  # the quartiles do not care
    with pytest.raises(ValueError, match="spread"):
        lognormal_sigma(cell, "mean")


def test_cells_below_min_count_are_left_alone() -> None:
    scenario = get_scenario("local")
    live = _live(scenario.table, {(0, 0): (0.9, 1.5)}, n=50)
    result = calibrate_table(scenario.table, scenario.profile, [live], min_count=100)
    assert result.changes.empty and np.array_equal(result.table.overhead_ms, scenario.table.overhead_ms)


def test_cli_calibrate_writes_catalog_and_a_scenario_to_retrain_on(tmp_path: Path, capsys) -> None:
    scenario = get_scenario("local")
    v = scenario.table.index("exit1|w0.5")
    first = _live(scenario.table, {(v, 0): (0.6, 1.1)}, seed=1).save(tmp_path / "a.live_profile.csv")
    second = _live(scenario.table, {(v, 0): (0.8, 1.5)}, seed=2).save(tmp_path / "b.live_profile.csv")
    out, toml = tmp_path / "cal" / "local_calibrated.csv", tmp_path / "cal" / "local_calibrated.toml"
    code = main(["catalog", "calibrate", "--live", str(first), "--live", str(second), "--out", str(out),
                 "--scenario-out", str(toml)])
    assert code == 0
    assert "exit1|w0.5" in capsys.readouterr().out
    calibrated = VariantTable.load(out)
    merged = pd.concat([LiveProfile.load(p).frame for p in (first, second)])
    expected = lognormal_overhead(merged["service_p50_ms"].mean(),
                                  lognormal_sigma(merged[[c for c in merged if c.startswith("service_p")]].mean(),
                                                  "tail"),
                                  float(scenario.table.latency_ms[v, 0]), float(scenario.table.latency_sd_ms[v, 0]))
    assert calibrated.overhead_ms[v, 0] == pytest.approx(expected[0], rel=1e-6)
    retrain = load_scenario(toml)
    assert retrain.name == "local" and retrain.table.overhead_ms[v, 0] == pytest.approx(expected[0], rel=1e-6)
    assert retrain.table.to_frame().equals(with_catalog(scenario, out).table.to_frame())
    assert retrain.digest() != scenario.digest()  # a policy trained on the bundled catalog is refused with it
    assert retrain.request_rate_hz == scenario.request_rate_hz and retrain.reward == scenario.reward
    assert main(["catalog", "calibrate", "--live", str(first), "--scenario", "pixel4", "--out",
                 str(tmp_path / "x.csv")]) == 2
    assert "device 'local' does not match" in capsys.readouterr().err
