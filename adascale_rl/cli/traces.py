"""``adascale-rl traces``: inspect, import, plot and record device resource traces.

Thin: each verb parses options and calls a library function in :mod:`adascale_rl.traces`. Bad input
ends as one ``error: …`` line and exit status 2 (``DataError`` is turned into that by
:func:`adascale_rl.cli.main`; option combinations that click cannot check raise :class:`InputError`).
"""

from __future__ import annotations

import math
import socket
from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from adascale_rl.traces.validation import DEFAULT_MAX_GAP_S


class InputError(click.ClickException):
    """Bad command-line input: printed as one ``error: …`` line, exit status 2 (like a usage error)."""

    exit_code = 2


@click.group()
def traces() -> None:
    """Inspect, import, plot and record device resource traces.

    A trace is a CSV in the canonical schema (t_s, cpu_freq_frac, cpu_bg_util, mem_avail_frac, temp_c,
    battery_frac, state). Bundled real traces are addressed by name (see `traces list`).
    """


def resolve_traces(path: str | None, split: str | None, max_gap_s: float | None = DEFAULT_MAX_GAP_S) -> list:
    """A trace file, a bundled trace name, or every bundled trace of a split."""
    from adascale_rl.traces import find_entry, load_manifest, load_split, load_trace

    if (path is None) == (split is None):
        raise InputError("give exactly one of PATH or --split")
    if split is not None:
        return load_split(split)
    if Path(path).exists():
        return [load_trace(path, max_gap_s=max_gap_s)]
    names = [entry.name for entry in load_manifest()]
    if path not in names:
        raise InputError(f"{path}: no such file and no bundled trace of that name (bundled: {', '.join(names)})")
    return [find_entry(path).load()]


@traces.command("info")
@click.argument("path", required=False)
@click.option("--split", type=click.Choice(["train", "test"]), help="Every bundled trace of this split.")
@click.option("--max-gap-s", type=float, default=DEFAULT_MAX_GAP_S, show_default=True,
              help="Longest allowed gap between samples when validating a file.")
def info(path: str | None, split: str | None, max_gap_s: float) -> None:
    """Summarise a trace: duration, sampling period, per-column min/mean/max and the state mix.

    PATH is a canonical trace CSV or the name of a bundled trace (see `traces list`).
    """
    from adascale_rl.traces.summary import column_stats, state_mix

    console = _console()
    for trace in resolve_traces(path, split, max_gap_s):
        meta = trace.meta
        title = (f"{meta.name} — {meta.device} — {len(trace)} samples, {trace.duration_s / 3600:.2f} h, "
                 f"period {trace.period_s:g} s")
        table = Table(title=title)
        for name in ("column", "unit", "min", "mean", "max", "nan"):
            table.add_column(name, justify="left" if name in ("column", "unit") else "right")
        for row in column_stats(trace).itertuples(index=False):
            table.add_row(row.column, row.unit, f"{row.min:.3f}", f"{row.mean:.3f}", f"{row.max:.3f}", str(row.nan))
        console.print(table)
        mix = ", ".join(f"{state} {count}" for state, count in state_mix(trace).items())
        console.print(f"states: {mix}")
        if meta.license:
            console.print(f"license: {meta.license}; source: {meta.source}")
        for note in meta.notes:
            console.print(f"note: {note}")


@traces.command("list")
def list_traces() -> None:
    """List the bundled traces with their board, device and split (whole boards are held out for testing)."""
    from adascale_rl.traces import load_manifest

    table = Table(title="bundled traces")
    table.add_column("name", no_wrap=True)
    for name in ("board", "split", "device", "cores", "max MHz", "period s", "license"):
        table.add_column(name)
    for entry in load_manifest():
        table.add_row(entry.name, entry.board, entry.split, entry.device, str(entry.cores), f"{entry.max_mhz:g}",
                      f"{entry.period_s:g}", entry.license)
    _console().print(table)


@traces.command("import")
@click.argument("input_path", metavar="IN.csv", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["psutil-csv"]), required=True, help="Input format.")
@click.option("--max-mhz", type=float, required=True, help="The device's maximum CPU frequency (MHz).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), required=True, help="Canonical CSV to write.")
@click.option("--device", default="unknown", show_default=True, help="Device name stored in the output.")
@click.option("--license", "license_", default="", help="License of the recorded data, stored in the output.")
@click.option("--max-gap-s", type=float, default=DEFAULT_MAX_GAP_S, show_default=True,
              help="Longest allowed gap between samples.")
def import_cmd(input_path: str, fmt: str, max_mhz: float, out_path: str, device: str, license_: str,
               max_gap_s: float) -> None:
    """Convert a trace from another format into the canonical schema.

    psutil-csv columns: time (unix s), cpu_freq_mhz, cpu_pct, mem_pct, temp_c, state. A frequency
    above --max-mhz is an error (not clipped): it means --max-mhz is wrong for this device.
    """
    from adascale_rl.traces import TraceMeta, import_trace, save_trace

    meta = TraceMeta(name=Path(input_path).stem, device=device, source=str(input_path), license=license_)
    trace = import_trace(input_path, fmt, max_mhz=max_mhz, meta=meta, max_gap_s=max_gap_s)
    _write(lambda: save_trace(trace, out_path), out_path)
    click.echo(f"wrote {out_path}: {len(trace)} samples, {trace.duration_s:g} s")


@traces.command("plot")
@click.argument("path")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None,
              help="PNG to write [default: PATH's name + .png in the current folder].")
