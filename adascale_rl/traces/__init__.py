"""Real device resource traces: schema, loading and validation, importers, resampling, recorders."""

from adascale_rl.traces.importers import import_psutil_csv, import_trace
from adascale_rl.traces.io import load_trace, save_trace
from adascale_rl.traces.manifest import TraceEntry, find_entry, load_manifest, load_split, split_entries
from adascale_rl.traces.ops import random_segment, resample, whole
from adascale_rl.traces.schema import COLUMNS, ResourceSample, Trace, TraceMeta

__all__ = [
    "COLUMNS", "ResourceSample", "Trace", "TraceEntry", "TraceMeta", "find_entry", "import_psutil_csv",
    "import_trace", "load_manifest", "load_split", "load_trace", "random_segment", "resample",
    "save_trace", "split_entries", "whole",
]
