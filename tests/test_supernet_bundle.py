"""The shipped supernet bundle and `local` catalog: load safely, reproduce recorded accuracy, no NaN."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adascale_rl.catalog import bundled_table
from adascale_rl.supernet.bundle import RECOVERED, WEIGHTS, bundled_dir, load_bundle
from adascale_rl.supernet.data import load_split
from adascale_rl.supernet.operators import all_specs, build_variant
from adascale_rl.supernet.train import accuracy, torch_threads

# Representative variants for the fast run: every branch, width extreme, operator family and int8.
REPRESENTATIVE = ("exit3|none", "exit1|w0.25", "exit2|w0.5+lr0.5+int8", "exit3|ds+int8", "exit1|w0.75+ds",
                  "exit3|w0.25+int8")

@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: on the shared 2-core machine multi-threaded small ops stall behind other jobs."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def bundle():
    return load_bundle()


def test_bundle_files_are_small_and_load_with_weights_only() -> None:
    directory = bundled_dir()
    for name in (WEIGHTS, RECOVERED):
        path = directory / name
        assert path.stat().st_size < 2_000_000, name
        state = torch.load(path, map_location="cpu", weights_only=True)
        assert isinstance(state, dict) and state


def test_bundle_records_every_variant(bundle) -> None:
    ids = {spec.variant_id for spec in all_specs(bundle.supernet)}
    assert set(bundle.accuracies) == ids
    assert len(ids) >= 48


def _check(bundle, variant_ids) -> None:
    test = load_split("test")
    with torch_threads(1):
        for vid in variant_ids:
            model = build_variant(bundle.supernet, vid, recovered=bundle.recovered)
            measured = accuracy(model, test)
            assert abs(measured - bundle.accuracies[vid]) <= 0.005, (vid, measured, bundle.accuracies[vid])


def test_representative_variants_reach_recorded_accuracy(bundle) -> None:
    _check(bundle, REPRESENTATIVE)


@pytest.mark.slow
def test_all_variants_reach_recorded_accuracy(bundle) -> None:
    _check(bundle, sorted(bundle.accuracies))


def test_full_model_is_accurate(bundle) -> None:
    assert bundle.accuracies["exit3|none"] >= 0.97


def test_local_catalog_matches_the_bundle(bundle) -> None:
    table = bundled_table("local")
    assert table.device == "local"
    assert len(table) >= 48
    assert set(table.configs) == {"1t", "2t"}
    for values in (table.accuracy, table.params, table.flops, table.model_bytes, table.mem_mb):
        assert np.all(np.isfinite(values))
    assert np.all(np.isfinite(table.latency_ms)) and np.all(table.latency_ms > 0)
    assert np.all(np.isfinite(table.energy_mj)) and np.all(np.isfinite(table.latency_sd_ms))
    assert set(table.variant_id.tolist()) == set(bundle.accuracies)
    for vid, acc in zip(table.variant_id, table.accuracy, strict=True):
        assert abs(acc - bundle.accuracies[vid]) <= 0.005, vid
    assert all("modelled" in p for p in table.provenance)
    full = table.index("exit3|none")
    assert table.compression[full] == "none" and table.branch[full] == "exit3"
    assert table.flops.max() == table.flops[full]
