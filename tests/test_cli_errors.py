"""Every verb reports errors the same way: one ``error: …`` line on stderr and exit status 2 — click's
usage errors, ``ClickException`` from a verb (the bridge verbs raise those), bad input and refused system
calls — and the defaults that write files write where ``--help`` says."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from adascale_rl.agents.bundled import bundled_policy
from adascale_rl.cli import main

POLICY = str(bundled_policy("pixel4"))


def one_error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def test_usage_errors_name_the_verbs_help(capsys) -> None:
    line = one_error_line(capsys, ["evaluate", "--nope"])
    assert line == "error: No such option '--nope' (see 'adascale-rl evaluate --help')"
    assert "--device" in one_error_line(capsys, ["catalog", "build", "--device", "nokia3310"])


def test_bridge_verbs_errors_exit_2(capsys) -> None:
    """`bridge serve` / `bridge run` raise click.ClickException, which used to print `Error:` and exit 1."""
    line = one_error_line(capsys, ["bridge", "serve", "--policy", POLICY, "--host", "0.0.0.0", "--port", "0"])
    assert "without a token" in line
    line = one_error_line(capsys, ["bridge", "run", "--device", "sim", "--policy", POLICY, "--trace", "nosuch",
                                   "--duration", "5", "--out", "/tmp/never.csv"])
    assert "nosuch" in line


def test_a_port_in_use_is_one_line(capsys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert "in use" in one_error_line(capsys, ["bridge", "serve", "--policy", POLICY, "--port", port])


def test_export_errors_exit_2(capsys, tmp_path) -> None:
    assert "none of best_model.zip, model.zip" in one_error_line(capsys, ["export", "--policy", str(tmp_path),
                                                                          "--out", str(tmp_path / "p")])


def test_a_real_subprocess_prints_one_line(tmp_path) -> None:
    result = subprocess.run([sys.executable, "-m", "adascale_rl", "bridge", "serve", "--policy", POLICY,
                             "--host", "0.0.0.0", "--port", "0"], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and result.stderr.startswith("error: ")


def test_catalog_build_never_writes_into_the_package_by_default(capsys) -> None:
    line = one_error_line(capsys, ["catalog", "build", "--device", "pixel4"])
    assert "give --out PATH" in line and "--in-place" in line
    assert "not both" in one_error_line(capsys, ["catalog", "build", "--device", "pixel4", "--in-place", "--out",
                                                 "/tmp/never.csv"])
    assert not Path("/tmp/never.csv").exists()


def _help(capsys, argv: list[str]) -> str:
    assert main(argv) == 0
    return " ".join(capsys.readouterr().out.split())


def test_traces_plot_default_name_is_the_inputs_name(tmp_path, monkeypatch, capsys) -> None:
    """`--help`: "[default: PATH's name + .png in the current folder]" (not the trace's internal name)."""
    assert "[default: PATH's name + .png in the current folder]" in _help(capsys, ["traces", "plot", "--help"])
    recording = tmp_path / "host.csv"
    assert main(["traces", "record", "--duration", "1", "--interval", "0.5", "--out", str(recording),
                 "--no-progress"]) == 0
    monkeypatch.chdir(tmp_path)
    assert main(["traces", "plot", str(recording)]) == 0
    assert [p.name for p in tmp_path.glob("*.png")] == ["host.png"]


def test_evaluate_help_shows_the_librarys_change_share(capsys) -> None:
    from adascale_rl.agents.evaluate import CHANGE_SHARE
    from adascale_rl.cli import agents

    assert agents.CHANGE_SHARE == CHANGE_SHARE  # the CLI repeats it so that --help needs no heavy import
    text = _help(capsys, ["evaluate", "--help"])
    assert "--change-share" in text and f"default: {CHANGE_SHARE}" in text
