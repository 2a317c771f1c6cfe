"""Model families of the phone catalogs and how each one's int8 accuracy is derived.

A phone variant is a *branch* (model family) × a *compression* (width multiplier × precision). The
families are those present both in the USC latency benchmark and in pytorchcv's ImageNet accuracy table
with all four widths (×1, ×0.75, ×0.5, ×0.25): MobileNet v1, MobileNet v2, FD-MobileNet and ResNet-18.

Nobody published ImageNet accuracy for the benchmark's int8 models, so int8 accuracy is the pytorchcv
float accuracy minus a float→int8 drop *measured* by the TensorFlow Lite team on the same architecture
(hosted-models table, Pixel 3). Each family names the pair it borrows and why; where the family itself
was not measured the nearest measured architecture is used and the reason is stated here and in every
row's provenance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

_WIDTH = re.compile(r"^(?:w(\d+)(?:d(\d+))?|wd(\d+))$")


def width_of(suffix: str | None) -> float:
    """Width multiplier from a pytorchcv name suffix: ``w1``→1, ``w3d4``→0.75, ``wd2``→0.5, none→1."""
    if suffix is None:
        return 1.0
    match = _WIDTH.match(suffix)
    if not match:
        raise ValueError(f"not a pytorchcv width suffix: {suffix!r}")
    num, den, inv = match.groups()
    value = Fraction(1, int(inv)) if inv else Fraction(int(num), int(den) if den else 1)
    return float(value)


def compression_name(width: float, int8: bool) -> str:
    """Compression label in the VariantTable convention (``none``, ``w0.75``, ``int8``, ``w0.5+int8``)."""
    parts = [] if width == 1.0 else [f"w{width:g}"]
    if int8:
        parts.append("int8")
    return "+".join(parts) or "none"


@dataclass(frozen=True)
class Family:
    """One branch of the phone catalogs (a pytorchcv model family at several widths)."""

    branch: str
    title: str
    int8_reference: dict[float, str]  # width → TFLite hosted float model whose ``_quant`` twin gives the drop
    int8_note: str  # why that reference (shown in provenance and docs)
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", re.compile(rf"^{re.escape(self.branch)}(?:_(w\d+(?:d\d+)?|wd\d+))?$"))

    def matches(self, model: str) -> bool:
        """Whether a pytorchcv/USC model name belongs to this family."""
        return bool(self.pattern.match(model))

    def width(self, model: str) -> float:
        """Width multiplier of a member model."""
        match = self.pattern.match(model)
        if not match:
            raise ValueError(f"{model!r} is not a {self.branch} model")
        return width_of(match.group(1))

    def reference_for(self, width: float) -> str:
        """The TFLite float model whose int8 drop applies at ``width`` (the nearest measured width)."""
        nearest = min(self.int8_reference, key=lambda w: (abs(w - width), -w))
        return self.int8_reference[nearest]


_V1 = {1.0: "Mobilenet_V1_1.0_224", 0.75: "Mobilenet_V1_0.75_224", 0.5: "Mobilenet_V1_0.50_224",
       0.25: "Mobilenet_V1_0.25_224"}

FAMILIES: tuple[Family, ...] = (
    Family("mobilenet", "MobileNet v1", _V1,
           "measured for this family at each width (TFLite MobileNet v1 224, float vs quant)"),
    Family("mobilenetv2", "MobileNet v2", {1.0: "Mobilenet_V2_1.0_224"},
           "measured for this family at width 1.0 only (TFLite MobileNet v2 1.0 224); applied to every width"),
    Family("fdmobilenet", "FD-MobileNet", dict(_V1),
           "nearest measured: MobileNet v1 at the same width (FD-MobileNet is MobileNet v1's depthwise-separable"
           " blocks with fast downsampling; no FD-MobileNet int8 accuracy is published)"),
    Family("resnet18", "ResNet-18", {1.0: "Inception_V3"},
           "nearest measured: Inception v3 (no ResNet int8 pair in the table; Inception v3 is the closest in "
           "compute of the measured standard-convolution networks, which lose less than depthwise ones)"),
)


def family_of(model: str, families: tuple[Family, ...] = FAMILIES) -> Family | None:
    """The family a model belongs to, or None."""
    for family in families:
        if family.matches(model):
            return family
    return None
