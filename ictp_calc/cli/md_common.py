"""Shared pieces of the subcommands: the ``--model`` option, exit codes, interrupts, the command line."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import threading
import warnings
from typing import Dict, Iterator

import click

from ..data.domain import OutOfDomainWarning
from ..inference import CompileFallbackWarning
from ..md.errors import MDError, RunInterrupted

__all__ = ["model_option", "exit_codes", "command_line", "domain_warnings_as_lines", "EXIT_CODE_HELP"]

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
def domain_warnings_as_lines() -> Iterator[None]:
    """Inside the block, an :class:`~ictp_calc.data.domain.OutOfDomainWarning` is a line of the
    command's output on stderr (``Warning: out of the training domain: ...``), every time one is
    raised (the calculator raises it once per structure), and so is a
    :class:`~ictp_calc.inference.CompileFallbackWarning`; other warnings are shown as usual."""
    with warnings.catch_warnings():  # restores the filters and showwarning afterwards
        warnings.simplefilter("always", OutOfDomainWarning)
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, OutOfDomainWarning):
                click.echo(f"Warning: out of the training domain: {message}", err=True)
            elif issubclass(category, CompileFallbackWarning):
                click.echo(f"Warning: {message}", err=True)
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


@contextlib.contextmanager
def exit_codes(what: str = "the command", hint: str = "") -> Iterator[None]:
    """Report failures as ``Error: ...`` on stderr with their exit code, never a traceback.

    * :class:`~ictp_calc.md.errors.MDError`: its ``exit_code``;
    * Ctrl-C: 130; SIGTERM (turned into an interrupt while the block runs): 143. Library code that
      checkpoints on a signal (``run_md``) installs its own handlers inside the block.

    Out-of-domain warnings become lines of the output (:func:`domain_warnings_as_lines`).
    """
    received: Dict[str, int] = {}

    def on_sigterm(signum, frame):
        received["signum"] = signum
        raise KeyboardInterrupt

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, on_sigterm) if main else None
    try:
        with domain_warnings_as_lines():
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
