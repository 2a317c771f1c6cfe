"""``adascale-rl supernet``: train the supernet, profile its variants, list them.

Thin: options are parsed here, the work is done by :mod:`adascale_rl.supernet` (torch is imported only
inside the verbs, so ``adascale-rl --help`` stays fast).
"""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def supernet() -> None:
    """The multi-branch MNIST supernet: train it, profile its variants on this machine, list them."""


@supernet.command()
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="One-shot training epochs (default: the bundled supernet's, 12).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("supernet_bundle"),
              show_default=True, help="Folder for supernet.pt, recovered.pt and supernet.json.")
@click.option("--recovery-epochs", type=click.IntRange(min=0), default=None,
              help="Fine-tuning epochs for factorised (lr/ds) nets whose accuracy dropped; 0 = none.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="torch threads while training (1 spends the fewest CPU-seconds per sample).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for initialisation and data order.")
def train(epochs: int | None, out_dir: Path, recovery_epochs: int | None, threads: int, seed: int) -> None:
    """One-shot train all variants, recover factorised ones, record test accuracies, write a bundle."""
    from dataclasses import replace

    from adascale_rl.supernet.pipeline import build_bundle
    from adascale_rl.supernet.train import TrainConfig

    cfg = replace(TrainConfig(), threads=threads, seed=seed)
    if epochs is not None:
        cfg = replace(cfg, epochs=epochs)
    if recovery_epochs is not None:
        cfg = replace(cfg, recovery_epochs=recovery_epochs)
    outcome = build_bundle(out_dir, cfg, progress=True)
    accuracies = outcome.meta["test_accuracy"]
    click.echo(f"wrote {out_dir}: {len(accuracies)} variants, test accuracy "
               f"{min(accuracies.values()):.3f}..{max(accuracies.values()):.3f}; "
               f"one-shot training {outcome.meta['training']['cpu_s']:.0f} CPU-s")


@supernet.command()
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("supernet_local.csv"), show_default=True, help="Variant table CSV to write.")
@click.option("--runs", type=click.IntRange(min=5), default=None,
              help="Timed batch-1 calls per variant and thread count (default 600).")
@click.option("--rounds", type=click.IntRange(min=1), default=None,
              help="Interleaved measurement rounds (default 20).")
