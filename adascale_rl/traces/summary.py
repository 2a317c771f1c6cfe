"""Summaries of a trace for people: duration, period, per-column min/mean/max and the state mix."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from adascale_rl.traces.schema import NUMERIC_COLUMNS, Trace


def column_stats(trace: Trace) -> pd.DataFrame:
    """One row per numeric column (except time): unit, min, mean, max and how many samples are NaN."""
    rows = []
    for spec in NUMERIC_COLUMNS[1:]:
        values = trace.column(spec.name)
        known = values[~np.isnan(values)]
        rows.append({
            "column": spec.name, "unit": spec.unit or "fraction",
            "min": float(known.min()) if known.size else np.nan,
            "mean": float(known.mean()) if known.size else np.nan,
            "max": float(known.max()) if known.size else np.nan,
            "nan": int(values.size - known.size),
        })
    return pd.DataFrame(rows)


def state_mix(trace: Trace) -> dict[str, int]:
    """Samples per state label, most frequent first (empty labels shown as ``(none)``)."""
    counts = Counter(label or "(none)" for label in trace.state.tolist())
    return dict(counts.most_common())
