"""Training: one-shot (all variants at once, shared weights), independent (the baseline), recovery.

**One-shot** (slimmable / BigNAS style). Every step runs the *sandwich rule*: the largest width, the
smallest width and ``num_random`` widths drawn from the ones in between, each through all exits, and
sums their gradients before one optimiser step. The largest width learns from the labels; every other
(width, exit) pair — including the largest width's early exits — learns from a mix of the labels and
*in-place distillation*: the largest width's final-exit prediction of the same batch (detached) as the
soft target. Training the extremes every step is what makes every width in between good (the
"sandwich"), and distilling from the full model is what keeps small widths and early exits close to it.

**Independent**: each (branch, width) network is trained alone from scratch with the same optimiser,
batch size and number of epochs as the one-shot run — the same per-variant budget — which is what
one-shot training is compared against (``benchmarks/supernet_oneshot_vs_independent.py``).

**Recovery**: low-rank and depthwise-separable nets derived from the trained weights lose accuracy; when
a family's validation accuracy drops by more than ``recovery_threshold`` at any exit, its multi-exit
float net is fine-tuned briefly (labels + distillation from the supernet's full model) and kept only if
validation accuracy improves. int8 comes from post-training quantisation of the (recovered) float net.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from adascale_rl.supernet.data import Split, batches, load_split
from adascale_rl.supernet.model import Supernet, SupernetConfig, independent_config
from adascale_rl.supernet.operators import FACTORISATIONS, MultiExitNet, extract, factorise


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters (defaults: what the bundled supernet was trained with)."""

    epochs: int = 12                # passes over the 3,500 training images
    batch_size: int = 64
    lr: float = 3e-3                # AdamW peak learning rate, cosine-annealed to 0 per step
    weight_decay: float = 1e-4
    num_random: int = 1             # sandwich: largest + smallest + this many random middle widths
    kd_weight: float = 0.5          # share of the distillation term in non-(largest, final) losses
    temperature: float = 1.0        # distillation temperature
    shift_px: int = 2               # augmentation: random translation of up to this many pixels
    seed: int = 0
    threads: int = 1                # torch threads while training (1 = least CPU-seconds per sample)
    recovery_epochs: int = 3
    recovery_lr: float = 2e-3
    recovery_threshold: float = 0.005  # validation accuracy drop (fraction) that triggers recovery


@dataclass
class TrainResult:
    """A trained model plus what training cost."""

    model: nn.Module
    cpu_s: float                    # time.process_time() spent (all threads of this process)
    wall_s: float
    history: list[dict] = field(default_factory=list)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``torch.set_num_threads(n)``, restoring the previous count afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch and Python's RNG (used for sandwich widths); return a generator for data order."""
    torch.manual_seed(seed)
    random.seed(seed)
    return torch.Generator().manual_seed(seed)


