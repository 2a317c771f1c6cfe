"""``adascale-rl catalog``: build, inspect and plot variant catalogs; list device profiles."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from adascale_rl.catalog import VariantTable


@click.group()
def catalog() -> None:
    """Variant catalogs (what a controller can choose, with its cost) and device profiles."""


@catalog.command("build")
@click.option("--device", default="pixel4", show_default=True,
              help="Phone to build (pixel4, s10, mi8se, a03s) or 'all'.")
@click.option("--out", type=click.Path(), default=None,
              help="Output CSV (with --device all: an output folder). Required unless --in-place.")
@click.option("--in-place", is_flag=True,
              help="Overwrite the catalogs bundled inside the package (adascale_rl/data/catalogs/DEVICE.csv): "
                   "for maintainers, from a source checkout.")
@click.option("--raw-dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="Read the raw measurements from this folder instead of the bundled data/catalog_raw/.")
def build(device: str, out: str | None, in_place: bool, raw_dir: str | None) -> None:
    """Build phone variant catalogs from the bundled real measurements (see README, section catalog).

    Latency: USC mobile-ml-benchmark (measured); accuracy: pytorchcv (float, measured) and TFLite's
    float->int8 drops (int8, derived); energy: latency x the device profile's power (modelled).
    Writes to --out; the bundled catalogs are overwritten only with --in-place.
    """
    from adascale_rl.catalog.build_phone import PHONE_DEVICES, bundled_catalog_path, write_phone_catalog

    devices = PHONE_DEVICES if device == "all" else (device,)
    if device != "all" and device not in PHONE_DEVICES:
        raise click.BadParameter(f"{device!r}; choose one of {', '.join(PHONE_DEVICES)} or 'all'",
                                 param_hint="--device")
    if (out is None) == (not in_place):
        raise click.UsageError("give --out PATH (a CSV, or a folder with --device all), or --in-place to "
                               "overwrite the bundled catalogs inside the package, not both")
    table = Table(title="built catalogs", show_lines=True)
    for name in ("device", "variants", "configurations", "left out", "written to"):
        table.add_column(name)
    for name in devices:
        if out is None:
            target = bundled_catalog_path(name)
        elif device == "all":
            target = Path(out) / f"{name}.csv"
        else:
            target = Path(out)
        result = write_phone_catalog(name, target, raw_dir=raw_dir)
        left_out = "; ".join(f"{model}: {why}" for model, why in result.excluded) or "none"
        table.add_row(name, str(len(result.table)), ", ".join(result.table.configs), left_out, str(target))
    console = Console()
    console.width = max(console.width, 160)
    console.print(table)


def _load_table(name_or_path: str) -> VariantTable:
    """A catalog CSV path, or the name of a bundled catalog."""
    from adascale_rl.catalog import VariantTable, bundled_table

    path = Path(name_or_path)
    return VariantTable.load(path) if path.suffix == ".csv" or path.exists() else bundled_table(name_or_path)


@catalog.command("show")
@click.argument("name")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Also save an accuracy-vs-latency PNG (one panel per core configuration) here.")
@click.option("--energy", is_flag=True, help="Show modelled energy per inference (mJ) instead of latency (ms).")
def show(name: str, out: str | None, energy: bool) -> None:
    """Print a catalog as a table (NAME: a bundled catalog such as pixel4, or a catalog CSV path)."""
    table = _load_table(name)
    values = table.energy_mj if energy else table.latency_ms
    unit = "mJ" if energy else "ms"
    view = Table(title=f"{table.device}: {len(table)} variants, {'energy' if energy else 'latency'} per "
                       f"configuration ({unit}; '-' = unavailable)")
    for column in ("variant", "acc", "MiB", *table.configs):
        view.add_column(column, justify="left" if column == "variant" else "right")
    for i, vid in enumerate(table.variant_id):
        cells = [f"{v:.2f}" if v != float("inf") else "-" for v in values[i]]
        view.add_row(str(vid), f"{table.accuracy[i]:.4f}", f"{table.mem_mb[i]:.1f}", *cells)
    console = Console()
    console.width = max(console.width, 48 + 9 * len(table.configs))  # never truncate the numbers
    console.print(view)
    if out:
        from adascale_rl.catalog.plot import plot_catalog

        console.print(f"plot: {plot_catalog(table, out)}")


@catalog.command("devices")
def devices() -> None:
    """List the bundled device profiles: cores, power figures, configurations, estimated figures."""
    from adascale_rl.catalog import bundled_profile, bundled_profile_names, bundled_table_names

    catalogs = set(bundled_table_names())
    view = Table(title="bundled device profiles")
    for column in ("name", "description", "clusters (cores x W/core at max)", "configurations", "RAM MiB",
                   "floor W", "estimated figures", "catalog"):
        view.add_column(column)
    for name in bundled_profile_names():
        profile = bundled_profile(name)
        clusters = ", ".join(f"{c.name} {c.cores}x{c.active_w:.3g}" for c in profile.clusters)
        estimated = [c.name for c in profile.clusters if c.source.startswith("estimated")]
        for line in profile.sources:
            key, _, rest = line.partition(":")
            if rest.strip().startswith("estimated"):
                estimated.append(key)
            elif key.strip() == "estimated":
                estimated.append("profile")
        view.add_row(name, profile.description, clusters, ", ".join(profile.config_names), f"{profile.ram_mb:g}",
                     f"{profile.idle_w:g}", ", ".join(estimated) or "none", "yes" if name in catalogs else "no")
    console = Console()
    console.width = max(console.width, 200)
    console.print(view)


@catalog.command("calibrate")
@click.option("--live", "live_paths", multiple=True, required=True, type=click.Path(dir_okay=False, exists=True),
              help="Live profile CSV from `bridge run` (RUN.live_profile.csv); repeat to merge several runs.")
@click.option("--catalog", "catalog_ref", default=None,
              help="Catalog to correct: a bundled name or CSV path (default: --scenario's catalog).")
@click.option("--scenario", "scenario_ref", default="local", show_default=True,
              help="Scenario whose device profile (and catalog, without --catalog) the live runs used.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), required=True, help="Calibrated catalog CSV.")
@click.option("--scenario-out", type=click.Path(dir_okay=False), default=None,
              help="Also write a copy of --scenario's TOML that uses the calibrated catalog (to re-train on it).")
@click.option("--min-count", type=click.IntRange(min=1), default=100, show_default=True,
              help="Served requests a (variant, configuration) needs before its live estimate is used.")
@click.option("--transfer/--no-transfer", default=True, show_default=True,
              help="Scale a measured variant's unmeasured configurations by its measured slow-down, so the "
                   "runtime does not move to them just because they were not measured.")
def calibrate(live_paths: tuple[str, ...], catalog_ref: str | None, scenario_ref: str, out_path: str,
              scenario_out: str | None, min_count: int, transfer: bool) -> None:
    """Merge live serving measurements into a catalog: per-variant serving overhead fitted to what the
    device measured (README, section bridge: simulate → deploy → measure → re-train)."""
    from adascale_rl.catalog.calibrate import LiveProfile, calibrate_table
    from adascale_rl.scenario import get_scenario, write_with_catalog

    scenario = get_scenario(scenario_ref)
    table = _load_table(catalog_ref) if catalog_ref else scenario.table
    result = calibrate_table(table, scenario.profile, [LiveProfile.load(p) for p in live_paths], min_count=min_count,
                             transfer=transfer)
    written = result.table.save(out_path)
    view = Table(title=f"{table.device}: serving overhead calibrated from {len(live_paths)} live profile(s)")
    for column in ("variant", "config", "from", "samples", "overhead ms before → after", "sd ms before → after"):
        view.add_column(column, justify="left" if column in ("variant", "config", "from") else "right")
    for row in result.changes.itertuples(index=False):
        view.add_row(row.variant_id, row.config, row.source, str(row.samples),
                     f"{row.overhead_ms_before:.3f} → {row.overhead_ms:.3f}",
                     f"{row.overhead_sd_ms_before:.3f} → {row.overhead_sd_ms:.3f}")
    Console(width=110).print(view)
    if result.changes.empty:
        click.echo(f"note: no (variant, configuration) had {min_count} live samples; overheads unchanged")
    click.echo(f"wrote {written}")
    if scenario_out:
        click.echo(f"wrote {write_with_catalog(scenario, scenario_out, written, note='catalog calibrated live')}")
