"""Compression operators that turn the trained supernet into real, smaller, deployable modules.

A variant is ``(branch, width, factorisation, int8)``; every operator produces genuine layers:

``w{0.25,0.5,0.75}`` — **width / structured channel pruning**: the first ``round(w·C)`` channels of every
    layer are *copied out* into ``nn.Conv2d``/``nn.Linear`` layers of that size, with the width's own
    BatchNorm folded into the conv / the head's hidden linear (so there is no BN at inference).
``lr0.5`` — **low-rank factorisation** (truncated SVD): a ``k×k`` conv ``Cin→Cout`` becomes a ``k×k`` conv
    ``Cin→r`` followed by a ``1×1`` conv ``r→Cout``; a linear ``in→out`` becomes ``in→r→out``; ``r`` is half
    the full rank ``min(Cout, Cin·k²)``. A layer is factorised only when that makes it smaller, and the
    first conv (one input channel) and the 10-way classifiers are left alone (factorising them saves
    nothing / costs accuracy for no gain).
``ds`` — **depthwise-separable replacement**: each ``k×k`` conv ``Cin→Cout`` becomes a depthwise ``k×k`` conv
    plus a pointwise ``1×1`` conv. The initial weights are the best such approximation of the trained
    kernel: for every input channel ``c`` the slice ``W[:, c]`` (``Cout × k²``) is replaced by its rank-1 SVD
    ``σ·u·vᵀ`` → depthwise kernel ``√σ·v``, pointwise column ``√σ·u``. First conv kept (MobileNet convention).
``int8`` — **post-training static quantisation** with ``torch.ao.quantization`` in eager mode: conv/linear
    + ReLU pairs fused, per-channel int8 weights, uint8 activations calibrated on
    :data:`CALIBRATION_IMAGES` training images, x86 engine (fbgemm/qnnpack fallback).

Factorisation and quantisation compose with width and with each other (``w0.5+lr0.5+int8``).
Factorised models lose accuracy; :mod:`adascale_rl.supernet.train` fine-tunes them briefly ("recovery")
and the bundle stores the recovered weights, which :func:`build_variant` loads when present.

Variant names: ``compression`` is the ``+``-joined list of the operators that are not identity, in the
order width, factorisation, int8 (``w0.5+lr0.5+int8``; full width is not written; ``none`` when no
operator applies); ``branch`` is ``exit1``..``exitN``; ``variant_id`` = ``branch|compression``.
"""

from __future__ import annotations

import copy
import itertools
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
import torch.ao.quantization as tq
from torch import nn

from adascale_rl.supernet.model import ConvBNReLU, ExitHead, Supernet

FACTORISATIONS = ("none", "lr0.5", "ds")
LOW_RANK_FRACTIONS = {"lr0.5": 0.5}
CALIBRATION_IMAGES = 512


@dataclass(frozen=True, order=True)
class VariantSpec:
    """One variant: exit point (1-based), width multiplier, factorisation, int8 or float."""

    branch: int
    width: float = 1.0
    factor: str = "none"
    int8: bool = False

    def __post_init__(self) -> None:
        if self.factor not in FACTORISATIONS:
            raise ValueError(f"unknown factorisation {self.factor!r}; known: {', '.join(FACTORISATIONS)}")
        if self.branch < 1:
            raise ValueError(f"branch must be >= 1, got {self.branch}")

    @property
    def branch_name(self) -> str:
        return f"exit{self.branch}"

    @property
    def compression(self) -> str:
        ops = []
        if self.width != 1.0:
            ops.append(f"w{self.width:g}")
        if self.factor != "none":
            ops.append(self.factor)
        if self.int8:
            ops.append("int8")
        return "+".join(ops) or "none"

    @property
    def variant_id(self) -> str:
        return f"{self.branch_name}|{self.compression}"

    @property
    def float_key(self) -> str:
        """Name of the (width, factorisation) family whose float weights this variant uses."""
        return VariantSpec(1, self.width, self.factor).compression

    @classmethod
    def parse(cls, variant_id: str) -> VariantSpec:
        """Inverse of :attr:`variant_id` (``exit2|w0.5+lr0.5+int8``)."""
        branch, sep, compression = variant_id.partition("|")
        if not sep or not branch.startswith("exit") or not branch[4:].isdigit():
            raise ValueError(f"bad variant id {variant_id!r}; expected like 'exit2|w0.5+lr0.5+int8'")
        width, factor, int8 = 1.0, "none", False
        for op in ([] if compression == "none" else compression.split("+")):
            if op.startswith("w"):
                width = float(op[1:])
            elif op in FACTORISATIONS:
                factor = op
            elif op == "int8":
                int8 = True
            else:
                raise ValueError(f"unknown operator {op!r} in {variant_id!r}")
        return cls(int(branch[4:]), width, factor, int8)


