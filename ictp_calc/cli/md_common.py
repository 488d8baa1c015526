"""Shared pieces of the MD subcommands: the ``--model`` option and the mapping of errors to exit codes."""

from __future__ import annotations

import contextlib
from typing import Iterator

import click

from ..md.errors import MDError

__all__ = ["model_option", "exit_codes", "EXIT_CODE_HELP"]

EXIT_CODE_HELP = (
    "Exit codes: 0 success, 2 usage error, 3 stopped by the health monitor, 4 optimization not converged, "
    "5 input or model error, 130 interrupted (checkpoint written)."
)

model_option = click.option(
    "--model", default=None, metavar="FILE|NAME",
    help="Model file, or the name of a shipped model (see 'ictp-md info'). [default: ictp-3bpa]",
)


@contextlib.contextmanager
def exit_codes() -> Iterator[None]:
    """Report an :class:`~ictp_calc.md.errors.MDError` as ``Error: ...`` on stderr and exit with its code."""
    try:
        yield
    except MDError as err:
        click.echo(f"Error: {err}", err=True)
        raise click.exceptions.Exit(err.exit_code) from err
