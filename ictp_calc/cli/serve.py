"""``ictp-md serve STRUCTURE``: an i-PI force client with the shipped or a given model."""

from __future__ import annotations

import logging

import click

from ..ipi import serve_structure
from ..md import InputError
from .md_common import exit_codes, model_option
from .options import DURATION, apply_threads, threads_option

__all__ = ["serve_command"]

SERVE_EXIT_CODES = (
    "Exit codes: 0 i-PI ended the run (EXIT), 2 usage error, 3 i-PI sent positions the model cannot evaluate, "
    "5 input or model error (including an atom count that differs from STRUCTURE), "
    "6 no i-PI server before the connect timeout, or the connection was lost before EXIT, 130 interrupted."
)


@click.command("serve", epilog=SERVE_EXIT_CODES)
@click.argument("structure", type=click.Path(exists=True, dir_okay=False))
@click.option("--unix", metavar="NAME",
              help="i-PI's UNIX socket: its <address> NAME (socket /tmp/ipi_NAME), or a path containing '/'.")
@click.option("--host", help="i-PI's TCP host (with --port); TCP_NODELAY is set on the socket.")
@click.option("--port", type=click.IntRange(1, 65535), help="i-PI's TCP port (with --host).")
@model_option
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), help="Inference dtype [default: the model's].")
@click.option("--skin", type=float, default=0.5, show_default=True, help="Verlet neighbor-list skin, Å.")
@threads_option
@click.option("--compile/--no-compile", "compile", default=False, show_default=True,
              help="Compile the model (torch.compile) before connecting: a minute or more on a CPU, then faster "
                   "calls; pays for a client that serves many thousand calls.")
@click.option("--connect-timeout", type=DURATION, default="60s", show_default=True,
              help="Keep retrying the connection this long (i-PI needs a few seconds to listen).")
def serve_command(structure, unix, host, port, model, device, dtype, skin, threads, compile, connect_timeout):
    """Serve i-PI's force requests for STRUCTURE until i-PI ends the run.

    STRUCTURE gives the elements, their order and pbc (i-PI sends positions only); it must be the
    structure i-PI simulates. Keep molecules non-periodic: the cell i-PI sends is then ignored. Run
    one client per replica or bead (or let several share one socket). A summary of the calls and
    their timing is printed on stderr at the end.
    """
    with exit_codes():
        if (unix is None) == (host is None and port is None) or (host is None) != (port is None):
            raise InputError("give either --unix NAME or both --host and --port")
        apply_threads(threads)  # the command owns its process
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        try:
            result = serve_structure(structure, model=model, device=device, dtype=dtype, skin=skin, unix=unix,
                                     host=host, port=port, connect_timeout_s=connect_timeout, compile=compile)
        except KeyboardInterrupt:
            click.echo("Interrupted: the client left; i-PI hands its request to another client", err=True)
            raise click.exceptions.Exit(130) from None
    click.echo(result.summary(), err=True)
