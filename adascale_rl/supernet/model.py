"""The multi-branch, width-slimmable supernet (training-time form).

Architecture (full width, ``SupernetConfig()`` defaults)::

    input 1×28×28
    stage 1: conv3×3(1→24)  BN ReLU, conv3×3(24→24) BN ReLU, maxpool2   → 24×14×14 ──► exit 1
    stage 2: conv3×3(24→48) BN ReLU, conv3×3(48→48) BN ReLU, maxpool2   → 48×7×7   ──► exit 2
    stage 3: conv3×3(48→96) BN ReLU, conv3×3(96→96) BN ReLU            → 96×7×7   ──► exit 3
    exit k : adaptive-avgpool P_k×P_k, flatten, linear(P_k²·C_k→64) BN ReLU, linear(64→10)

with exit pools ``P = (4, 3, 2)``: early exits see coarser features, so they keep more spatial detail (a
2×2 pool after stage 1 cost ~15 points of exit-1 accuracy), and the three heads end up with similar sizes.
The heads' hidden layer has its own switchable BN too: without it the hidden units, shared by all widths,
were pushed into the dead-ReLU range for the smallest width (13 of 16 units dead at exit 2, width 0.25,
which then underfit at 85% accuracy).

A **branch** is an exit point: running branch ``exitK`` executes stages 1..K and exit head K only, so an
earlier exit is a genuinely cheaper network, not a masked one.

**Width** (structured channel pruning, slimmable-network style): at width ``w`` every layer uses the
first ``round(w·C)`` output channels (and the first input channels that the previous layer produced) of
the shared full-width weight tensors; the exit head's hidden layer is slimmed the same way. Batch
statistics differ strongly between widths, so each width has its own BatchNorm (*switchable BN*,
Yu et al. 2019) — without it the shared running statistics would be wrong for every width but one.
The set of widths is fixed (``SupernetConfig.widths``) because switchable BN needs one BN per width.

This module only trains and evaluates; deployable variants (BN folded, sliced into real smaller layers,
factorised, quantised) are made by :mod:`adascale_rl.supernet.operators`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class SupernetConfig:
    """Shape of the supernet. Defaults are what the bundled weights were trained with.

    ``stage_channels`` — full-width output channels of each stage (one exit per stage).
    ``head_hidden``    — full-width hidden units of every exit head.
    ``head_pools``     — side of the adaptive average pool in front of each exit head.
    ``widths``         — the width multipliers that have their own BatchNorm (ascending, last = 1.0).
    """

    stage_channels: tuple[int, ...] = (24, 48, 96)
    head_hidden: int = 64
    head_pools: tuple[int, ...] = (4, 3, 2)
    widths: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
    num_classes: int = 10
    in_channels: int = 1

    def __post_init__(self) -> None:
        if list(self.widths) != sorted(self.widths) or self.widths[-1] != 1.0:
            raise ValueError(f"widths must be ascending and end with 1.0, got {self.widths}")
        if len(self.stage_channels) < 1:
            raise ValueError("at least one stage is needed")
        if len(self.head_pools) != len(self.stage_channels):
            raise ValueError(f"need one head pool per stage, got {self.head_pools} for {self.stage_channels}")

    @property
    def num_exits(self) -> int:
        return len(self.stage_channels)

    def channels(self, stage: int, width: float) -> int:
        """Output channels of ``stage`` (0-based) at width ``width``."""
        return max(1, round(self.stage_channels[stage] * width))

    def hidden(self, width: float) -> int:
        """Hidden units of an exit head at width ``width``."""
        return max(1, round(self.head_hidden * width))

    def width_index(self, width: float) -> int:
        for i, w in enumerate(self.widths):
            if abs(w - width) < 1e-9:
                return i
        raise KeyError(f"width {width} is not one of the supernet's widths {self.widths}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SupernetConfig:
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in data.items()})


class SlimConv2d(nn.Conv2d):
    """A conv whose leading ``out_channels`` / input channels can be used alone (weights are shared)."""

    def forward_slim(self, x: torch.Tensor, out_channels: int) -> torch.Tensor:
        weight = self.weight[:out_channels, : x.shape[1]]
        bias = self.bias[:out_channels] if self.bias is not None else None
        return F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)


class SlimLinear(nn.Linear):
    """A linear layer whose leading rows / columns can be used alone (weights are shared)."""

    def forward_slim(self, x: torch.Tensor, out_features: int) -> torch.Tensor:
        bias = self.bias[:out_features] if self.bias is not None else None
        return F.linear(x, self.weight[:out_features, : x.shape[1]], bias)


class SwitchableBatchNorm(nn.Module):
    """One BatchNorm per width; width ``i`` normalises the first ``bns[i].num_features`` channels/features."""

    def __init__(self, channels_per_width: Sequence[int], dims: int = 2) -> None:
        super().__init__()
        norm = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
        self.bns = nn.ModuleList(norm(c) for c in channels_per_width)

    def forward(self, x: torch.Tensor, width_index: int) -> torch.Tensor:
        return self.bns[width_index](x)


class ConvBNReLU(nn.Module):
    """Slimmable 3×3 conv + switchable BN + ReLU (conv has no bias: BN supplies it)."""

    def __init__(self, in_max: int, out_per_width: Sequence[int]) -> None:
        super().__init__()
        self.conv = SlimConv2d(in_max, out_per_width[-1], 3, padding=1, bias=False)
        self.bn = SwitchableBatchNorm(out_per_width)
        self.out_per_width = tuple(out_per_width)

    def forward(self, x: torch.Tensor, width_index: int) -> torch.Tensor:
        out = self.conv.forward_slim(x, self.out_per_width[width_index])
        return F.relu(self.bn(out, width_index))


class Stage(nn.Module):
    """Two ConvBNReLU units, then an optional 2×2 max-pool."""

    def __init__(self, in_max: int, out_per_width: Sequence[int], pool: bool) -> None:
        super().__init__()
        self.units = nn.ModuleList([ConvBNReLU(in_max, out_per_width), ConvBNReLU(out_per_width[-1], out_per_width)])
        self.pool = pool

    def forward(self, x: torch.Tensor, width_index: int) -> torch.Tensor:
        for unit in self.units:
            x = unit(x, width_index)
        return F.max_pool2d(x, 2) if self.pool else x


class ExitHead(nn.Module):
    """Early-exit classifier: avg-pool to ``pool×pool``, flatten, slimmable hidden layer + BN, classifier."""

    def __init__(self, in_max: int, hidden_per_width: Sequence[int], pool: int, num_classes: int) -> None:
        super().__init__()
        self.pool = pool
        self.fc1 = SlimLinear(in_max * pool * pool, hidden_per_width[-1], bias=False)
        self.bn = SwitchableBatchNorm(hidden_per_width, dims=1)
        self.fc2 = SlimLinear(hidden_per_width[-1], num_classes)
        self.hidden_per_width = tuple(hidden_per_width)
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor, width_index: int) -> torch.Tensor:
        # Channel-major flatten: the first C' channels map to the first C'·pool² columns of fc1, so
        # slicing fc1's columns matches slicing the channels.
        x = torch.flatten(F.adaptive_avg_pool2d(x, self.pool), 1)
        x = F.relu(self.bn(self.fc1.forward_slim(x, self.hidden_per_width[width_index]), width_index))
        return self.fc2.forward_slim(x, self.num_classes)


class Supernet(nn.Module):
    """Weight-shared multi-exit, multi-width CNN (see the module docstring)."""

    def __init__(self, config: SupernetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or SupernetConfig()
        stages, heads = [], []
        in_max = config.in_channels
        for s in range(config.num_exits):
            out_per_width = [config.channels(s, w) for w in config.widths]
            stages.append(Stage(in_max, out_per_width, pool=s < 2))
            heads.append(ExitHead(out_per_width[-1], [config.hidden(w) for w in config.widths], config.head_pools[s],
                                  config.num_classes))
            in_max = out_per_width[-1]
        self.stages = nn.ModuleList(stages)
        self.heads = nn.ModuleList(heads)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor, width: float = 1.0, exits: Sequence[int] | None = None) -> list[torch.Tensor]:
        """Logits of the requested exits (1-based; default all) at ``width``; stops after the deepest one."""
        exits = tuple(exits) if exits is not None else tuple(range(1, self.config.num_exits + 1))
        wi = self.config.width_index(width)
        outputs = []
        for s in range(max(exits)):
            x = self.stages[s](x, wi)
            if s + 1 in exits:
                outputs.append(self.heads[s](x, wi))
        return outputs


def independent_config(base: SupernetConfig, branch: int, width: float) -> SupernetConfig:
    """Config of a stand-alone network equal in shape to variant (``branch``, ``width``), for training
    that variant from scratch (one width, ``branch`` stages) — the baseline one-shot training beats."""
    return SupernetConfig(
        stage_channels=tuple(base.channels(s, width) for s in range(branch)),
        head_hidden=base.hidden(width), head_pools=base.head_pools[:branch], widths=(1.0,),
        num_classes=base.num_classes, in_channels=base.in_channels,
    )