def random_shift(images: torch.Tensor, max_px: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by up to ``max_px`` pixels (background-padded), a cheap augmentation that
    keeps 3,500 training digits from being memorised."""
    if max_px <= 0:
        return images
    n, c, h, w = images.shape
    padded = F.pad(images, (max_px,) * 4, value=float(images.min()))
    dy = torch.randint(0, 2 * max_px + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * max_px + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None].expand(n, c, h, padded.shape[3])
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :].expand(n, c, h, w)
    return padded.gather(2, rows).gather(3, cols)


def distill_loss(student: torch.Tensor, teacher_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher ‖ student) at ``temperature``, scaled by T² so its gradient size does not depend on T."""
    log_p = F.log_softmax(student / temperature, dim=1)
    return F.kl_div(log_p, teacher_probs, reduction="batchmean") * temperature**2


def _mixed(logits: torch.Tensor, labels: torch.Tensor, teacher: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    return ((1 - cfg.kd_weight) * F.cross_entropy(logits, labels)
            + cfg.kd_weight * distill_loss(logits, teacher, cfg.temperature))


def _optimiser(model: nn.Module, cfg: TrainConfig, lr: float, total_steps: int
               ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    # No weight decay on BN parameters and biases (1-D tensors): decaying them only hurts small nets.
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    optimiser = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    return optimiser, torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=max(1, total_steps))


def train_oneshot(config: SupernetConfig | None = None, cfg: TrainConfig | None = None,
                  progress: bool = True) -> TrainResult:
    """Train every (branch, width) of a fresh supernet at once (see the module docstring)."""
    config, cfg = config or SupernetConfig(), cfg or TrainConfig()
    train = load_split("train")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with torch_threads(cfg.threads):
        generator = seed_everything(cfg.seed)
        model = Supernet(config).train()
        widths = config.widths
        steps_per_epoch = -(-len(train) // cfg.batch_size)
        optimiser, schedule = _optimiser(model, cfg, cfg.lr, cfg.epochs * steps_per_epoch)
        history = []
        bar = tqdm(total=cfg.epochs * steps_per_epoch, desc="one-shot", unit="step", disable=not progress)
        for epoch in range(cfg.epochs):
            total = 0.0
            for images, labels in batches(train, cfg.batch_size, generator):
                images = random_shift(images, cfg.shift_px, generator)
                optimiser.zero_grad(set_to_none=True)
                # Largest width: labels at the final exit, labels + distillation at the early exits.
                outputs = model(images, widths[-1])
                teacher = F.softmax(outputs[-1].detach() / cfg.temperature, dim=1)
                loss = F.cross_entropy(outputs[-1], labels)
                for logits in outputs[:-1]:
                    loss = loss + _mixed(logits, labels, teacher, cfg)
                loss = loss / len(outputs)
                loss.backward()
                step_loss = float(loss.detach())
                middle = list(widths[1:-1])
                sampled = random.sample(middle, min(cfg.num_random, len(middle))) if middle else []
                for width in [widths[0], *sampled] if len(widths) > 1 else []:
                    outputs = model(images, width)
                    loss = sum(_mixed(logits, labels, teacher, cfg) for logits in outputs) / len(outputs)
                    loss.backward()
                    step_loss += float(loss.detach())
                optimiser.step()
                schedule.step()
                total += step_loss
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{step_loss:.3f}")
            history.append({"epoch": epoch + 1, "loss": total / steps_per_epoch})
        bar.close()
    return TrainResult(model.eval(), time.process_time() - cpu0, time.perf_counter() - wall0, history)


def train_independent(branch: int, width: float, config: SupernetConfig | None = None,
                      cfg: TrainConfig | None = None, progress: bool = True) -> TrainResult:
    """Train the single network of variant (``branch``, ``width``) from scratch on its exit's labels."""
    config, cfg = config or SupernetConfig(), cfg or TrainConfig()
    train = load_split("train")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with torch_threads(cfg.threads):
        generator = seed_everything(cfg.seed)
        model = Supernet(independent_config(config, branch, width)).train()
        steps_per_epoch = -(-len(train) // cfg.batch_size)
        optimiser, schedule = _optimiser(model, cfg, cfg.lr, cfg.epochs * steps_per_epoch)
        bar = tqdm(total=cfg.epochs * steps_per_epoch, desc=f"exit{branch} w{width:g}", unit="step",
                   disable=not progress, leave=False)
        history = []
        for epoch in range(cfg.epochs):
            total = 0.0
            for images, labels in batches(train, cfg.batch_size, generator):
                images = random_shift(images, cfg.shift_px, generator)
                optimiser.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(images, 1.0, exits=(branch,))[0], labels)
                loss.backward()
                optimiser.step()
                schedule.step()
                total += float(loss.detach())
                bar.update(1)
            history.append({"epoch": epoch + 1, "loss": total / steps_per_epoch})
        bar.close()
    return TrainResult(model.eval(), time.process_time() - cpu0, time.perf_counter() - wall0, history)


@torch.no_grad()
def accuracy(model: nn.Module, split: Split, batch_size: int = 500) -> float:
    """Top-1 accuracy of a model returning logits ``(n, classes)`` (fraction in [0, 1])."""
    model.eval()
    correct = 0
    for images, labels in batches(split, batch_size):
        correct += int((model(images).argmax(1) == labels).sum())
    return correct / len(split)


@torch.no_grad()
def exit_accuracies(net: MultiExitNet | Supernet, split: Split, width: float = 1.0,
                    batch_size: int = 500) -> list[float]:
    """Accuracy of every exit of a multi-exit net (``width`` applies to a :class:`Supernet`)."""
    net.eval()
    correct: list[int] = []
    for images, labels in batches(split, batch_size):
        outputs = net(images, width) if isinstance(net, Supernet) else net(images)
        hits = [int((o.argmax(1) == labels).sum()) for o in outputs]
        correct = hits if not correct else [a + b for a, b in zip(correct, hits, strict=True)]
    return [c / len(split) for c in correct]


@dataclass
class RecoveryReport:
    """What recovery did to one (width, factorisation) family (validation accuracies per exit)."""

    key: str
    reference: list[float]        # un-factorised net at this width
    derived: list[float]          # right after factorisation
    recovered: list[float] | None  # after fine-tuning (None: not needed)
    kept: bool                    # whether the fine-tuned weights are used
    cpu_s: float


def recover_family(supernet: Supernet, width: float, factor: str, cfg: TrainConfig | None = None,
                   progress: bool = True) -> tuple[dict[str, torch.Tensor] | None, RecoveryReport]:
    """Factorise width ``width`` and fine-tune it if validation accuracy dropped (see module docstring).

    Returns the recovered state dict (``None`` when not needed or not better) and a report.
    """
    cfg = cfg or TrainConfig()
    key = _family_key(width, factor)
    train, val = load_split("train"), load_split("val")
    cpu0 = time.process_time()
    with torch_threads(cfg.threads):
        generator = seed_everything(cfg.seed + 1)
        reference = exit_accuracies(extract(supernet, width), val)
        net = factorise(extract(supernet, width), factor)
        derived = exit_accuracies(net, val)
        if max(r - d for r, d in zip(reference, derived, strict=True)) <= cfg.recovery_threshold:
            return None, RecoveryReport(key, reference, derived, None, False, time.process_time() - cpu0)
        with torch.no_grad():  # teacher: the supernet's full model, final exit, on un-shifted images
            teacher_logits = supernet(train.images, 1.0)[-1]
        net.train()
        steps_per_epoch = -(-len(train) // cfg.batch_size)
        optimiser, schedule = _optimiser(net, cfg, cfg.recovery_lr, cfg.recovery_epochs * steps_per_epoch)
        bar = tqdm(total=cfg.recovery_epochs * steps_per_epoch, desc=f"recover {key}", unit="step",
                   disable=not progress, leave=False)
        for _ in range(cfg.recovery_epochs):
            for idx in torch.randperm(len(train), generator=generator).split(cfg.batch_size):
                images, labels = train.images[idx], train.labels[idx]
                teacher = F.softmax(teacher_logits[idx] / cfg.temperature, dim=1)
                optimiser.zero_grad(set_to_none=True)
                outputs = net(images)
                loss = sum(_mixed(logits, labels, teacher, cfg) for logits in outputs) / len(outputs)
                loss.backward()
                optimiser.step()
                schedule.step()
                bar.update(1)
        bar.close()
        net.eval()
        recovered = exit_accuracies(net, val)
    kept = sum(recovered) > sum(derived)
    report = RecoveryReport(key, reference, derived, recovered, kept, time.process_time() - cpu0)
    return ({k: v.detach().clone() for k, v in net.state_dict().items()} if kept else None), report


def recover_all(supernet: Supernet, cfg: TrainConfig | None = None, factors: Sequence[str] | None = None,
                progress: bool = True) -> tuple[dict[str, dict[str, torch.Tensor]], list[RecoveryReport]]:
    """Run :func:`recover_family` for every width × non-trivial factorisation of the supernet."""
    factors = factors or [f for f in FACTORISATIONS if f != "none"]
    recovered, reports = {}, []
    for width in supernet.config.widths:
        for factor in factors:
            state, report = recover_family(supernet, width, factor, cfg, progress)
            reports.append(report)
            if state is not None:
                recovered[report.key] = state
    return recovered, reports


def _family_key(width: float, factor: str) -> str:
    from adascale_rl.supernet.operators import VariantSpec

    return VariantSpec(1, width, factor).float_key
