"""Real device resource traces: schema, loading and validation, importers, resampling, recorders.

Modules: ``schema`` (columns, :class:`Trace`), ``io`` (load/save canonical CSV), ``validation``,
``importers`` (psutil CSV), ``manifest`` (bundled traces and the train/test split), ``ops``
(resample, episode cutting), ``summary``, ``plot`` (PNG), ``parsers`` (kernel/Android text),
``recorder`` (sampling loop), ``record_local`` (this Linux machine), ``record_adb`` (Android over adb).
Plotting and recording are imported from their modules so that loading a trace never pulls in
matplotlib or adbutils.
"""

from adascale_rl.traces.importers import import_psutil_csv, import_trace
from adascale_rl.traces.io import load_trace, save_trace
from adascale_rl.traces.manifest import TraceEntry, find_entry, load_manifest, load_split, split_entries
from adascale_rl.traces.ops import random_segment, resample, whole
from adascale_rl.traces.schema import COLUMNS, ResourceSample, Trace, TraceMeta
from adascale_rl.traces.validation import validate_trace

__all__ = [
    "COLUMNS", "ResourceSample", "Trace", "TraceEntry", "TraceMeta", "find_entry", "import_psutil_csv",
    "import_trace", "load_manifest", "load_split", "load_trace", "random_segment", "resample",
    "save_trace", "split_entries", "validate_trace", "whole",
]
