"""The bridge's online profiler: every request a device serves updates a per-(variant, configuration)
estimate of its service time, latency and energy, so the catalog can be corrected from what the device
really does (``bridge run`` writes it on exit; ``adascale-rl catalog calibrate`` merges it into a catalog).

**Estimator** (:class:`QuantileEWMA`): an exponentially weighted moving average of *batch quantiles*.
Samples collect in a buffer; every ``batch`` samples the buffer's exact p25/p50/p75/p95 enter the estimate
with weight ``batch / min(samples so far, horizon)`` — the count-weighted mean of all batches until
``horizon`` samples have been seen, then an EWMA whose memory is about ``horizon`` samples. Why this and
not a running mean: one 30 ms stall of a 0.4 ms inference moves a mean by more than its whole spread,
but a batch p50 not at all and a batch p95 by at most one order statistic; and a device's behaviour
drifts (thermal state, other apps), which the finite memory follows. Reading the estimate includes the
samples of the partly filled batch (with their weight, but quantiles taken over the last ``batch``
samples, so one odd sample is still one order statistic among many), so it never lags by a batch.
``count`` is exact.

**What is recorded per request** (see :mod:`adascale_rl.catalog.calibrate` for the file): latency
(arrival → result), the simulator's *service time* (from when the server could start it → result) made
nominal-equivalent by removing the contention slow-down the latency model already predicts, and the
request's energy.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass

import numpy as np
import pandas as pd

from adascale_rl.catalog.calibrate import LIVE_PROFILE_COLUMNS, LiveProfile
from adascale_rl.catalog.variant_table import VariantTable

QUANTILES = (25.0, 50.0, 75.0, 95.0)
DEFAULT_BATCH = 50
DEFAULT_HORIZON = 2000


class QuantileEWMA:
    """Running estimate of a few quantiles of a stream (see module docstring); also a running mean."""

    def __init__(self, quantiles: tuple[float, ...] = QUANTILES, *, batch: int = DEFAULT_BATCH,
                 horizon: int = DEFAULT_HORIZON) -> None:
        if batch < 1 or horizon < batch:
            raise ValueError(f"need 1 <= batch <= horizon, got batch={batch}, horizon={horizon}")
        self.quantiles = tuple(float(q) for q in quantiles)
        self.batch = batch
        self.horizon = horizon
        self.count = 0
        self._merged = 0  # samples already folded into the estimate
        self._estimate = np.zeros(len(self.quantiles))
        self._mean = 0.0
        self._buffer: list[float] = []
        self._recent: deque[float] = deque(maxlen=batch)  # the last `batch` samples, across batches

    def add(self, value: float) -> None:
        """One sample (non-finite values are refused: a NaN must never reach a catalog)."""
        if not math.isfinite(value):
            raise ValueError(f"sample must be finite, got {value!r}")
        self.count += 1
        self._buffer.append(float(value))
        self._recent.append(float(value))
        if len(self._buffer) >= self.batch:
            self._estimate, self._mean, self._merged = self._folded()
            self._buffer.clear()

    def _folded(self) -> tuple[np.ndarray, float, int]:
        """(quantiles, mean, merged count) with the buffer folded in (unchanged if it is empty)."""
        if not self._buffer:
            return self._estimate, self._mean, self._merged
        size = len(self._buffer)
        weight = size / min(self._merged + size, self.horizon)
        batch_q = np.percentile(self._recent, self.quantiles)  # == the buffer once it is a full batch
        batch_mean = float(np.mean(self._buffer))
        return ((1.0 - weight) * self._estimate + weight * batch_q, (1.0 - weight) * self._mean + weight * batch_mean,
                self._merged + size)

    def values(self) -> dict[float, float]:
        """Current quantile estimates (NaN before the first sample)."""
        if not self.count:
            return {q: math.nan for q in self.quantiles}
        return dict(zip(self.quantiles, self._folded()[0].tolist(), strict=True))

    @property
    def mean(self) -> float:
        """Running (EWMA) mean, NaN before the first sample."""
        return self._folded()[1] if self.count else math.nan


@dataclass
class _Cell:
    service: QuantileEWMA
    latency: QuantileEWMA
    energy: QuantileEWMA
    count: int = 0
    slowdown_sum: float = 0.0
    slowdown_n: int = 0


class OnlineProfiler:
    """Per (variant, configuration) serving estimates for one catalog; thread-safe :meth:`record`."""

    def __init__(self, table: VariantTable, *, batch: int = DEFAULT_BATCH, horizon: int = DEFAULT_HORIZON) -> None:
        self.table = table
        self.batch = batch
        self.horizon = horizon
        self._cells: dict[tuple[int, int], _Cell] = {}
        self._lock = threading.Lock()

    def _estimator(self) -> QuantileEWMA:
        return QuantileEWMA(batch=self.batch, horizon=self.horizon)

    def _cell(self, key: tuple[int, int]) -> _Cell:
        cell = self._cells.get(key)
        if cell is None:
            cell = self._cells[key] = _Cell(self._estimator(), self._estimator(), self._estimator())
        return cell

    def record(self, variant: int, config: int, *, latency_ms: float, service_ms: float, slowdown: float,
               energy_mj: float) -> None:
        """One served request of ``variant`` on configuration index ``config``.

        ``service_ms``: from when the server could start it to its result; ``slowdown``: the latency
        model's contention factor (sharing × frequency × heat) for that configuration at the time, ``inf``
        if the model says it could not be placed (then only latency and energy are recorded).
        """
        with self._lock:
            cell = self._cell((variant, config))
            cell.count += 1
            cell.latency.add(latency_ms)
            cell.energy.add(energy_mj)
            if math.isfinite(slowdown):
                nominal = service_ms - float(self.table.latency_ms[variant, config]) * (slowdown - 1.0)
                cell.service.add(max(nominal, 1e-6))
                cell.slowdown_sum += slowdown
                cell.slowdown_n += 1

    @property
    def total(self) -> int:
        """Requests recorded."""
        with self._lock:
            return sum(cell.count for cell in self._cells.values())

    def estimate(self, variant: int, config: int) -> dict[str, float]:
        """The current estimates of one cell (NaN where nothing was recorded)."""
        with self._lock:
            cell = self._cells.get((variant, config))
            return self._row(variant, config, cell) if cell else {}

    def _row(self, variant: int, config: int, cell: _Cell) -> dict[str, object]:
        service, latency = cell.service.values(), cell.latency.values()
        return {"variant_id": str(self.table.variant_id[variant]), "config": self.table.configs[config],
                "count": cell.count, "service_count": cell.service.count,
                "service_p25_ms": service[25.0], "service_p50_ms": service[50.0], "service_p75_ms": service[75.0],
                "service_p95_ms": service[95.0],
                "latency_p50_ms": latency[50.0], "latency_p95_ms": latency[95.0], "energy_mj": cell.energy.mean,
                "slowdown_mean": cell.slowdown_sum / cell.slowdown_n if cell.slowdown_n else math.nan,
                "catalog_lat_ms": float(self.table.latency_ms[variant, config])}

    def live_profile(self) -> LiveProfile:
        """Everything recorded so far, one row per cell in catalog order (cells without service samples
        keep NaN service estimates out of the file by reporting 0 with ``service_count`` 0)."""
        with self._lock:
            rows = [self._row(v, c, cell) for (v, c), cell in sorted(self._cells.items())]
        frame = pd.DataFrame(rows, columns=list(LIVE_PROFILE_COLUMNS))
        return LiveProfile(self.table.device, frame.fillna(0.0), source="online profiler")
