"""The ``adascale-rl traces`` verbs through ``adascale_rl.cli.main`` (and once as a real subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from adascale_rl.cli import main
from adascale_rl.traces import find_entry, load_trace

TEST_TRACE = "rpi4b4gb_1200mhz_pattern_12h"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["traces", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def error_of(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code, _, err = run(capsys, *argv)
    return code, err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


def test_info_bundled_trace(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "info", TEST_TRACE)
    assert code == 0
    assert "8639 samples" in out and "12.01 h" in out and "period 5 s" in out
    assert "states: stream 2160, mining 2041, idle 1799, augmented_reality 1439, game 1200" in out
    assert "CC BY-NC-SA 3.0" in out


def test_info_split(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "info", "--split", "train")
    assert code == 0 and "rpi4b8gb_1800mhz_pattern_6h" in out and "rpi4b2gb_800mhz_pattern_12h" in out
    assert TEST_TRACE not in out


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list")
    assert code == 0
    for name in ("rpi4b8gb_1800mhz_pattern_6h", "rpi4b2gb_800mhz_pattern_12h", TEST_TRACE):
        assert name in out


def test_import_then_info_of_the_result(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_csv = tmp_path / "rpi8.csv"
    source = find_entry("rpi4b8gb_1800mhz_pattern_6h").path
    code, out, _ = run(capsys, "import", str(source), "--format", "psutil-csv", "--max-mhz", "1800",
                       "--out", str(out_csv), "--device", "RPi 4 8GB", "--license", "CC BY-NC-SA 3.0")
    assert code == 0 and "4321 samples" in out
    assert load_trace(out_csv).meta.device == "RPi 4 8GB"
    code, out, _ = run(capsys, "info", str(out_csv))
    assert code == 0 and "4321 samples" in out


def test_plot_writes_a_png(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    png = tmp_path / "plots" / "test.png"
    code, out, _ = run(capsys, "plot", TEST_TRACE, "--out", str(png))
    assert code == 0 and str(png) in out
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 20_000


def test_record_then_plot_the_recording(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_csv = tmp_path / "host.csv"
    code, out, err = run(capsys, "record", "--duration", "1", "--interval", "0.5", "--out", str(out_csv),
                         "--state", "idle")
    assert code == 0, err
    assert "2 samples" in out
    trace = load_trace(out_csv)
    assert len(trace) == 2 and set(trace.state) == {"idle"}
    code, _, _ = run(capsys, "plot", str(out_csv), "--out", str(tmp_path / "host.png"))
    assert code == 0 and (tmp_path / "host.png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("verb", ["info", "list", "import", "plot", "record"])
def test_every_verb_has_help(capsys: pytest.CaptureFixture[str], verb: str) -> None:
    code, out, _ = run(capsys, verb, "--help")
    assert code == 0 and "Usage:" in out and len(out.splitlines()) > 4


def write_bad_trace(tmp_path: Path) -> Path:
    path = tmp_path / "bad.csv"
    path.write_text("t_s,cpu_freq_frac,cpu_bg_util,mem_avail_frac,temp_c,battery_frac,state\n"
                    "0,1,0.2,0.8,45,,idle\n5,1,lots,0.8,45,,idle\n")
    return path


def test_bad_inputs_give_exit_2_and_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = write_bad_trace(tmp_path)
    assert_one_line_error(*error_of(capsys, "info", str(bad)), "bad.csv", "line 3", "column 'cpu_bg_util'", "'lots'")
    assert_one_line_error(*error_of(capsys, "plot", str(bad)), "bad.csv", "line 3")
    assert_one_line_error(*error_of(capsys, "info", "no_such_trace"), "no_such_trace", "no such file",
                          "rpi4b8gb_1800mhz_pattern_6h")
    assert_one_line_error(*error_of(capsys, "info"), "exactly one of PATH or --split")
    source = str(find_entry("rpi4b8gb_1800mhz_pattern_6h").path)
    assert_one_line_error(*error_of(capsys, "import", source, "--format", "psutil-csv", "--max-mhz", "1500",
                               "--out", str(tmp_path / "x.csv")),
                          "line 2", "column 'cpu_freq_mhz'", "(got 1800.0)", "max_mhz=1500")
    assert_one_line_error(*error_of(capsys, "import", str(tmp_path / "missing.csv"), "--format", "psutil-csv",
                               "--max-mhz", "1500", "--out", str(tmp_path / "x.csv")),
                          "missing.csv", "file not found")
    assert_one_line_error(*error_of(capsys, "record", "--duration", "1", "--interval", "0", "--out",
                               str(tmp_path / "r.csv")), "--interval 0")
    assert_one_line_error(*error_of(capsys, "record", "--duration", "0.1", "--interval", "1", "--out",
                               str(tmp_path / "r.csv")), "--duration 0.1")
    assert_one_line_error(*error_of(capsys, "plot", TEST_TRACE, "--out", str(tmp_path / "x.jpg")), ".png")
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert_one_line_error(*error_of(capsys, "plot", TEST_TRACE, "--out", str(blocked / "x.png")),
                          "cannot write")
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "r.csv").exists()


def test_real_subprocess_bad_input_has_no_traceback(tmp_path: Path) -> None:
    bad = write_bad_trace(tmp_path)
    result = subprocess.run([sys.executable, "-m", "adascale_rl", "traces", "info", str(bad)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert "line 3, column 'cpu_bg_util'" in result.stderr