def all_specs(supernet_or_exits: Supernet | int, widths: tuple[float, ...] | None = None) -> list[VariantSpec]:
    """Every variant the supernet offers: branches × widths × factorisations × {float, int8}."""
    if isinstance(supernet_or_exits, Supernet):
        exits, widths = supernet_or_exits.config.num_exits, widths or supernet_or_exits.config.widths
    else:
        exits, widths = supernet_or_exits, widths or (0.25, 0.5, 0.75, 1.0)
    return [VariantSpec(b, w, f, q) for b, w, f, q in
            itertools.product(range(1, exits + 1), sorted(widths, reverse=True), FACTORISATIONS, (False, True))]


# ----------------------------------------------------------------------------------------- static networks

def _unit(*layers: nn.Module) -> nn.Sequential:
    """A compute unit: one or more conv/linear layers then ReLU (the last layer + ReLU fuse for int8)."""
    return nn.Sequential(*layers, nn.ReLU())


class MultiExitNet(nn.Module):
    """Plain (deployable) multi-exit network at one width; returns every exit's logits."""

    def __init__(self, stages: list[nn.Sequential], heads: list[nn.Sequential]) -> None:
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.heads = nn.ModuleList(heads)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for stage, head in zip(self.stages, self.heads, strict=True):
            x = stage(x)
            outputs.append(head(x))
        return outputs

    def truncate(self, branch: int) -> VariantNet:
        """The stand-alone network of exit ``branch``: stages 1..branch and that exit's head (copied)."""
        return VariantNet(nn.Sequential(*copy.deepcopy(list(self.stages[:branch]))),
                          copy.deepcopy(self.heads[branch - 1]))


class VariantNet(nn.Module):
    """One deployable variant: ``quant → stages → head → dequant`` (the stubs are identity until int8)."""

    def __init__(self, stages: nn.Sequential, head: nn.Sequential) -> None:
        super().__init__()
        self.quant = tq.QuantStub()
        self.stages = stages
        self.head = head
        self.dequant = tq.DeQuantStub()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dequant(self.head(self.stages(self.quant(x))))


