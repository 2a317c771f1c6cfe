"""MNIST-5k split: sizes, stratification, disjointness, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from adascale_rl.supernet.data import SPLIT_PER_CLASS, _raw, load_split, split_indices


def test_split_sizes_and_stratification() -> None:
    for name, per_class in SPLIT_PER_CLASS.items():
        split = load_split(name)
        assert len(split) == 10 * per_class
        assert tuple(split.images.shape[1:]) == (1, 28, 28)
        assert np.bincount(split.labels.numpy(), minlength=10).tolist() == [per_class] * 10


def test_split_is_disjoint_and_covers_the_data() -> None:
    _, labels = _raw()
    parts = split_indices(labels)
    union = np.concatenate(list(parts.values()))
    assert len(union) == len(np.unique(union)) == len(labels)


def test_split_is_deterministic() -> None:
    _, labels = _raw()
    first, second = split_indices(labels), split_indices(labels)
    for name in SPLIT_PER_CLASS:
        np.testing.assert_array_equal(first[name], second[name])
    assert not np.array_equal(split_indices(labels, seed=1)["test"], first["test"])


def test_images_are_standardised() -> None:
    images = load_split("train").images
    assert abs(float(images.mean())) < 0.1
    assert 0.8 < float(images.std()) < 1.2


def test_unknown_split() -> None:
    with pytest.raises(KeyError):
        load_split("holdout")
