"""Policies shipped with the package, so evaluation works without training."""

from __future__ import annotations

from pathlib import Path

from adascale_rl._resources import data_path


def bundled_policy(scenario_name: str) -> Path:
    """Folder of the exported policy bundled for a scenario (``adascale_rl/data/policies/NAME``)."""
    path = data_path("policies", scenario_name)
    if not path.is_dir():
        raise KeyError(f"no policy bundled for scenario {scenario_name!r}; train one with "
                       f"`adascale-rl train --scenario {scenario_name} --out runs/NAME` and pass --policy")
    return path
