"""Static costs of a variant: FLOPs (counted by forward hooks), parameters, bytes.

FLOPs are counted rather than estimated from a formula so that every operator (slicing, factorisation,
depthwise convs, quantised modules) is measured on the module that actually runs: a forward hook on every
conv/linear — float or ``torch.ao.nn.quantized`` (fused ConvReLU/LinearReLU included, they subclass the
quantised Conv2d/Linear) — reads the real output shape. One multiply-accumulate counts as 2 FLOPs (int8
MACs too); ReLU, pooling, bias adds and (de)quantisation are not counted, as is customary — they are
<1% of the total here.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import torch
import torch.ao.nn.quantized as nnq
from torch import nn

_CONV = (nn.Conv2d, nnq.Conv2d)
_LINEAR = (nn.Linear, nnq.Linear)


def compute_layers(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """Named modules that do the arithmetic: float or quantised conv / linear layers."""
    for name, module in model.named_modules():
        if isinstance(module, _CONV + _LINEAR):
            yield name, module


def _macs(module: nn.Module, output: torch.Tensor) -> int:
    if isinstance(module, _CONV):
        kh, kw = module.kernel_size
        return output.numel() * (module.in_channels // module.groups) * kh * kw
    return output.numel() * module.in_features


@torch.inference_mode()
def count_flops(model: nn.Module, input_shape: tuple[int, ...] = (1, 1, 28, 28)) -> int:
    """FLOPs (2 × multiply-accumulates) of one forward pass on an input of ``input_shape``."""
    total = 0

    def hook(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        total += 2 * _macs(module, output)

    handles = [module.register_forward_hook(hook) for _, module in compute_layers(model)]
    try:
        model.eval()(torch.zeros(input_shape))
    finally:
        for handle in handles:
            handle.remove()
    return total


def count_params(model: nn.Module) -> int:
    """Parameters, including the packed int8 weights of quantised layers (which are not ``Parameter``s)."""
    total = sum(p.numel() for p in model.parameters())
    for _, module in compute_layers(model):
        if isinstance(module, (nnq.Conv2d, nnq.Linear)):
            total += module.weight().numel()
            bias = module.bias()
            total += bias.numel() if bias is not None else 0
    return int(total)


def model_bytes(model: nn.Module) -> int:
    """Size of the serialised ``state_dict`` (``torch.save``): what a variant switch has to load."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()


def weight_bytes(model: nn.Module) -> int:
    """Bytes of every tensor in the ``state_dict`` (packed int8 weights unpacked): resident weight memory."""

    def size(value: object) -> int:
        if isinstance(value, torch.Tensor):
            return value.numel() * value.element_size()
        if isinstance(value, (tuple, list)):
            return sum(size(v) for v in value)
        return 0

    return sum(size(v) for v in model.state_dict().values())


def has_quantized_modules(model: nn.Module) -> bool:
    """True when the model contains real int8 conv/linear kernels."""
    return any(isinstance(m, (nnq.Conv2d, nnq.Linear)) for m in model.modules())
