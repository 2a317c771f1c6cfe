"""``adascale-rl catalog``: commands for the catalog subpackage."""

from __future__ import annotations

import click


@click.group()
def catalog() -> None:
    """Commands for the catalog subpackage."""
