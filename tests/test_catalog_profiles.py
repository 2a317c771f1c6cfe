"""Device profiles: every bundled profile loads, every power figure says where it comes from."""

from __future__ import annotations

from pathlib import Path

import pytest

from adascale_rl._resources import data_path
from adascale_rl.catalog import bundled_profile, bundled_profile_names, load_profile
from adascale_rl.catalog.device_profile import fit_freq_exponent
from adascale_rl.errors import DataError

DEVICE_KEYS = ("ram_mb", "throttle_c", "load_mb_per_s", "idle_w")


def test_expected_profiles_are_bundled() -> None:
    assert {"local", "pixel4", "s10", "mi8se", "a03s", "rpi4"} <= set(bundled_profile_names())


@pytest.mark.parametrize("name", bundled_profile_names())
def test_profile_loads_and_every_power_figure_has_a_source(name: str) -> None:
    profile = bundled_profile(name)
    assert profile.configs and profile.clusters
    for cluster in profile.clusters:
        assert cluster.source.strip(), f"{name}/{cluster.name} has no source"
        assert cluster.active_w > 0
    for config in profile.configs:
        assert profile.active_power_w(config) > 0


@pytest.mark.parametrize("name", ["pixel4", "s10", "mi8se", "a03s", "rpi4"])
def test_device_level_figures_are_sourced(name: str) -> None:
    keys = {line.split(":", 1)[0].strip() for line in bundled_profile(name).sources}
    for key in DEVICE_KEYS:
        assert any(key in k for k in keys), f"{name}: no source line for {key}"


@pytest.mark.parametrize("name", ["pixel4", "s10", "mi8se"])
def test_measured_curves_end_at_max_and_exponent_is_their_fit(name: str) -> None:
    for cluster in bundled_profile(name).clusters:
        assert cluster.power_curve_mhz[-1] == pytest.approx(cluster.max_mhz)
        assert cluster.power_curve_w[-1] == pytest.approx(cluster.active_w)
        assert cluster.core_power_w(True, 1.0) == pytest.approx(cluster.active_w)
        fitted = fit_freq_exponent(cluster.power_curve_mhz, cluster.power_curve_w, cluster.idle_w)
        assert cluster.freq_exponent == pytest.approx(fitted, abs=1e-3)
        # Interpolated, monotone enough to be a DVFS curve: half frequency costs less than full.
        assert cluster.core_power_w(True, 0.5) < cluster.active_w


def test_pixel4_matches_the_brief() -> None:
    p = bundled_profile("pixel4")
    assert [(c.name, c.cores, round(c.max_mhz)) for c in p.clusters] == [
        ("large", 1, 2842), ("med", 3, 2419), ("small", 4, 1786)]
    assert p.config("1large1med").cores == {"large": 1, "med": 1}
    assert p.energy_per_inference_mj("1large", 10.0) == pytest.approx(10.0 * p.cluster("large").active_w)


def test_closed_form_power_without_curve() -> None:
    rpi = bundled_profile("rpi4")
    core = rpi.cluster("core")
    assert not core.power_curve_mhz
    assert core.core_power_w(True, 0.5) == pytest.approx(core.active_w * 0.5**core.freq_exponent)
    assert rpi.active_power_w("4t") == pytest.approx(4 * core.active_w)


def test_bad_power_curve_is_rejected(tmp_path: Path) -> None:
    text = data_path("devices", "pixel4.toml").read_text(encoding="utf-8")
    path = tmp_path / "bad.toml"
    path.write_text(text.replace("2745.6, 2841.6]", "2745.6, 2800.0]", 1), encoding="utf-8")
    with pytest.raises(DataError, match="does not end at max_mhz"):
        load_profile(path)
    path.write_text(text.replace("0.689273, 0.828393]", "0.689273]", 1), encoding="utf-8")
    with pytest.raises(DataError, match="lengths differ"):
        load_profile(path)
