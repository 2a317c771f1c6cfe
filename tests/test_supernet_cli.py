"""``adascale-rl supernet`` verbs."""

from __future__ import annotations

import pytest

from adascale_rl.catalog.variant_table import VariantTable
from adascale_rl.cli import main
from adascale_rl.supernet.train import torch_threads


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: on the shared 2-core machine multi-threaded small ops stall behind other jobs."""
    with torch_threads(1):
        yield


@pytest.mark.parametrize("verb", [[], ["train"], ["profile"], ["variants"]])
def test_help(verb: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["supernet", *verb, "--help"]) == 0
    assert "Usage" in capsys.readouterr().out


def test_variants_lists_the_bundled_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["supernet", "variants", "--sort", "latency"]) == 0
    out = capsys.readouterr().out
    assert "exit3|none" in out and "ms@1t" in out and "ms@2t" in out


def test_profile_one_variant(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "one.csv"
    assert main(["supernet", "profile", "--only", "exit1|w0.25+int8", "--runs", "5", "--rounds", "1",
                 "--out", str(out)]) == 0
    table = VariantTable.load(out)
    assert list(table.variant_id) == ["exit1|w0.25+int8"]
    assert (tmp_path / "one.stats.csv").is_file()


def test_profile_rejects_a_bad_variant_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["supernet", "profile", "--only", "exit1|w0.3+zip", "--runs", "5"]) != 0