@click.option("--max-gap-s", type=float, default=DEFAULT_MAX_GAP_S, show_default=True,
              help="Longest allowed gap between samples when validating a file.")
def plot_cmd(path: str, out_path: str | None, max_gap_s: float) -> None:
    """Draw a trace as a PNG: frequency, background load, free memory and temperature over time,
    with the background shaded by state.

    PATH is a canonical trace CSV or the name of a bundled trace (see `traces list`).
    """
    from adascale_rl.traces.plot import plot_trace

    (trace,) = resolve_traces(path, None, max_gap_s)
    out = out_path or f"{Path(path).stem}.png"  # a bundled name has no suffix: its stem is the name
    if Path(out).suffix.lower() != ".png":
        raise InputError(f"--out {out}: the plot is written as PNG, give a file name ending in .png")
    written = _write(lambda: plot_trace(trace, out), out)
    click.echo(f"wrote {written}")


@traces.command("record")
@click.option("--duration", "duration_s", type=float, required=True, help="How long to record (seconds).")
@click.option("--interval", "interval_s", type=float, default=1.0, show_default=True,
              help="Seconds between samples.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), required=True, help="Canonical CSV to write.")
@click.option("--adb", "serial", default=None, metavar="SERIAL",
              help="Record an Android phone over adb (serial from `adb devices`; '-' = the only one attached) "
                   "instead of this machine.")
@click.option("--name", default=None, help="Trace name stored in the file [default: host or phone + start time].")
@click.option("--state", default="", help="Label stored with every sample (e.g. idle, game).")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar [default: when recording for 10 s or more].")
@click.option("--inject", "inject", default=None, metavar="TRACE",
              help="Record this machine while real worker processes replay TRACE's background load and memory "
                   "pressure (bundled name or CSV path); each sample is labelled with TRACE's state.")
@click.option("--inject-start", "inject_start_s", type=float, default=0.0, show_default=True,
              help="Seconds into the --inject trace to start replaying.")
@click.option("--mem-cap-frac", type=click.FloatRange(0.0, 0.9), default=0.25, show_default=True,
              help="--inject: memory ballast cap as a share of this machine's RAM.")
def record_cmd(duration_s: float, interval_s: float, out_path: str, serial: str | None, name: str | None,
               state: str, progress: bool | None, inject: str | None, inject_start_s: float,
               mem_cap_frac: float) -> None:
    """Record this Linux machine (psutil + sysfs) or an Android phone (--adb) into a canonical trace.

    Sources that do not exist (no cpufreq in a VM, no battery on a desktop) are recorded as NaN and
    named in the file's notes. Ctrl-C stops early and keeps what was recorded. With --inject, this
    machine is recorded under a replayed board's contention (a real recording of this host under load).
    """
    if not (math.isfinite(interval_s) and interval_s > 0):
        raise InputError(f"--interval {interval_s:g}: must be a positive number of seconds")
    if not (math.isfinite(duration_s) and duration_s >= interval_s):
        raise InputError(f"--duration {duration_s:g}: must be at least one --interval ({interval_s:g} s)")
    if "," in state or "\n" in state:
        raise InputError(f"--state {state!r}: a label cannot contain commas or line breaks")
    if inject is not None and (serial is not None or state):
        raise InputError("--inject records this machine and labels samples with the replayed trace's states: "
                         "it cannot be combined with --adb or --state")
    show = duration_s >= 10 if progress is None else progress
    if inject is not None:
        from adascale_rl.hardware_bridge.record_contention import record_under_contention

        (replayed,) = resolve_traces(inject, None)
        click.echo(f"recording {socket.gethostname()} for {duration_s:g} s every {interval_s:g} s while replaying "
                   f"{replayed.meta.name} from {inject_start_s:g} s", err=True)
        try:
            trace = record_under_contention(replayed, duration_s, interval_s, start_s=inject_start_s, name=name,
                                            mem_cap_frac=mem_cap_frac, progress=show)
        except ValueError as exc:
            raise InputError(f"--inject {inject}: {exc}") from None
    elif serial is None:
        from adascale_rl.traces.record_local import record_local

        click.echo(f"recording {socket.gethostname()} for {duration_s:g} s every {interval_s:g} s", err=True)
        trace = record_local(duration_s, interval_s, name=name, state=state, progress=show)
    else:
        from adascale_rl.traces.record_adb import record_adb

        click.echo(f"recording adb device {serial} for {duration_s:g} s every {interval_s:g} s", err=True)
        trace = record_adb(None if serial == "-" else serial, duration_s, interval_s, name=name, state=state,
                           progress=show)
    from adascale_rl.traces import save_trace

    _write(lambda: save_trace(trace, out_path), out_path)
    unavailable = [note.split(" unavailable")[0] for note in trace.meta.notes if " unavailable" in note]
    missing = f"; unavailable (NaN): {', '.join(unavailable)}" if unavailable else ""
    click.echo(f"wrote {out_path}: {len(trace)} samples, {trace.duration_s:g} s{missing}")


def _console() -> Console:
    """The terminal's width when there is one; 160 columns when piped (rich's default 80 wraps tables)."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def _write(action: Callable[[], Path], path: str) -> Path:
    """Run a file-writing ``action``; an OS error (no permission, a folder in the way) becomes one line."""
    try:
        return action()
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None
