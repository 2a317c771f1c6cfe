"""``adascale-rl traces``: inspect, import, plot and record device resource traces."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from adascale_rl.traces.validation import DEFAULT_MAX_GAP_S


@click.group()
def traces() -> None:
    """Inspect, import, plot and record device resource traces."""


def resolve_traces(path: str | None, split: str | None, max_gap_s: float | None = DEFAULT_MAX_GAP_S) -> list:
    """A trace file, a bundled trace name, or every bundled trace of a split."""
    from adascale_rl.traces import find_entry, load_split, load_trace

    if (path is None) == (split is None):
        raise click.UsageError("give exactly one of PATH or --split")
    if split is not None:
        return load_split(split)
    if Path(path).exists():
        return [load_trace(path, max_gap_s=max_gap_s)]
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

    console = Console()
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
    """List the bundled traces with their device and split."""
    from adascale_rl.traces import load_manifest

    table = Table(title="bundled traces")
    for name in ("name", "split", "device", "cores", "max MHz", "format", "license"):
        table.add_column(name)
    for entry in load_manifest():
        table.add_row(entry.name, entry.split, entry.device, str(entry.cores), f"{entry.max_mhz:g}", entry.format,
                      entry.license)
    Console().print(table)


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
    """Convert a trace from another format into the canonical schema."""
    from adascale_rl.traces import TraceMeta, import_trace, save_trace

    meta = TraceMeta(name=Path(input_path).stem, device=device, source=str(input_path), license=license_)
    trace = import_trace(input_path, fmt, max_mhz=max_mhz, meta=meta, max_gap_s=max_gap_s)
    save_trace(trace, out_path)
    click.echo(f"wrote {out_path}: {len(trace)} samples, {trace.duration_s:g} s")
