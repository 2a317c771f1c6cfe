"""Profiler: FLOP counting, memory measurement, the table it writes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from adascale_rl.catalog import bundled_profile
from adascale_rl.catalog.variant_table import VariantTable
from adascale_rl.supernet.bundle import load_bundle
from adascale_rl.supernet.flops import count_flops, count_params, model_bytes, weight_bytes
from adascale_rl.supernet.operators import VariantSpec
from adascale_rl.supernet.profile import ProfileConfig, peak_inference_bytes, profile_variants, robust_sd
from adascale_rl.supernet.train import torch_threads


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: on the shared 2-core machine multi-threaded small ops stall behind other jobs."""
    with torch_threads(1):
        yield


def test_flops_of_known_layers() -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1, groups=4),
                          nn.Flatten(), nn.Linear(4 * 28 * 28, 10))
    expected = 2 * (28 * 28 * 4 * 9 + 28 * 28 * 4 * 9 + 4 * 28 * 28 * 10)
    assert count_flops(model) == expected
    assert count_params(model) == (4 * 9 + 4) + (4 * 9 + 4) + (4 * 28 * 28 * 10 + 10)
    assert model_bytes(model) > weight_bytes(model) > 0


def test_peak_memory_sees_activations() -> None:
    small = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1)).eval()
    large = nn.Sequential(nn.Conv2d(1, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1)).eval()
    x = torch.zeros(1, 1, 28, 28)
    assert peak_inference_bytes(large, x) >= 64 * 28 * 28 * 4 > peak_inference_bytes(small, x)


def test_robust_sd_ignores_rare_stalls() -> None:
    values = np.random.default_rng(0).normal(1.0, 0.01, 1000)
    values[:10] = 50.0
    assert robust_sd(values) == pytest.approx(0.01, rel=0.2)


def test_profile_writes_a_valid_table(tmp_path) -> None:
    specs = [VariantSpec.parse(v) for v in ("exit2|w0.5", "exit2|w0.5+int8", "exit1|w0.25+lr0.5")]
    result = profile_variants(load_bundle(), ProfileConfig(runs=6, rounds=2, warmup=1), specs=specs, progress=False)
    table = result.table
    assert list(table.variant_id) == [s.variant_id for s in specs]
    assert table.configs == ("1t", "2t")
    path = table.save(tmp_path / "t.csv")
    again = VariantTable.load(path)
    np.testing.assert_allclose(again.latency_ms, table.latency_ms)
    header = path.read_text().splitlines()[1].split(",")
    assert header[:9] == ["variant_id", "branch", "compression", "accuracy", "params", "flops", "model_bytes",
                          "mem_mb", "provenance"]
    assert {"lat_ms@1t", "lat_sd_ms@1t", "energy_mj@1t", "lat_ms@2t", "lat_sd_ms@2t", "energy_mj@2t"} <= set(header)
    device = bundled_profile("local")
    for j, config in enumerate(table.configs):
        np.testing.assert_allclose(table.energy_mj[:, j], device.active_power_w(config) * table.latency_ms[:, j])
    # int8 weights are ~4x smaller than float.
    assert table.model_bytes[1] < 0.6 * table.model_bytes[0]
    assert (result.stats["n@1t"] == 6).all()
