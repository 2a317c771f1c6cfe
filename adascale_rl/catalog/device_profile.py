"""Device profiles: CPU clusters with their power model, memory, thermal limit, compute configurations.

A profile is a TOML file (bundled ones live in ``adascale_rl/data/devices/``)::

    name = "pixel4"
    description = "Google Pixel 4 (Snapdragon 855)"
    ram_mb = 6144
    throttle_c = 45.0          # SoC temperature above which the device throttles
    load_mb_per_s = 400.0      # storage read speed used for model (re)load time on a switch
    idle_w = 0.3               # whole-device floor power while the model runs (display off)
    sources = ["..."]          # where the figures come from

    [[clusters]]
    name = "large"
    cores = 1
    core_type = "Kryo 485 Gold prime (Cortex-A76)"
    max_mhz = 2841
    active_w = 1.2            # power of one busy core at max frequency (W)
    idle_w = 0.02             # power of one idle core (W)
    freq_exponent = 2.5       # active power scales as (f / f_max) ** freq_exponent
    source = "..."            # citation; prefix with "estimated:" where no measurement was found

    [[configs]]
    name = "1large"
    cores = { large = 1 }

Power model: a core running at frequency fraction ``f`` draws ``idle_w + (active_w − idle_w)·f**α``;
energy per inference on configuration ``c`` is that power summed over the cores ``c`` uses, times the
latency. This is a model, and every number derived from it is labelled "modelled".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

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

    def core_power_w(self, busy: bool, freq_frac: float = 1.0) -> float:
        """Power of one core of this cluster, busy or idle, at a frequency fraction."""
        if not busy:
            return self.idle_w
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
        clusters.append(cluster)
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
    )


def bundled_profile(name: str) -> DeviceProfile:
    """A profile shipped with the package (``adascale_rl/data/devices/NAME.toml``)."""
    path = data_path("devices", f"{name}.toml")
    if not path.is_file():
        known = sorted(p.stem for p in data_path("devices").glob("*.toml"))
        raise KeyError(f"no bundled device profile {name!r}; known: {', '.join(known)}")
    return load_profile(path)


def _positive(table: dict, key: str, where: str | Path) -> float:
    value = float(require(table, key, (int, float), where))
    if not (math.isfinite(value) and value > 0):
        raise DataError(where, f"key '{key}' must be a positive number", value=value)
    return value


def _non_negative(table: dict, key: str, where: str | Path) -> float:
    value = float(require(table, key, (int, float), where))
    if not (math.isfinite(value) and value >= 0):
        raise DataError(where, f"key '{key}' must be a non-negative number", value=value)
    return value
