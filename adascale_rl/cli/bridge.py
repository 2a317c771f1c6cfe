"""``adascale-rl bridge``: run an exported policy as the controller of a device (``run``) or serve its
decisions over HTTP (``serve``)."""

from __future__ import annotations

import math

import click
from rich.console import Console
from rich.table import Table


@click.group()
def bridge() -> None:
    """Run exported policies on devices and serve their decisions."""


def _print_summary(result) -> None:
    table = Table(title=f"bridge run: {result.controller} on {result.device} ({result.scenario.name})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.summary.items():
        shown = f"{value:.4g}" if isinstance(value, float) and math.isfinite(value) else str(value)
        table.add_row(key, shown)
    Console(width=120).print(table)
    for note in result.notes:
        click.echo(f"note: {note}")


@bridge.command("run")
@click.option("--device", type=click.Choice(["local", "sim"]), required=True,
              help="local: this machine (real inference, real latency, trace contention injected); "
                   "sim: the simulator replaying the trace.")
@click.option("--policy", type=click.Path(file_okay=False, exists=True), required=True,
              help="Exported policy folder (policy.onnx + policy.json from `adascale-rl export`).")
@click.option("--trace", required=True, help="Trace name from the manifest, or a trace CSV path.")
@click.option("--duration", type=float, required=True,
              help="Seconds to run after the warm-up (epochs = duration / epoch).")
@click.option("--warmup-s", type=click.FloatRange(min=0.0), default=0.0, show_default=True,
              help="Seconds run first and left out of the summary and the sim comparison (marked 'warmup').")
@click.option("--epoch-s", type=float, default=None, help="Decision epoch in seconds (default: the scenario's).")
@click.option("--trace-start", type=float, default=0.0, show_default=True, help="Seconds into the trace to start.")
@click.option("--out", type=click.Path(dir_okay=False), default="epochs.csv", show_default=True,
              help="Per-epoch CSV; RUN.run.json, and on --device local RUN.live_profile.csv and the corrected "
                   "catalog RUN.catalog.csv, are written beside it.")
@click.option("--compare-sim", is_flag=True, help="local: replay the same epochs in the simulator; report "
              "simulated vs measured p50/p95/misses/energy and the per-epoch p95 error, and write a PNG.")
@click.option("--cost-catalog", type=click.Path(dir_okay=False, exists=True), default=None,
              help="local: a catalog of the same variants (e.g. RUN.catalog.csv or from `catalog calibrate`) that "
                   "the device's runtime uses to choose thread counts, and --compare-sim's simulator too; "
                   "decisions still use the policy's scenario.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="PNG path for --compare-sim.")
@click.option("--scenario", default=None, help="Scenario name or TOML (default: the policy contract's).")
@click.option("--no-inject", is_flag=True, help="local: do not replay the trace's contention.")
@click.option("--mem-cap-frac", type=click.FloatRange(0.0, 0.9), default=0.25, show_default=True,
              help="local: memory ballast cap as a share of this machine's RAM.")
@click.option("--min-count", type=click.IntRange(min=1), default=100, show_default=True,
              help="Served requests a variant needs before the corrected catalog uses its live estimate.")
@click.option("--seed", type=int, default=0, show_default=True)
def run_cmd(device: str, policy: str, trace: str, duration: float, warmup_s: float, epoch_s: float | None,
            trace_start: float, out: str, compare_sim: bool, cost_catalog: str | None, plot: str | None,
            scenario: str | None, no_inject: bool, mem_cap_frac: float, min_count: int, seed: int) -> None:
    """Closed loop: sample → decide → apply → serve → measure, one CSV row per epoch (progress bar per epoch).

    Variants are built on first use, with their build time excluded from serving; a variant that fails is
    quarantined and the safe variant served instead (logged, and marked 'fallback' in the CSV).
    """
    import logging

    from adascale_rl.hardware_bridge.session import run_bridge

    if cost_catalog is not None and device != "local":
        raise click.UsageError("--cost-catalog applies to --device local")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    result = run_bridge(device=device, policy=policy, trace=trace, duration_s=duration, epoch_s=epoch_s,
                        trace_start_s=trace_start, out=out, compare_sim=compare_sim, plot=plot, seed=seed,
                        inject=not no_inject, mem_cap_frac=mem_cap_frac, scenario=scenario, warmup_s=warmup_s,
                        progress=True, cost_catalog=cost_catalog, min_count=min_count)
    _print_summary(result)
    for path in result.files:
        click.echo(f"wrote {path}")


@bridge.command("report")
@click.argument("runs", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="reports/sim_vs_real",
              show_default=True, help="Folder for summary.csv, summary.md and one PNG per run.")
@click.option("--catalog", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Simulate with this catalog (e.g. from `catalog calibrate`) instead of the one the run's "
                   "device used (its --cost-catalog, else the scenario's).")
def report_cmd(runs: tuple[str, ...], out_dir: str, catalog: str | None) -> None:
    """Simulated vs measured p50/p95/misses/energy for live runs (RUNS: per-epoch CSVs of `bridge run
    --device local`, each with its RUN.run.json), over the same trace window: a table and a PNG per run."""
    from adascale_rl.hardware_bridge.sim_vs_real import build_report, markdown_table

    report = build_report(list(runs), out_dir, catalog=catalog)
    click.echo(markdown_table(report.table))
    for path in report.files:
        click.echo(f"wrote {path}")


@bridge.command("serve")
@click.option("--policy", type=click.Path(file_okay=False, exists=True), required=True,
              help="Exported policy folder (policy.onnx + policy.json).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback requires --token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="0: any free port.")
@click.option("--token", default=None, envvar="ADASCALE_BRIDGE_TOKEN",
              help="Require 'Authorization: Bearer TOKEN' (at least 16 characters; env ADASCALE_BRIDGE_TOKEN).")
@click.option("--scenario", default=None, help="Scenario name or TOML (default: the policy contract's).")
def serve_cmd(policy: str, host: str, port: int, token: str | None, scenario: str | None) -> None:
    """Serve decisions over HTTP: POST /decide, GET /health, GET /contract (until Ctrl-C)."""
    from adascale_rl.hardware_bridge.server import DecisionServer

    try:
        server = DecisionServer.from_policy(policy, scenario, host=host, port=port, token=token)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"serving {server.service.runtime.name} ({server.service.runtime.scenario.name}) on {server.url} "
               f"{'with' if token else 'without'} a bearer token; Ctrl-C stops")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.close()
