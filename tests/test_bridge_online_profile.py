"""The bridge's online profiler: robust running quantiles, per-(variant, configuration) cells, live profiles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adascale_rl.catalog import bundled_table
from adascale_rl.catalog.calibrate import LIVE_PROFILE_COLUMNS, LiveProfile
from adascale_rl.hardware_bridge.online_profile import OnlineProfiler, QuantileEWMA


def test_quantiles_converge_to_the_distribution() -> None:
    rng = np.random.default_rng(0)
    samples = rng.lognormal(mean=math.log(0.5), sigma=0.4, size=6000)
    estimator = QuantileEWMA(horizon=10_000)
    for x in samples:
        estimator.add(float(x))
    values = estimator.values()
    assert estimator.count == 6000
    assert values[50.0] == pytest.approx(0.5, rel=0.03)
    assert values[95.0] == pytest.approx(0.5 * math.exp(1.6449 * 0.4), rel=0.05)
    assert estimator.mean == pytest.approx(0.5 * math.exp(0.08), rel=0.03)


def test_one_stall_barely_moves_the_estimate() -> None:
    estimator = QuantileEWMA()
    for x in np.linspace(0.4, 0.6, 500):
        estimator.add(float(x))
    before = estimator.values()
    estimator.add(30.0)  # a 30 ms stall of a 0.5 ms inference
    after = estimator.values()
    assert abs(after[50.0] - before[50.0]) < 0.01
    assert abs(after[95.0] - before[95.0]) < 0.05


def test_the_estimate_follows_a_drift_within_its_horizon() -> None:
    estimator = QuantileEWMA(batch=50, horizon=500)
    for _ in range(2000):
        estimator.add(1.0)
    for _ in range(2000):
        estimator.add(2.0)
    assert estimator.values()[50.0] == pytest.approx(2.0, rel=0.02)
    cumulative = QuantileEWMA(batch=50, horizon=100_000)
    for value in [1.0] * 2000 + [2.0] * 2000:
        cumulative.add(value)
    assert cumulative.values()[50.0] == pytest.approx(1.5, rel=0.02)  # no horizon: the average of both


def test_partial_batches_are_included_and_bad_input_refused() -> None:
    estimator = QuantileEWMA(batch=50)
    assert math.isnan(estimator.values()[50.0]) and math.isnan(estimator.mean)
    for x in (1.0, 2.0, 3.0):
        estimator.add(x)
    assert estimator.values()[50.0] == 2.0 and estimator.count == 3
    with pytest.raises(ValueError, match="finite"):
        estimator.add(float("nan"))
    with pytest.raises(ValueError, match="batch"):
        QuantileEWMA(batch=100, horizon=10)


def test_profiler_cells_remove_the_modelled_contention() -> None:
    table = bundled_table("local")
    profiler = OnlineProfiler(table)
    lat = float(table.latency_ms[3, 0])
    for _ in range(120):  # served at twice the nominal compute time plus 0.4 ms of overhead
        profiler.record(3, 0, latency_ms=5.0, service_ms=2 * lat + 0.4, slowdown=2.0, energy_mj=1.5)
    for _ in range(10):  # a configuration the model says could not be placed: latency and energy only
        profiler.record(3, 1, latency_ms=7.0, service_ms=9.0, slowdown=math.inf, energy_mj=2.0)
    assert profiler.total == 130
    cell = profiler.estimate(3, 0)
    assert cell["service_p50_ms"] == pytest.approx(lat + 0.4) and cell["slowdown_mean"] == pytest.approx(2.0)
    assert cell["energy_mj"] == pytest.approx(1.5) and cell["latency_p95_ms"] == pytest.approx(5.0)
    live = profiler.live_profile()
    assert list(live.frame.columns) == list(LIVE_PROFILE_COLUMNS) and live.device == "local"
    unplaced = live.frame.iloc[1]
    assert (unplaced["count"], unplaced["service_count"]) == (10, 0)
    assert not live.frame.isna().any().any()


def test_live_profile_round_trips_and_names_bad_cells(tmp_path) -> None:
    table = bundled_table("local")
    profiler = OnlineProfiler(table)
    for i in range(60):
        profiler.record(0, 0, latency_ms=1.0 + i / 100, service_ms=0.8, slowdown=1.0, energy_mj=0.5)
    path = profiler.live_profile().save(tmp_path / "run.live_profile.csv")
    loaded = LiveProfile.load(path)
    assert loaded.device == "local" and loaded.frame["count"].tolist() == [60]
    assert loaded.frame["service_p50_ms"].iloc[0] == pytest.approx(0.8)
    text = path.read_text().replace(",0.8,", ",-1,", 1)
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(ValueError, match=r"bad.csv, line 3, column 'service_p25_ms'"):
        LiveProfile.load(tmp_path / "bad.csv")
    (tmp_path / "nohead.csv").write_text(text.split("\n", 1)[1])
    with pytest.raises(ValueError, match="device"):
        LiveProfile.load(tmp_path / "nohead.csv")
    renamed = loaded.frame.assign(variant_id="exit9|none")
    with pytest.raises(ValueError, match=r"line 3, column 'variant_id'.*exit9"):
        LiveProfile(loaded.device, renamed, "x.csv").check_against(table)
    with pytest.raises(ValueError, match="device 'pixel4'"):
        LiveProfile("pixel4", loaded.frame, "x.csv").check_against(table)