def _fold_conv_bn(conv_weight: torch.Tensor, bn: nn.BatchNorm2d, out: int, inp: int) -> nn.Conv2d:
    """A real ``inp→out`` 3×3 conv equal (in eval mode) to the sliced conv followed by ``bn``."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    conv = nn.Conv2d(inp, out, 3, padding=1, bias=True)
    conv.weight.data.copy_(conv_weight[:out, :inp] * scale[:, None, None, None])
    conv.bias.data.copy_(bn.bias - bn.running_mean * scale)
    return conv


def _slice_linear(layer: nn.Linear, out: int, inp: int, bn: nn.BatchNorm1d | None = None) -> nn.Linear:
    """A real ``inp→out`` linear equal to the sliced layer (followed by ``bn``, folded in, when given)."""
    linear = nn.Linear(inp, out)
    weight = layer.weight[:out, :inp]
    bias = layer.bias[:out] if layer.bias is not None else torch.zeros(out)
    if bn is not None:
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        weight = weight * scale[:, None]
        bias = (bias - bn.running_mean) * scale + bn.bias
    linear.weight.data.copy_(weight)
    linear.bias.data.copy_(bias)
    return linear


@torch.no_grad()
def extract(supernet: Supernet, width: float) -> MultiExitNet:
    """Copy width ``width`` out of the supernet into real smaller layers, BN folded (float, eval)."""
    cfg = supernet.config
    wi = cfg.width_index(width)
    stages, heads = [], []
    inp = cfg.in_channels
    for s, (stage, head) in enumerate(zip(supernet.stages, supernet.heads, strict=True)):
        out = cfg.channels(s, width)
        layers: list[nn.Module] = []
        for unit in stage.units:
            assert isinstance(unit, ConvBNReLU)
            layers.append(_unit(_fold_conv_bn(unit.conv.weight, unit.bn.bns[wi], out, inp)))
            inp = out
        if stage.pool:
            layers.append(nn.MaxPool2d(2))
        stages.append(nn.Sequential(*layers))
        assert isinstance(head, ExitHead)
        hidden = cfg.hidden(width)
        heads.append(nn.Sequential(
            nn.AdaptiveAvgPool2d(head.pool), nn.Flatten(),
            _unit(_slice_linear(head.fc1, hidden, out * head.pool * head.pool, head.bn.bns[wi])),
            _slice_linear(head.fc2, head.num_classes, hidden),
        ))
    return MultiExitNet(stages, heads).eval()


# ------------------------------------------------------------------------------------------ factorisation

def _low_rank_conv(conv: nn.Conv2d, fraction: float) -> nn.Sequential | None:
    cout, cin, kh, kw = conv.weight.shape
    full = min(cout, cin * kh * kw)
    rank = max(1, round(fraction * full))
    if rank * (cin * kh * kw + cout) >= cout * cin * kh * kw:
        return None  # factorising would not make this layer smaller
    u, s, vh = torch.linalg.svd(conv.weight.reshape(cout, -1), full_matrices=False)
    root = s[:rank].sqrt()
    first = nn.Conv2d(cin, rank, (kh, kw), stride=conv.stride, padding=conv.padding, bias=False)
    first.weight.data.copy_((root[:, None] * vh[:rank]).reshape(rank, cin, kh, kw))
    second = nn.Conv2d(rank, cout, 1, bias=True)
    second.weight.data.copy_((u[:, :rank] * root).reshape(cout, rank, 1, 1))
    second.bias.data.copy_(conv.bias if conv.bias is not None else torch.zeros(cout))
    return nn.Sequential(first, second)


def _low_rank_linear(linear: nn.Linear, fraction: float) -> nn.Sequential | None:
    out, inp = linear.weight.shape
    rank = max(1, round(fraction * min(out, inp)))
    if rank * (inp + out) >= out * inp:
        return None
    u, s, vh = torch.linalg.svd(linear.weight, full_matrices=False)
    root = s[:rank].sqrt()
    first = nn.Linear(inp, rank, bias=False)
    first.weight.data.copy_(root[:, None] * vh[:rank])
    second = nn.Linear(rank, out)
    second.weight.data.copy_(u[:, :rank] * root)
    second.bias.data.copy_(linear.bias)
    return nn.Sequential(first, second)


def _depthwise_separable(conv: nn.Conv2d) -> nn.Sequential | None:
    cout, cin, kh, kw = conv.weight.shape
    if cin == 1 or conv.groups != 1:
        return None
    per_channel = conv.weight.permute(1, 0, 2, 3).reshape(cin, cout, kh * kw)  # (Cin, Cout, k²)
    u, s, vh = torch.linalg.svd(per_channel, full_matrices=False)  # batched over input channels
    root = s[:, 0].sqrt()
    depthwise = nn.Conv2d(cin, cin, (kh, kw), stride=conv.stride, padding=conv.padding, groups=cin, bias=False)
    depthwise.weight.data.copy_((root[:, None] * vh[:, 0, :]).reshape(cin, 1, kh, kw))
    pointwise = nn.Conv2d(cin, cout, 1, bias=True)
    pointwise.weight.data.copy_((u[:, :, 0] * root[:, None]).T.reshape(cout, cin, 1, 1))
    pointwise.bias.data.copy_(conv.bias if conv.bias is not None else torch.zeros(cout))
    return nn.Sequential(depthwise, pointwise)


def _replace_units(net: MultiExitNet, make: Callable[[nn.Module], nn.Sequential | None]) -> None:
    """Apply ``make(layer) -> Sequential | None`` to every unit's single conv/linear layer, in place.

    Units are the ``Sequential(layer, ReLU)`` blocks built by :func:`extract`; classifiers (bare Linear)
    are not units and so are never factorised.
    """
    for module in net.modules():
        if not isinstance(module, nn.Sequential):
            continue
        for name, child in list(module.named_children()):
            if (isinstance(child, nn.Sequential) and len(child) == 2 and isinstance(child[1], nn.ReLU)
                    and isinstance(child[0], (nn.Conv2d, nn.Linear))):
                replacement = make(child[0])
                if replacement is not None:
                    setattr(module, name, _unit(*replacement))


@torch.no_grad()
def factorise(net: MultiExitNet, factor: str) -> MultiExitNet:
    """A copy of ``net`` with every eligible layer low-rank factorised (``lr*``) or made depthwise-separable
    (``ds``); ``none`` returns an unchanged copy. The structure depends only on the shapes, so recovered
    weights saved for one factorised net load into another built the same way."""
    net = copy.deepcopy(net)
    if factor == "none":
        return net
    if factor in LOW_RANK_FRACTIONS:
        fraction = LOW_RANK_FRACTIONS[factor]

        def make(layer: nn.Module) -> nn.Sequential | None:
            if isinstance(layer, nn.Conv2d):
                return None if layer.in_channels == 1 else _low_rank_conv(layer, fraction)
            return _low_rank_linear(layer, fraction)
    elif factor == "ds":
        def make(layer: nn.Module) -> nn.Sequential | None:
            return _depthwise_separable(layer) if isinstance(layer, nn.Conv2d) else None
    else:
        raise ValueError(f"unknown factorisation {factor!r}")
    _replace_units(net, make)
    return net.eval()


# ---------------------------------------------------------------------------------------------- int8

def quantized_engine() -> str:
    """The best int8 backend this torch build offers on this CPU (set globally, as torch requires)."""
    engines = torch.backends.quantized.supported_engines
    for engine in ("x86", "fbgemm", "qnnpack"):
        if engine in engines:
            if torch.backends.quantized.engine != engine:
                torch.backends.quantized.engine = engine
            return engine
    raise RuntimeError(f"no int8 engine in this torch build (supported: {engines})")


def _fusable(model: nn.Module) -> list[list[str]]:
    """Names of (last conv/linear, ReLU) pairs in every unit, for ``fuse_modules``."""
    pairs = []
    for name, module in model.named_modules():
        if (isinstance(module, nn.Sequential) and len(module) >= 2 and isinstance(module[-1], nn.ReLU)
                and isinstance(module[-2], (nn.Conv2d, nn.Linear))):
            pairs.append([f"{name}.{len(module) - 2}", f"{name}.{len(module) - 1}"])
    return pairs


@torch.no_grad()
def quantize_int8(model: VariantNet, calibration: torch.Tensor, batch_size: int = 128) -> VariantNet:
    """Eager-mode post-training static int8 quantisation of a float variant (returns a new module).

    torch.ao.quantization is deprecated in favour of torchao but is still the only eager path that
    produces real int8 conv kernels on CPU without a compiler; its deprecation warnings are silenced here.
    """
    engine = quantized_engine()
    model = copy.deepcopy(model).eval()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.ao\.")
        warnings.filterwarnings("ignore", message=".*quantize_per_.*deprecated.*")
        model = tq.fuse_modules(model, _fusable(model))
        model.qconfig = tq.get_default_qconfig(engine)
        tq.prepare(model, inplace=True)
        for chunk in calibration.split(batch_size):
            model(chunk)
        tq.convert(model, inplace=True)
    return model.eval()


# ------------------------------------------------------------------------------------------- building

def float_family(supernet: Supernet, width: float, factor: str,
                 recovered: Mapping[str, Mapping[str, torch.Tensor]] | None = None) -> MultiExitNet:
    """The float multi-exit net for (``width``, ``factor``), with recovered weights when the bundle has them."""
    net = factorise(extract(supernet, width), factor)
    key = VariantSpec(1, width, factor).float_key
    if recovered and key in recovered:
        net.load_state_dict(recovered[key])
    return net.eval()


def build_variant(supernet: Supernet, spec: VariantSpec | str, *,
                  recovered: Mapping[str, Mapping[str, torch.Tensor]] | None = None,
                  calibration: torch.Tensor | None = None) -> nn.Module:
    """A real, runnable ``nn.Module`` for one variant (input ``(n, 1, 28, 28)`` → logits ``(n, 10)``).

    ``recovered`` maps a family key (``VariantSpec.float_key``, e.g. ``w0.5+lr0.5``) to the state dict of
    its recovery-fine-tuned multi-exit net; ``calibration`` are the images int8 calibrates on (default:
    the first :data:`CALIBRATION_IMAGES` training images, fixed so int8 results are reproducible).
    """
    spec = VariantSpec.parse(spec) if isinstance(spec, str) else spec
    if spec.branch > supernet.config.num_exits:
        raise ValueError(f"{spec.variant_id}: the supernet has {supernet.config.num_exits} exits")
    model = float_family(supernet, spec.width, spec.factor, recovered).truncate(spec.branch).eval()
    if spec.int8:
        if calibration is None:
            from adascale_rl.supernet.data import load_split

            calibration = load_split("train").images[:CALIBRATION_IMAGES]
        model = quantize_int8(model, calibration)
    return model
