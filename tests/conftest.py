"""Shared fixtures."""

from __future__ import annotations

import os

# Plots are written to files; never try to open a window.
os.environ.setdefault("MPLBACKEND", "Agg")
