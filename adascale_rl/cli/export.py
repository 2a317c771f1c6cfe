"""``adascale-rl export``: a trained MaskablePPO run → ``policy.onnx`` + ``policy.json``, verified."""

from __future__ import annotations

import click


@click.command("export")
@click.option("--policy", "run_dir", type=click.Path(file_okay=False, exists=True), required=True,
              help="Training run folder (runs/NAME with best_model.zip or model.zip and run.json).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Folder to write policy.onnx and policy.json into.")
@click.option("--model", "model_file", default=None,
              help="Model file inside the run folder (default: best_model.zip, else model.zip).")
@click.option("--scenario", default=None,
              help="Scenario name or TOML (default: the one recorded in run.json; its digest must match).")
@click.option("--verify-n", type=click.IntRange(min=0), default=10_000, show_default=True,
              help="Env observations on which ONNX actions must equal SB3's deterministic predict (0: skip).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the verification rollouts.")
def export(run_dir: str, out_dir: str, model_file: str | None, scenario: str | None, verify_n: int,
           seed: int) -> None:
    """Export a policy for devices: ONNX actor with the masked argmax inside + JSON contract."""
    from adascale_rl.hardware_bridge.export import export_policy

    result = export_policy(run_dir, out_dir, model_file=model_file, scenario=scenario, verify_n=verify_n, seed=seed)
    click.echo(f"wrote {result.onnx_path} and {result.contract_path}")
    if result.verification is not None:
        v = result.verification
        click.echo(f"verified: ONNX == SB3 deterministic predict on {v.agree}/{v.n} env observations "
                   f"({v.n_unique_actions} distinct actions)")
