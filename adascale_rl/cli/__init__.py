"""The ``adascale-rl`` command. Thin: every verb parses options and calls a library function.

Each domain registers its command group from its own module (``cli/traces.py``, ``cli/catalog.py`` …)
so heavy imports (torch, SB3) happen only when that verb runs.
"""

from __future__ import annotations

import sys

import click

from adascale_rl import __version__
from adascale_rl.errors import DataError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="adascale-rl")
def cli() -> None:
    """Train, evaluate and deploy context-aware DNN scaling controllers."""


def _register() -> None:
    from adascale_rl.cli import agents, bridge, catalog, experiment, export, supernet, traces

    cli.add_command(traces.traces)
    cli.add_command(catalog.catalog)
    cli.add_command(supernet.supernet)
    for command in (agents.train, agents.evaluate_cmd, agents.quickstart, agents.scenarios):
        cli.add_command(command)
    cli.add_command(bridge.bridge)
    cli.add_command(export.export)
    cli.add_command(experiment.experiment)
    cli.add_command(experiment.tune)


_register()


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: every error is one ``error: …`` line on stderr and exit status 2.

    That covers click's own errors (a usage error also names the verb's ``--help``), ``ClickException``
    raised by a verb, bad input (``DataError``, ``ValueError``, ``KeyError``) and what the system refused
    (``OSError``: a missing file, no permission, a port in use). Ctrl-C prints ``aborted``, status 130.
    """
    try:
        status = cli.main(args=argv, prog_name="adascale-rl", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        click.echo(f"error: {exc.format_message().rstrip('.')}{hint}", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return 2
    except (DataError, KeyError, OSError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        click.echo(f"error: {message}", err=True)
        return 2
    return status if isinstance(status, int) else 0  # a verb's ctx.exit(N)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
