"""``adascale-rl supernet``: commands for the supernet subpackage."""

from __future__ import annotations

import click


@click.group()
def supernet() -> None:
    """Commands for the supernet subpackage."""
