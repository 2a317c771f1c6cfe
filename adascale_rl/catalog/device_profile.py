"""Device profiles: CPU clusters with their power model, memory, thermal limit, compute configurations.

A profile is a TOML file (bundled ones live in ``adascale_rl/data/devices/``)::

    name = "pixel4"
    description = "Google Pixel 4 (Snapdragon 855)"
    ram_mb = 6144
    throttle_c = 45.0          # SoC temperature above which the device throttles
    load_mb_per_s = 400.0      # storage read speed used for model (re)load time on a switch
    idle_w = 0.3               # whole-device floor power while the model runs (display off)
    sources = ["..."]          # where the figures come from
    request_overhead_ms = 0.0  # optional: measured per-request serving overhead on top of catalog latency
    request_overhead_sd_ms = 0.0  # optional: its standard deviation

    [[clusters]]
    name = "large"
    cores = 1
    core_type = "Kryo 485 Gold prime (Cortex-A76)"
    max_mhz = 2841
    active_w = 1.2            # power of one busy core at max frequency (W)
    idle_w = 0.02             # power of one idle core (W)
    freq_exponent = 2.5       # active power scales as (f / f_max) ** freq_exponent
    source = "..."            # citation; prefix with "estimated:" where no measurement was found
    power_curve_mhz = [...]   # optional: measured per-core power at each DVFS step (ascending MHz) …
    power_curve_w = [...]     # … and the matching busy-core power (W); the last point is max_mhz/active_w

    [[configs]]
    name = "1large"
    cores = { large = 1 }

Power model: a core running at frequency fraction ``f`` draws ``idle_w + (active_w − idle_w)·f**α``;
where a cluster carries a measured ``power_curve_*`` (e.g. an Android ``power_profile.xml``, which lists
per-core current at every DVFS step), the busy-core power is instead interpolated linearly on that curve
at ``f·max_mhz`` (clamped to the curve's ends), because real curves have a static floor and a steep top
that one exponent cannot follow; ``freq_exponent`` is then the least-squares fit of the closed form to
the curve (see :func:`fit_freq_exponent`) for tools that want one number. Energy per inference on
configuration ``c`` is the busy power summed over the cores ``c`` uses, times the latency. This is a
model, and every number derived from it is labelled "modelled".
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adascale_rl._resources import data_path
from adascale_rl._toml import load_toml, require
from adascale_rl.errors import DataError


@dataclass(frozen=True)
class Cluster:
    """A group of identical CPU cores sharing one frequency domain."""

    name: str
    cores: int
    core_type: str
    max_mhz: float
    active_w: float
    idle_w: float
    freq_exponent: float
    source: str
    power_curve_mhz: tuple[float, ...] = ()
    power_curve_w: tuple[float, ...] = ()

    def core_power_w(self, busy: bool, freq_frac: float = 1.0) -> float:
        """Power of one core of this cluster, busy or idle, at a frequency fraction.

        Uses the measured DVFS curve when the profile has one (more faithful than the exponent law,
        which overstates savings at low frequency because it has no static floor).
        """
        if not busy:
            return self.idle_w
        if self.power_curve_mhz:
            return float(np.interp(freq_frac * self.max_mhz, self.power_curve_mhz, self.power_curve_w))
        return self.idle_w + (self.active_w - self.idle_w) * freq_frac**self.freq_exponent


@dataclass(frozen=True)
class ComputeConfig:
    """A set of cores a variant's latency was measured on (e.g. ``1large1med``)."""

    name: str
    cores: dict[str, int]

    @property
    def n_cores(self) -> int:
        return sum(self.cores.values())


