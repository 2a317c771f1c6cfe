"""Compression operators build real, smaller modules; every variant runs."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from adascale_rl.supernet.flops import count_flops, count_params, has_quantized_modules, model_bytes
from adascale_rl.supernet.model import Supernet, SupernetConfig
from adascale_rl.supernet.operators import (
    VariantSpec,
    _depthwise_separable,
    _low_rank_conv,
    all_specs,
    build_variant,
    extract,
    factorise,
)
from adascale_rl.supernet.train import torch_threads


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: on the shared 2-core machine multi-threaded small ops stall behind other jobs."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def supernet() -> Supernet:
    """A randomly initialised supernet whose BN statistics have been touched at every width."""
    torch.manual_seed(0)
    net = Supernet().train()
    with torch.no_grad():
        for width in net.config.widths:
            net(torch.randn(32, 1, 28, 28), width)
    return net.eval()


@pytest.fixture(scope="module")
def calibration() -> torch.Tensor:
    return torch.randn(32, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def test_variant_count_and_names() -> None:
    specs = all_specs(3)
    assert len(specs) >= 48
    ids = [s.variant_id for s in specs]
    assert len(set(ids)) == len(ids)
    assert "exit3|none" in ids and "exit1|w0.25" in ids and "exit2|w0.5+lr0.5+int8" in ids and "exit3|ds" in ids
    for spec in specs:
        assert VariantSpec.parse(spec.variant_id) == spec


def test_bad_variant_ids() -> None:
    for bad in ("exit3", "head1|none", "exit1|w0.5+zip"):
        with pytest.raises(ValueError):
            VariantSpec.parse(bad)


def test_every_variant_builds_and_runs(supernet: Supernet, calibration: torch.Tensor) -> None:
    x = torch.randn(3, 1, 28, 28)
    for spec in all_specs(supernet):
        model = build_variant(supernet, spec, calibration=calibration)
        with torch.inference_mode():
            out = model(x)
        assert out.shape == (3, 10), spec.variant_id
        assert out.dtype == torch.float32
        assert torch.isfinite(out).all()
        assert has_quantized_modules(model) == spec.int8


@pytest.mark.parametrize("width", [0.25, 0.5, 0.75, 1.0])
def test_extracted_width_equals_the_supernet(supernet: Supernet, width: float) -> None:
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        reference = supernet(x, width)
        extracted = extract(supernet, width)(x)
    for ref, out in zip(reference, extracted, strict=True):
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-4)


def test_extracted_layers_are_really_smaller(supernet: Supernet) -> None:
    convs = [m for m in extract(supernet, 0.5).modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [12, 12, 24, 24, 48, 48]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in extract(supernet, 0.5).modules())


def test_costs_shrink_with_width_rank_and_separability(supernet: Supernet, calibration: torch.Tensor) -> None:
    def cost(vid: str) -> tuple[int, int]:
        model = build_variant(supernet, vid, calibration=calibration)
        return count_params(model), count_flops(model)

    for branch in (1, 2, 3):
        widths = [cost(f"exit{branch}|{'w' + str(w) if w != 1.0 else 'none'}") for w in (0.25, 0.5, 0.75, 1.0)]
        assert all(a[0] < b[0] and a[1] < b[1] for a, b in itertools.pairwise(widths))
        for prefix in ("", "w0.5+"):
            base = cost(f"exit{branch}|{prefix.rstrip('+') or 'none'}")
            assert cost(f"exit{branch}|{prefix}lr0.5")[0] < base[0]
            assert cost(f"exit{branch}|{prefix}lr0.5")[1] < base[1]
            assert cost(f"exit{branch}|{prefix}ds")[0] < base[0]
            assert cost(f"exit{branch}|{prefix}ds")[1] < base[1]
    # Deeper branches cost more.
    assert cost("exit1|none")[1] < cost("exit2|none")[1] < cost("exit3|none")[1]


def test_int8_keeps_shape_counts_and_shrinks_bytes(supernet: Supernet, calibration: torch.Tensor) -> None:
    float_model = build_variant(supernet, "exit3|w0.5+lr0.5", calibration=calibration)
    int8_model = build_variant(supernet, "exit3|w0.5+lr0.5+int8", calibration=calibration)
    assert count_params(int8_model) == count_params(float_model)
    assert count_flops(int8_model) == count_flops(float_model)
    assert model_bytes(int8_model) < 0.5 * model_bytes(float_model)


def test_low_rank_is_the_truncated_svd() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(16, 32, 3, padding=1)
    pair = _low_rank_conv(conv, 0.25)
    assert pair is not None
    first, second = pair
    assert (first.out_channels, first.kernel_size, second.kernel_size) == (8, (3, 3), (1, 1))
    matrix = conv.weight.detach().reshape(32, -1)
    u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    best = (u[:, :8] * s[:8]) @ vh[:8]
    product = second.weight.detach().reshape(32, 8) @ first.weight.detach().reshape(8, -1)
    torch.testing.assert_close(product, best, atol=1e-5, rtol=1e-4)
    x = torch.randn(2, 16, 10, 10)
    ref = nn.functional.conv2d(x, best.reshape(conv.weight.shape), conv.bias, padding=1)
    torch.testing.assert_close(pair(x), ref, atol=1e-4, rtol=1e-4)


def test_low_rank_skips_layers_it_would_not_shrink() -> None:
    assert _low_rank_conv(nn.Conv2d(1, 24, 3, padding=1), 0.9) is None


def test_depthwise_separable_is_exact_for_rank1_kernels() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 10, 3, padding=1)
    with torch.no_grad():  # W[o, c] = p[o, c] · d[c]: exactly depthwise-separable
        conv.weight.copy_(torch.randn(10, 6)[:, :, None, None] * torch.randn(6, 3, 3)[None])
    pair = _depthwise_separable(conv)
    assert pair is not None
    assert pair[0].groups == 6 and pair[1].kernel_size == (1, 1)
    x = torch.randn(2, 6, 9, 9)
    torch.testing.assert_close(pair(x), conv(x), atol=1e-4, rtol=1e-4)


def test_factorise_is_deterministic_in_structure(supernet: Supernet) -> None:
    base = extract(supernet, 0.75)
    for factor in ("lr0.5", "ds"):
        a, b = factorise(base, factor), factorise(base, factor)
        assert list(a.state_dict()) == list(b.state_dict())
        a.load_state_dict(b.state_dict())


def test_small_config_supernet_variants() -> None:
    net = Supernet(SupernetConfig(stage_channels=(4, 8, 8), head_hidden=8)).eval()
    model = build_variant(net, "exit2|w0.5+ds", calibration=torch.randn(8, 1, 28, 28))
    assert model(torch.randn(1, 1, 28, 28)).shape == (1, 10)
