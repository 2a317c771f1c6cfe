"""Locating data bundled inside the package (works from a checkout, an editable and a wheel install)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def data_path(*parts: str) -> Path:
    """Path of a file or folder under ``adascale_rl/data``."""
    return Path(str(resources.files("adascale_rl").joinpath("data", *parts)))
