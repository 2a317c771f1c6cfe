"""The bundled real traces: every one loads and validates through the manifest; the split is as specified."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from adascale_rl.errors import DataError
from adascale_rl.traces import find_entry, load_manifest, load_split, split_entries
from adascale_rl.traces.manifest import boards
from adascale_rl.traces.summary import state_mix
from adascale_rl.traces.validation import validate_trace

# rows and span from PROVENANCE.md beside the data
EXPECTED = {
    "rpi4b8gb_1800mhz_pattern_6h": (4321, 6.0),
    "rpi4b2gb_800mhz_pattern_12h": (8640, 12.0),
    "rpi4b4gb_1200mhz_pattern_12h": (8639, 12.0),
    "rpi4b2gb1_1500mhz_screen_eth_50min": (601, 0.834),
    "rpi4b4gb_1200mhz_12h": (8640, 12.0),
}
WORKLOADS = {"idle", "game", "stream", "augmented_reality", "mining"}
# the 50-minute excerpt holds three of the workloads, and its last sample is labelled 'transition' as recorded
STATES = {"rpi4b2gb1_1500mhz_screen_eth_50min": {"augmented_reality", "idle", "mining", "transition"},
          "rpi4b4gb_1200mhz_12h": WORKLOADS | {"transition", "saving data"}}
RPI_TRACES = list(EXPECTED)


def test_manifest_lists_the_bundled_rpi_traces() -> None:
    entries = [e for e in load_manifest() if e.name in EXPECTED]
    assert [e.name for e in entries] == list(EXPECTED)
    for entry in entries:
        assert entry.path.is_file() and entry.license == "CC BY-NC-SA 3.0" and entry.cores == 4


@pytest.mark.parametrize("name", RPI_TRACES)
def test_every_bundled_trace_loads_and_validates(name: str) -> None:
    entry = find_entry(name)
    trace = entry.load()
    rows, hours = EXPECTED[name]
    assert len(trace) == rows
    assert trace.duration_s / 3600 == pytest.approx(hours, abs=0.05)
    assert trace.period_s == pytest.approx(entry.period_s, rel=0.05)
    validate_trace(trace, name, max_gap_s=60)
    assert trace.meta.name == name and trace.meta.max_mhz == entry.max_mhz and trace.meta.license
    assert set(state_mix(trace)) == STATES.get(name, WORKLOADS)
    assert np.isnan(trace.battery_frac).all()  # Raspberry Pis have no battery
    assert not np.isnan(trace.temp_c).any()


def test_split_leaves_whole_boards_out() -> None:
    train = {e.name for e in split_entries("train")}
    test = {e.name for e in split_entries("test")}
    assert {"rpi4b8gb_1800mhz_pattern_6h", "rpi4b2gb_800mhz_pattern_12h", "rpi4b2gb1_1500mhz_screen_eth_50min"} <= train
    assert {"rpi4b4gb_1200mhz_pattern_12h", "rpi4b4gb_1200mhz_12h"} <= test
    assert load_split("test")[0].meta.name == "rpi4b4gb_1200mhz_pattern_12h"  # first: golden eval cases index it
    train_boards = {find_entry(n).board for n in train}
    test_boards = {find_entry(n).board for n in test}
    assert not train_boards & test_boards  # no board has recordings on both sides
    assert {find_entry(n).device for n in train}.isdisjoint({find_entry(n).device for n in test})


def test_boards_group_the_recordings_of_one_device() -> None:
    grouped = boards()
    assert {"rpi4b-8gb", "rpi4b-2gb-2", "rpi4b-4gb", "rpi4b-2gb-1"} <= set(grouped)
    assert [e.name for e in grouped["rpi4b-4gb"]] == ["rpi4b4gb_1200mhz_pattern_12h", "rpi4b4gb_1200mhz_12h"]
    for board, entries in grouped.items():
        assert len({e.device for e in entries}) == 1 and {e.board for e in entries} == {board}
        assert len({e.split for e in entries}) == 1


def test_unknown_split_and_name() -> None:
    with pytest.raises(ValueError, match="unknown split 'validation'"):
        split_entries("validation")
    with pytest.raises(KeyError, match="no bundled trace named 'nope'; known: rpi4b8gb_1800mhz_pattern_6h"):
        find_entry("nope")


def test_bad_manifest_names_the_entry(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("x")
    manifest = tmp_path / "manifest.toml"
    manifest.write_text('[[trace]]\nname = "a"\nfile = "t.csv"\nformat = "canonical"\ndevice = "d"\ncores = 4\n'
                        'max_mhz = 1000\nram_mb = 1024\nperiod_s = 1.0\nsplit = "holdout"\nsource = ""\nlicense = ""\n')
    with pytest.raises(DataError, match=r"manifest.toml \[\[trace\]\] #1: unknown split \(got 'holdout'\)"):
        load_manifest(manifest)
    manifest.write_text(manifest.read_text().replace('"holdout"', '"train"').replace("cores = 4", 'cores = "4"'))
    with pytest.raises(DataError, match="key 'cores' has the wrong type"):
        load_manifest(manifest)
    manifest.write_text(manifest.read_text().replace('cores = "4"', "cores = 4"))
    assert load_manifest(manifest)[0].board == "a"  # no board given: a board of its own
    manifest.write_text(manifest.read_text() + "board = 7\n")
    with pytest.raises(DataError, match="'board' must be a non-empty string"):
        load_manifest(manifest)