@dataclass(frozen=True)
class DeviceProfile:
    """What a device is made of and how much power it draws (see module docstring)."""

    name: str
    description: str
    ram_mb: float
    throttle_c: float
    load_mb_per_s: float
    idle_w: float
    clusters: tuple[Cluster, ...]
    configs: tuple[ComputeConfig, ...]
    sources: tuple[str, ...] = ()
    request_overhead_ms: float = 0.0
    request_overhead_sd_ms: float = 0.0

    @property
    def n_cores(self) -> int:
        return sum(cluster.cores for cluster in self.clusters)

    def cluster(self, name: str) -> Cluster:
        for cluster in self.clusters:
            if cluster.name == name:
                return cluster
        raise KeyError(f"device {self.name!r} has no cluster {name!r}")

    def config(self, name: str) -> ComputeConfig:
        for config in self.configs:
            if config.name == name:
                return config
        raise KeyError(f"device {self.name!r} has no compute configuration {name!r}; "
                       f"known: {', '.join(c.name for c in self.configs)}")

    @property
    def config_names(self) -> tuple[str, ...]:
        return tuple(config.name for config in self.configs)

    def active_power_w(self, config: str | ComputeConfig, freq_frac: float = 1.0) -> float:
        """Power drawn by the cores of ``config`` while they all run inference (W, modelled)."""
        config = self.config(config) if isinstance(config, str) else config
        return sum(count * self.cluster(name).core_power_w(True, freq_frac) for name, count in config.cores.items())

    def energy_per_inference_mj(self, config: str | ComputeConfig, latency_ms: float,
                                freq_frac: float = 1.0) -> float:
        """Modelled energy of one inference: active power of the config's cores × latency (mJ)."""
        return self.active_power_w(config, freq_frac) * latency_ms


def load_profile(path: str | Path) -> DeviceProfile:
    """Load and check a device profile TOML (every error names the file and the key)."""
    path = Path(path)
    doc = load_toml(path)
    clusters = []
    for index, record in enumerate(require(doc, "clusters", list, path)):
        where = f"{path} [[clusters]] #{index + 1}"
        cluster = Cluster(
            name=require(record, "name", str, where), cores=require(record, "cores", int, where),
            core_type=require(record, "core_type", str, where),
            max_mhz=_positive(record, "max_mhz", where), active_w=_positive(record, "active_w", where),
            idle_w=_non_negative(record, "idle_w", where),
            freq_exponent=_positive(record, "freq_exponent", where), source=require(record, "source", str, where),
        )
        if cluster.cores < 1:
            raise DataError(where, "cores must be at least 1", value=cluster.cores)
        if cluster.idle_w > cluster.active_w:
            raise DataError(where, "idle_w exceeds active_w", value=cluster.idle_w,
                            expected=f"at most active_w={cluster.active_w}")
        clusters.append(_with_curve(cluster, record, where))
    by_name = {cluster.name: cluster for cluster in clusters}
    configs = []
    for index, record in enumerate(require(doc, "configs", list, path)):
        where = f"{path} [[configs]] #{index + 1}"
        cores = require(record, "cores", dict, where)
        for cluster_name, count in cores.items():
            if cluster_name not in by_name:
                raise DataError(where, f"unknown cluster '{cluster_name}'", expected=f"one of {', '.join(by_name)}")
            if not isinstance(count, int) or not 1 <= count <= by_name[cluster_name].cores:
                raise DataError(where, f"bad core count for cluster '{cluster_name}'", value=count,
                                expected=f"an integer from 1 to {by_name[cluster_name].cores}")
        configs.append(ComputeConfig(name=require(record, "name", str, where), cores=dict(cores)))
    if not configs:
        raise DataError(path, "no [[configs]] entries", expected="at least one compute configuration")
    return DeviceProfile(
        name=require(doc, "name", str, path), description=require(doc, "description", str, path),
        ram_mb=_positive(doc, "ram_mb", path), throttle_c=float(require(doc, "throttle_c", (int, float), path)),
        load_mb_per_s=_positive(doc, "load_mb_per_s", path), idle_w=_non_negative(doc, "idle_w", path),
        clusters=tuple(clusters), configs=tuple(configs), sources=tuple(doc.get("sources", ())),
        request_overhead_ms=_optional_non_negative(doc, "request_overhead_ms", path),
        request_overhead_sd_ms=_optional_non_negative(doc, "request_overhead_sd_ms", path),
    )