@click.option("--bundle", "bundle_dir", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Supernet bundle folder (default: the one shipped with the package).")
@click.option("--only", multiple=True, help="Profile only these variant ids (repeatable), e.g. 'exit3|none'.")
@click.option("--overhead-rounds", type=click.IntRange(min=0), default=4, show_default=True,
              help="Then measure per-variant serving overhead (`supernet overhead`) with this many 1 s rounds "
                   "per variant and thread count; 0 skips it (the profile's constant is used instead).")
def profile(out_path: Path, runs: int | None, rounds: int | None, bundle_dir: Path | None,
            only: tuple[str, ...], overhead_rounds: int) -> None:
    """Measure accuracy, latency (1..N threads), FLOPs, params, bytes, memory, energy and serving overhead of
    every variant."""
    from dataclasses import replace

    from adascale_rl.supernet.bundle import load_bundle
    from adascale_rl.supernet.operators import VariantSpec
    from adascale_rl.supernet.profile import ProfileConfig, profile_variants

    cfg = ProfileConfig()
    if runs is not None:
        cfg = replace(cfg, runs=runs)
    if rounds is not None:
        cfg = replace(cfg, rounds=rounds)
    specs = [VariantSpec.parse(v) for v in only] if only else None
    result = profile_variants(load_bundle(bundle_dir), cfg, specs=specs, progress=True)
    result.table.save(out_path)
    stats_path = out_path.with_name(out_path.stem + ".stats.csv")
    result.stats.to_csv(stats_path, index=False)
    click.echo(f"wrote {out_path} ({len(result.table)} variants) and {stats_path}")
    if overhead_rounds:
        _measure_overhead(out_path, out_path, overhead_rounds, only, bundle_dir)


def _measure_overhead(catalog: Path, out_path: Path, rounds: int, only: tuple[str, ...],
                      bundle_dir: Path | None) -> None:
    from adascale_rl.hardware_bridge.devices.variants import bundle_provider
    from adascale_rl.hardware_bridge.overhead import measure_serving_overhead
    from adascale_rl.scenario import get_scenario, with_catalog

    scenario = with_catalog(get_scenario("local"), catalog)
    provider = bundle_provider(str(bundle_dir)) if bundle_dir else None
    result = measure_serving_overhead(scenario, variant_ids=list(only) or None, rounds=rounds, provider=provider)
    result.calibration.table.save(out_path)
    live_path = result.live.save(out_path.with_name(out_path.stem + ".live_profile.csv"))
    changes = result.calibration.changes
    click.echo(f"serving overhead of {len(changes)} (variant, thread count) cells over {result.seconds:.0f} s "
               f"(load average {result.load_average[0]:.1f}-{result.load_average[1]:.1f}): "
               f"{changes['overhead_ms'].min():.3f}..{changes['overhead_ms'].max():.3f} ms, median "
               f"{changes['overhead_ms'].median():.3f} ms")
    click.echo(f"wrote {out_path} (overhead columns) and {live_path}")


@supernet.command()
@click.option("--catalog", "catalog_path", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              required=True, help="Catalog CSV of the supernet variants (e.g. adascale_rl/data/catalogs/local.csv).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Catalog CSV to write: --catalog with overhead_ms@CFG / overhead_sd_ms@CFG columns (may be "
                   "--catalog itself).")
@click.option("--rounds", type=click.IntRange(min=1), default=4, show_default=True,
              help="1 s rounds per variant and thread count, interleaved in a fresh random order each round; the "
                   "quieter half of them is kept.")
@click.option("--only", multiple=True, help="Measure only these variant ids (repeatable); the others keep theirs.")
@click.option("--bundle", "bundle_dir", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Supernet bundle folder (default: the one shipped with the package).")
def overhead(catalog_path: Path, out_path: Path, rounds: int, only: tuple[str, ...], bundle_dir: Path | None) -> None:
    """Measure every variant's per-request serving overhead by serving it (Poisson requests at the local
    scenario's rate through the bridge's LocalDevice, no injected load) and store it in the catalog."""
    _measure_overhead(catalog_path, out_path, rounds, only, bundle_dir)


@supernet.command()
@click.option("--catalog", "catalog_path", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="Variant table CSV (default: the bundled 'local' catalog).")
@click.option("--sort", "sort_by", type=click.Choice(["id", "accuracy", "latency", "flops"]), default="id",
              show_default=True, help="Row order.")
def variants(catalog_path: Path | None, sort_by: str) -> None:
    """List the supernet's variants with accuracy, cost and latency per thread count."""
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from adascale_rl.catalog.variant_table import VariantTable, bundled_table

    table = VariantTable.load(catalog_path) if catalog_path else bundled_table("local")
    order = {"id": np.arange(len(table)), "accuracy": np.argsort(-table.accuracy, kind="stable"),
             "latency": np.argsort(table.latency_ms[:, 0], kind="stable"),
             "flops": np.argsort(table.flops, kind="stable")}[sort_by]
    view = Table(title=f"supernet variants on '{table.device}' ({len(table)})")
    for name in ("variant", "acc %", "MFLOPs", "params", "KB", "mem MB"):
        view.add_column(name, justify="left" if name == "variant" else "right")
    for config in table.configs:
        view.add_column(f"ms@{config}", justify="right")
    for i in order:
        cells = [str(table.variant_id[i]), f"{100 * table.accuracy[i]:.1f}", f"{table.flops[i] / 1e6:.2f}",
                 f"{table.params[i]:,}", f"{table.model_bytes[i] / 1024:.0f}", f"{table.mem_mb[i]:.2f}"]
        cells += [f"{v:.3f}" if np.isfinite(v) else "—" for v in table.latency_ms[i]]
        view.add_row(*cells)
    Console().print(view)
