"""Training pieces on a tiny supernet (fast); the real comparison lives in benchmarks/."""

from __future__ import annotations

import pytest
import torch

from adascale_rl.supernet.data import load_split
from adascale_rl.supernet.model import Supernet, SupernetConfig, independent_config
from adascale_rl.supernet.train import (
    TrainConfig,
    distill_loss,
    exit_accuracies,
    random_shift,
    recover_family,
    torch_threads,
    train_independent,
    train_oneshot,
)

TINY = SupernetConfig(stage_channels=(8, 16, 16), head_hidden=16)

@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: on the shared 2-core machine multi-threaded small ops stall behind other jobs."""
    with torch_threads(1):
        yield


def test_random_shift_moves_but_keeps_content() -> None:
    images = torch.zeros(16, 1, 28, 28)
    images[:, :, 12:16, 12:16] = 1.0
    shifted = random_shift(images, 2, torch.Generator().manual_seed(0))
    assert shifted.shape == images.shape
    torch.testing.assert_close(shifted.sum(dim=(1, 2, 3)), images.sum(dim=(1, 2, 3)))
    assert not torch.equal(shifted, images)
    assert torch.equal(random_shift(images, 0, torch.Generator()), images)


def test_distill_loss_is_zero_for_the_teacher_itself() -> None:
    logits = torch.randn(8, 10)
    assert float(distill_loss(logits, torch.softmax(logits, 1), 1.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(distill_loss(-logits, torch.softmax(logits, 1), 1.0)) > 0.1


def test_supernet_forward_returns_requested_exits() -> None:
    net = Supernet(TINY)
    outputs = net(torch.randn(2, 1, 28, 28), 0.5)
    assert [o.shape for o in outputs] == [(2, 10)] * 3
    assert len(net(torch.randn(2, 1, 28, 28), 1.0, exits=(2,))) == 1
    with pytest.raises(KeyError):
        net(torch.randn(1, 1, 28, 28), 0.6)


def test_independent_config_matches_variant_shape() -> None:
    config = independent_config(SupernetConfig(), branch=2, width=0.5)
    assert config.stage_channels == (12, 24) and config.head_hidden == 32 and config.widths == (1.0,)


def test_oneshot_training_learns_every_width() -> None:
    result = train_oneshot(TINY, TrainConfig(epochs=1, lr=1e-2, seed=3), progress=False)
    assert result.cpu_s > 0 and len(result.history) == 1
    val = load_split("val")
    assert exit_accuracies(result.model, val, 1.0)[-1] > 0.8
    for width in TINY.widths:
        assert min(exit_accuracies(result.model, val, width)) > 0.2  # 10 classes: chance is 0.1


def test_training_is_deterministic_per_seed() -> None:
    cfg = TrainConfig(epochs=1, seed=5)
    a = train_independent(1, 0.5, TINY, cfg, progress=False).model.state_dict()
    b = train_independent(1, 0.5, TINY, cfg, progress=False).model.state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key])


@pytest.mark.slow
def test_recovery_improves_a_factorised_net() -> None:
    trained = train_oneshot(TINY, TrainConfig(epochs=2), progress=False).model
    state, report = recover_family(trained, 1.0, "ds", TrainConfig(recovery_epochs=1, recovery_threshold=0.0),
                                   progress=False)
    assert report.recovered is not None
    assert sum(report.recovered) >= sum(report.derived) or state is None
