"""The canonical trace schema: what one instant of device state is, and a trace of them.

Columns (all float64 except ``state``):

=================  ======  ================================================================  ===========
column             unit    meaning                                                            NaN allowed
=================  ======  ================================================================  ===========
``t_s``            s       seconds since the trace started, strictly increasing               no
``cpu_freq_frac``  1       current CPU frequency / the device's maximum frequency, in (0, 1]  yes (unknown)
``cpu_bg_util``    1       share of total CPU capacity used by other processes, in [0, 1]     no
``mem_avail_frac`` 1       share of RAM available to a new process, in [0, 1]                 no
``temp_c``         °C      SoC temperature, in [-40, 150]                                     yes (unknown)
``battery_frac``   1       battery charge, in [0, 1]                                          yes (no battery)
``state``          label   what the device was doing (e.g. ``game``); may be empty            n/a
=================  ======  ================================================================  ===========
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True)
class ColumnSpec:
    """Physical range and NaN policy of one numeric trace column."""

    name: str
    unit: str
    low: float
    high: float
    nan_allowed: bool
    low_inclusive: bool = True
    description: str = ""

    def expected(self) -> str:
        """Human-readable statement of the allowed range, used in error messages."""
        left = "[" if self.low_inclusive else "("
        return f"a number in {left}{self.low:g}, {self.high:g}] {self.unit}".rstrip()


NUMERIC_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("t_s", "s", 0.0, 1e9, False, description="seconds since the trace started"),
    ColumnSpec("cpu_freq_frac", "", 0.0, 1.0, True, low_inclusive=False,
               description="current CPU frequency / device maximum"),
    ColumnSpec("cpu_bg_util", "", 0.0, 1.0, False, description="share of CPU capacity used by others"),
    ColumnSpec("mem_avail_frac", "", 0.0, 1.0, False, description="share of RAM available"),
    ColumnSpec("temp_c", "°C", -40.0, 150.0, True, description="SoC temperature"),
    ColumnSpec("battery_frac", "", 0.0, 1.0, True, description="battery charge"),
)
STATE_COLUMN = "state"
COLUMNS: tuple[str, ...] = (*(spec.name for spec in NUMERIC_COLUMNS), STATE_COLUMN)
SPEC_BY_NAME: dict[str, ColumnSpec] = {spec.name: spec for spec in NUMERIC_COLUMNS}


@dataclass(frozen=True)
class ResourceSample:
    """One instant of device state (see the module docstring for units)."""

    t_s: float
    cpu_freq_frac: float
    cpu_bg_util: float
    mem_avail_frac: float
    temp_c: float = float("nan")
    battery_frac: float = float("nan")
    state: str = ""


@dataclass(frozen=True)
class TraceMeta:
    """Where a trace comes from and what device it describes."""

    name: str
    device: str = "unknown"
    source: str = ""
    license: str = ""
    cores: int | None = None
    max_mhz: float | None = None
    ram_mb: float | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)  # eq written below: numpy columns need element-wise comparison
class Trace:
    """A validated, time-ordered series of resource samples stored as numpy columns."""

    t_s: np.ndarray
    cpu_freq_frac: np.ndarray
    cpu_bg_util: np.ndarray
    mem_avail_frac: np.ndarray
    temp_c: np.ndarray
    battery_frac: np.ndarray
    state: np.ndarray
    meta: TraceMeta = field(default_factory=lambda: TraceMeta(name="trace"))

    def __len__(self) -> int:
        return int(self.t_s.shape[0])

    def __eq__(self, other: object) -> bool:
        """Same metadata and same values column by column (NaN equals NaN: NaN means "unknown" here)."""
        if not isinstance(other, Trace):
            return NotImplemented
        if self.meta != other.meta or len(self) != len(other):
            return False
        numeric = all(np.array_equal(self.column(spec.name), other.column(spec.name), equal_nan=True)
                      for spec in NUMERIC_COLUMNS)
        return numeric and bool(np.array_equal(self.state, other.state))

    __hash__ = None  # type: ignore[assignment]  # numpy payload: not hashable

    @property
    def duration_s(self) -> float:
        """Time from the first to the last sample."""
        return float(self.t_s[-1] - self.t_s[0]) if len(self) else 0.0

    @property
    def period_s(self) -> float:
        """Median sampling period (the nominal one; real samplers jitter)."""
        return float(np.median(np.diff(self.t_s))) if len(self) > 1 else 0.0

    def column(self, name: str) -> np.ndarray:
        """Column by name (``KeyError`` naming the valid columns otherwise)."""
        if name not in COLUMNS:
            raise KeyError(f"unknown trace column {name!r}; columns are {', '.join(COLUMNS)}")
        return getattr(self, name)

    def sample(self, index: int) -> ResourceSample:
        """The sample at ``index`` as a :class:`ResourceSample`."""
        return ResourceSample(**{name: self.column(name)[index].item() for name in COLUMNS})

    def slice(self, start: int, stop: int) -> Trace:
        """Samples ``start:stop`` with time re-based to start at 0."""
        columns = {name: self.column(name)[start:stop] for name in COLUMNS}
        columns["t_s"] = columns["t_s"] - columns["t_s"][0]
        return replace(self, **columns)

    @classmethod
    def from_columns(cls, columns: dict[str, np.ndarray], meta: TraceMeta) -> Trace:
        """Build from a mapping of column arrays (float64 for numeric columns, str for ``state``)."""
        missing = [name for name in COLUMNS if name not in columns]
        if missing:
            raise KeyError(f"missing trace column(s) {', '.join(missing)}")
        numeric = {spec.name: np.asarray(columns[spec.name], dtype=np.float64) for spec in NUMERIC_COLUMNS}
        state = np.asarray(columns[STATE_COLUMN], dtype=str)
        lengths = {name: len(array) for name, array in (*numeric.items(), (STATE_COLUMN, state))}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"trace columns have different lengths: {lengths}")
        return cls(**numeric, state=state, meta=meta)
