"""Shared pieces of the subcommands: the ``--model`` option, exit codes, interrupts, the command line."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import threading
from typing import Dict, Iterator

import click

from ..md.errors import MDError, RunInterrupted

__all__ = ["model_option", "exit_codes", "command_line", "EXIT_CODE_HELP"]

EXIT_CODE_HELP = (
    "Exit codes: 0 success, 2 usage error, 3 stopped by the health monitor, 4 optimization not converged, "
    "5 input or model error, 130 interrupted by Ctrl-C, 143 stopped by SIGTERM (checkpoint written)."
)

model_option = click.option(
    "--model", default=None, metavar="FILE|NAME",
    help="Model file, or the name of a shipped model (see 'ictp-md info'). [default: ictp-3bpa]",
)


def command_line() -> str:
    """This process's command line, quoted so that a shell can run it again (``ictp-md run 'my file.xyz'``)."""
    return shlex.join([os.path.basename(sys.argv[0]) or "ictp-md", *sys.argv[1:]])


@contextlib.contextmanager
def exit_codes(what: str = "the command", hint: str = "") -> Iterator[None]:
    """Report failures as ``Error: ...`` on stderr with their exit code, never a traceback.

    * :class:`~ictp_calc.md.errors.MDError`: its ``exit_code``;
    * Ctrl-C: 130; SIGTERM (turned into an interrupt while the block runs): 143. Library code that
      checkpoints on a signal (``run_md``) installs its own handlers inside the block.
    """
    received: Dict[str, int] = {}

    def on_sigterm(signum, frame):
        received["signum"] = signum
        raise KeyboardInterrupt

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_sigterm) if main else None
    try:
        yield
    except MDError as err:
        code = err.exit_code
        if isinstance(err, RunInterrupted) and "signum" in received:
            code = 128 + received["signum"]
        click.echo(f"Error: {err}", err=True)
        raise click.exceptions.Exit(code) from err
    except KeyboardInterrupt as err:
        signum = received.get("signum", signal.SIGINT)
        click.echo(f"Error: {what} was interrupted by {signal.Signals(signum).name}{hint}", err=True)
        raise click.exceptions.Exit(128 + signum) from err
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
