"""Parameter counts and peak activation sizes of the phone-catalog models, measured from pytorchcv.

The USC latency benchmark gives each model's FLOPs and file size but neither its parameter count nor
how much activation memory one inference needs. Both follow from the architecture, so this tool builds
each model from the pytorchcv definitions (the same ones the benchmark converted to TFLite), runs one
224×224 image through it with forward hooks and records:

* ``params`` — number of trainable parameters;
* ``peak_layer_elems`` — the largest ``input + output`` element count of any single layer (convolution,
  pooling, linear). A runtime must hold at least these two tensors at once, so this is the floor of the
  activation arena; TFLite's planner can hold more (e.g. a residual input kept alive across a block), so
  memory derived from it is a lower-bound estimate.

The result is bundled as ``data/catalog_raw/pytorchcv_arch_stats.csv`` so that building catalogs never
needs pytorchcv (nor torch): run ``python -m adascale_rl.catalog.arch_stats OUT.csv`` to regenerate it
(needs ``pip install pytorchcv==0.0.74``; only the model modules are imported, so torchvision is not
required).
"""

from __future__ import annotations

import csv
import importlib
import sys
from pathlib import Path

#: pytorchcv module defining each family (importing ``pytorchcv.model_provider`` would pull torchvision).
FAMILY_MODULES = {"mobilenet": "mobilenet", "fdmobilenet": "fdmobilenet", "mobilenetv2": "mobilenetv2",
                  "resnet18": "resnet"}
INPUT_SHAPE = (1, 3, 224, 224)
COLUMNS = ("model", "params", "peak_layer_elems", "peak_layer", "input_shape", "pytorchcv_version")


def measure(model_name: str) -> dict[str, object]:
    """Build ``model_name`` from pytorchcv and measure parameters and the peak layer working set."""
    import torch

    family = model_name.split("_")[0]
    module = importlib.import_module(f"pytorchcv.models.{FAMILY_MODULES[family]}")
    model = getattr(module, model_name)().eval()
    best: dict[str, object] = {"elems": 0, "layer": ""}
    skip = (torch.nn.BatchNorm2d, torch.nn.ReLU, torch.nn.ReLU6, torch.nn.Dropout)

    def hook(layer: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        elems = sum(t.numel() for t in inputs if torch.is_tensor(t)) + output.numel()
        if elems > best["elems"]:
            shapes = "+".join("x".join(map(str, t.shape)) for t in inputs if torch.is_tensor(t))
            best.update(elems=elems, layer=f"{type(layer).__name__} {shapes}->{'x'.join(map(str, output.shape))}")

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if not list(m.children()) and not isinstance(m, skip)]
    with torch.no_grad():
        model(torch.zeros(INPUT_SHAPE))
    for handle in handles:
        handle.remove()
    return {"model": model_name, "params": sum(p.numel() for p in model.parameters()),
            "peak_layer_elems": best["elems"], "peak_layer": best["layer"]}


def write_stats(models: list[str], out: str | Path) -> Path:
    """Measure ``models`` and write the bundled stats CSV (sorted by model name, byte-stable)."""
    from importlib.metadata import version

    pcv_version = version("pytorchcv")
    rows = [measure(name) | {"input_shape": "x".join(map(str, INPUT_SHAPE)), "pytorchcv_version": pcv_version}
            for name in sorted(models)]
    out = Path(out)
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m adascale_rl.catalog.arch_stats OUT.csv``: regenerate the bundled stats."""
    from adascale_rl.catalog.families import FAMILIES
    from adascale_rl.catalog.raw_sources import load_usc_latency

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m adascale_rl.catalog.arch_stats OUT.csv", file=sys.stderr)
        return 2
    models = [m for m in load_usc_latency().models if any(f.matches(m) for f in FAMILIES)]
    write_stats(models, args[0])
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