def bundled_profile_names() -> tuple[str, ...]:
    """Names of the profiles shipped with the package, sorted."""
    return tuple(sorted(p.stem for p in data_path("devices").glob("*.toml")))


def bundled_profile(name: str) -> DeviceProfile:
    """A profile shipped with the package (``adascale_rl/data/devices/NAME.toml``)."""
    path = data_path("devices", f"{name}.toml")
    if not path.is_file():
        raise KeyError(f"no bundled device profile {name!r}; known: {', '.join(bundled_profile_names())}")
    return load_profile(path)


def fit_freq_exponent(curve_mhz: tuple[float, ...] | list[float], curve_w: tuple[float, ...] | list[float],
                      idle_w: float) -> float:
    """Least-squares exponent α of ``idle_w + (P_max − idle_w)·(f/f_max)**α`` to a measured curve.

    Profiles with a measured curve still state ``freq_exponent`` so that closed-form users get the best
    single number; this is how that number is obtained (a bounded 1-D search, deterministic).
    """
    mhz = np.asarray(curve_mhz, dtype=float)
    watts = np.asarray(curve_w, dtype=float)
    frac = mhz / mhz[-1]
    span = watts[-1] - idle_w
    grid = np.linspace(0.05, 6.0, 5901)
    errors = [float(np.sum((idle_w + span * frac**alpha - watts) ** 2)) for alpha in grid]
    return float(grid[int(np.argmin(errors))])


def _with_curve(cluster: Cluster, record: dict, where: str) -> Cluster:
    """Attach and check the optional measured DVFS power curve of a cluster."""
    has_mhz, has_w = "power_curve_mhz" in record, "power_curve_w" in record
    if not has_mhz and not has_w:
        return cluster
    if has_mhz != has_w:
        raise DataError(where, "power_curve_mhz and power_curve_w must be given together")
    mhz = require(record, "power_curve_mhz", list, where)
    watts = require(record, "power_curve_w", list, where)
    if len(mhz) != len(watts) or len(mhz) < 2:
        raise DataError(where, "power curve lengths differ or are too short", value=(len(mhz), len(watts)),
                        expected="two lists of equal length, at least 2 points")
    for key, values in (("power_curve_mhz", mhz), ("power_curve_w", watts)):
        for value in values:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value <= 0:
                raise DataError(where, f"bad value in '{key}'", value=value, expected="positive numbers")
    if any(b <= a for a, b in itertools.pairwise(mhz)):
        raise DataError(where, "power_curve_mhz is not strictly ascending", value=mhz)
    if not math.isclose(mhz[-1], cluster.max_mhz, rel_tol=1e-3):
        raise DataError(where, "power curve does not end at max_mhz", value=mhz[-1], expected=str(cluster.max_mhz))
    if not math.isclose(watts[-1], cluster.active_w, rel_tol=1e-6):
        raise DataError(where, "power curve does not end at active_w", value=watts[-1],
                        expected=str(cluster.active_w))
    return Cluster(**{**cluster.__dict__, "power_curve_mhz": tuple(float(v) for v in mhz),
                      "power_curve_w": tuple(float(v) for v in watts)})


def _positive(table: dict, key: str, where: str | Path) -> float:
    value = float(require(table, key, (int, float), where))
    if not (math.isfinite(value) and value > 0):
        raise DataError(where, f"key '{key}' must be a positive number", value=value)
    return value


def _optional_non_negative(table: dict, key: str, where: str | Path) -> float:
    return _non_negative(table, key, where) if key in table else 0.0


def _non_negative(table: dict, key: str, where: str | Path) -> float:
    value = float(require(table, key, (int, float), where))
    if not (math.isfinite(value) and value >= 0):
        raise DataError(where, f"key '{key}' must be a non-negative number", value=value)
    return value
