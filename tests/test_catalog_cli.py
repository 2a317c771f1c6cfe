"""``adascale-rl catalog`` verbs, run through ``adascale_rl.cli.main``."""

from __future__ import annotations

from pathlib import Path

import pytest

from adascale_rl._resources import data_path
from adascale_rl.cli import main


@pytest.mark.parametrize("verb", [[], ["build"], ["show"], ["devices"], ["calibrate"]])
def test_every_verb_has_help(verb: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", *verb, "--help"]) == 0
    assert "Usage" in capsys.readouterr().out


def test_build_one_device_to_a_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "p4.csv"
    assert main(["catalog", "build", "--device", "pixel4", "--out", str(out)]) == 0
    assert out.read_bytes() == data_path("catalogs", "pixel4.csv").read_bytes()
    assert "pixel4" in capsys.readouterr().out


def test_build_all_into_a_folder(tmp_path: Path) -> None:
    assert main(["catalog", "build", "--device", "all", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == ["a03s.csv", "mi8se.csv", "pixel4.csv", "s10.csv"]


def test_build_unknown_device_fails_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "build", "--device", "nokia3310"]) == 2
    assert "nokia3310" in capsys.readouterr().err


def test_show_prints_table_and_writes_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "plot.png"
    assert main(["catalog", "show", "pixel4", "--out", str(png)]) == 0
    out = capsys.readouterr().out
    assert "mobilenet_w1|float" in out and "39.72" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_show_energy_and_csv_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "show", str(data_path("catalogs", "s10.csv")), "--energy"]) == 0
    assert "energy" in capsys.readouterr().out


def test_show_unknown_catalog_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "show", "nokia3310"]) == 2
    assert "no bundled variant catalog" in capsys.readouterr().err


def test_devices_lists_profiles(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "devices"]) == 0
    out = capsys.readouterr().out
    for name in ("pixel4", "s10", "mi8se", "a03s", "rpi4", "local"):
        assert name in out
