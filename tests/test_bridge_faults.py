"""Fail-safe closed loop on this machine with injected faults: real exceptions from real variant modules, the
real variant builder and the real resource sampler. The device quarantines what fails, serves the safe
variant instead, logs it and marks the epoch; the loop never stops."""

from __future__ import annotations

import logging

import psutil
import pytest
import torch

from adascale_rl.agents.baselines import StaticController
from adascale_rl.agents.bundled import bundled_policy
from adascale_rl.envs.contract import DecisionContract
from adascale_rl.hardware_bridge.devices.local import LocalDevice
from adascale_rl.hardware_bridge.devices.variants import VariantProvider, bundle_provider
from adascale_rl.hardware_bridge.loop import run_loop
from adascale_rl.hardware_bridge.runtime import PolicyRuntime, ReadingDecider
from adascale_rl.scenario import get_scenario
from adascale_rl.supernet.bundle import load_bundle
from adascale_rl.supernet.operators import build_variant

BROKEN = "exit2|w0.5"  # a float variant that is neither the safe one nor int8


@pytest.fixture(scope="module")
def scenario():
    return get_scenario("local")


def _first_conv(module: torch.nn.Module) -> torch.nn.Conv2d:
    return next(m for m in module.modules() if isinstance(m, torch.nn.Conv2d))


def failing_after(calls: int) -> VariantProvider:
    """The shipped variants, but ``BROKEN``'s first convolution gets a weight for 3 input channels after
    ``calls`` forward passes, so from then on torch's own conv2d raises a RuntimeError on every request."""
    real = bundle_provider()

    def build(variant_id: str) -> torch.nn.Module:
        module = real.build(variant_id)
        if variant_id == BROKEN:
            conv, seen = _first_conv(module), [0]

            def corrupt(layer: torch.nn.Conv2d, inputs) -> None:
                seen[0] += 1
                if seen[0] == calls:
                    layer.weight = torch.nn.Parameter(torch.zeros(layer.out_channels, 3, *layer.kernel_size))

            conv.register_forward_pre_hook(corrupt)
        return module

    return VariantProvider(build, real.weights)


def _static(scenario, variant_id: str) -> tuple[ReadingDecider, int]:
    contract = DecisionContract(scenario)
    action = int(contract.variant_action[scenario.table.index(variant_id)])
    return ReadingDecider(StaticController(contract, action, "static"), contract), action


def test_a_variant_that_raises_while_serving_is_quarantined(scenario, caplog) -> None:
    decider, action = _static(scenario, BROKEN)
    with caplog.at_level(logging.WARNING), LocalDevice(scenario, provider=failing_after(12), seed=2) as device:
        frame = run_loop(device, decider, epochs=4, epoch_s=1.0)
        safe = int(device.contract.variant_action[device.safe_variant])
        assert set(device.broken) == {scenario.table.index(BROKEN)}
    assert (frame["action"] == action).all()  # the controller keeps choosing it …
    assert (frame["served_action"] == safe).all()  # … the device serves the safe variant instead
    assert frame["fallback"].all()
    first = frame.iloc[0]
    assert first["failed"] >= 1
    assert "RuntimeError" in first["fallback_reason"] and "quarantined" in first["fallback_reason"]
    assert frame["fallback_reason"].iloc[1:].str.contains("quarantined").all()
    assert (frame["completed"].iloc[1:] > 0).all() and (frame["failed"].iloc[1:] == 0).all()  # serving goes on
    assert any(BROKEN in r.getMessage() and "quarantined" in r.getMessage() for r in caplog.records)
    assert decider._current == safe  # the next observation says which variant is really in force


def test_a_variant_that_fails_to_build_is_never_served(scenario, caplog) -> None:
    """int8 variants (but the safe one) calibrated on 3-channel images: torch raises inside post-training
    quantisation."""
    bundle = load_bundle()
    contract = DecisionContract(scenario)
    safe_id = contract.describe(contract.fallback_action)["variant_id"]
    good_calibration, bad_calibration = torch.rand(16, 1, 28, 28), torch.rand(16, 3, 28, 28)

    def build(variant_id: str) -> torch.nn.Module:
        calibration = (good_calibration if variant_id == safe_id else bad_calibration
                       if variant_id.endswith("int8") else None)
        return build_variant(bundle.supernet, variant_id, recovered=bundle.recovered, calibration=calibration).eval()

    decider, _ = _static(scenario, "exit2|int8")
    with caplog.at_level(logging.WARNING), LocalDevice(scenario, provider=VariantProvider(build, "test"),
                                                       seed=4) as device:
        frame = run_loop(device, decider, epochs=3, epoch_s=1.0)
        assert "building it raised" in device.broken[scenario.table.index("exit2|int8")]
    assert (frame["served_variant_id"] == str(scenario.table.variant_id[device.safe_variant])).all()
    assert frame["fallback"].all() and (frame["failed"] == 0).all() and (frame["completed"] > 0).all()
    assert any("exit2|int8" in r.getMessage() for r in caplog.records)


def test_the_safe_variant_must_build(scenario) -> None:
    def build(variant_id: str) -> torch.nn.Module:
        raise KeyError(f"no weights for {variant_id}")

    with pytest.raises(ValueError, match="not a supernet variant"):
        LocalDevice(scenario, provider=VariantProvider(build, "none"))


def test_a_failing_sensor_gives_the_safe_variant(scenario, tmp_path, monkeypatch, caplog) -> None:
    """psutil reading /proc from a folder without its files (as in a container without /proc): the real
    sampler raises FileNotFoundError for two epochs; the runtime falls back, then recovers."""
    runtime = PolicyRuntime(bundled_policy("local"))
    real_procfs = psutil.PROCFS_PATH

    def toggle(row: dict) -> None:
        if row["epoch"] == 0:
            monkeypatch.setattr(psutil, "PROCFS_PATH", str(tmp_path))
        elif row["epoch"] == 2:
            monkeypatch.setattr(psutil, "PROCFS_PATH", real_procfs)

    with caplog.at_level(logging.WARNING), LocalDevice(scenario, seed=5) as device:
        frame = run_loop(device, runtime, epochs=5, epoch_s=1.0, on_epoch=toggle)
    broken, fine = frame.iloc[1:3], frame.iloc[[0, 3, 4]]
    assert broken["cpu_bg_util"].isna().all() and broken["mem_avail_frac"].isna().all()
    assert broken["fallback"].all() and (broken["action"] == runtime.fallback_action).all()
    assert broken["fallback_reason"].str.contains("unreadable sample").all()
    assert broken["fallback_reason"].str.contains("sampler failed").all()
    assert fine["cpu_bg_util"].notna().all() and not fine["fallback"].any()
    assert (frame["completed"] > 0).all()  # serving never stopped
    assert any("sampler failed" in r.getMessage() for r in caplog.records)
