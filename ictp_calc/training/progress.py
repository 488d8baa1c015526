"""Progress reporting of a training run: a bar per epoch and one line per epoch.

The trainer talks to a :class:`Reporter`; the base class is silent (library use, tests) and
:class:`ClickReporter` draws click progress bars and prints lines (the command line).
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Dict, Iterable, Iterator, Optional

__all__ = ["Reporter", "ClickReporter", "format_epoch", "format_duration"]


class Reporter:
    """Silent reporter; subclasses override :meth:`progress` and :meth:`line`."""

    @contextlib.contextmanager
    def progress(self, iterable: Iterable, length: int, label: str) -> Iterator[Iterable]:
        """Wrap the batches of one epoch (a progress bar, or nothing)."""
        yield iterable

    def line(self, text: str) -> None:
        """One line of output (the epoch summary, start and end messages)."""


class ClickReporter(Reporter):
    """Click progress bars on stderr (only on a terminal) and lines on stdout.

    Args:
        show_bar: draw bars; None draws them only when stderr is a terminal, so that logs of
            background runs hold the epoch lines and no bar fragments.
    """

    def __init__(self, show_bar: Optional[bool] = None):
        self.show_bar = sys.stderr.isatty() if show_bar is None else show_bar

    @contextlib.contextmanager
    def progress(self, iterable: Iterable, length: int, label: str) -> Iterator[Iterable]:
        if not self.show_bar:
            yield iterable
            return
        import click

        with click.progressbar(iterable, length=length, label=label, file=sys.stderr, show_pos=True) as bar:
            yield bar

    def line(self, text: str) -> None:
        import click

        click.echo(text)


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def format_epoch(record: Dict[str, Any], max_epoch: int) -> str:
    """``epoch 12/2000 | loss 1.2e-02/3.4e-02 | E rmse 12.3/15.2 mae ... meV | F ... | lr | elapsed``.

    Pairs are train/valid; energies are total (meV), forces per component (meV/Å); ``*`` marks a
    new best validation loss.
    """
    r = record
    width = len(str(max_epoch))
    return (
        f"epoch {r['epoch']:{width}d}/{max_epoch} | loss {r['train_loss']:.3e}/{r['valid_loss']:.3e}"
        f" | E rmse {r['train_energy_rmse']:.2f}/{r['valid_energy_rmse']:.2f}"
        f" mae {r['train_energy_mae']:.2f}/{r['valid_energy_mae']:.2f} meV"
        f" | F rmse {r['train_forces_rmse']:.2f}/{r['valid_forces_rmse']:.2f}"
        f" mae {r['train_forces_mae']:.2f}/{r['valid_forces_mae']:.2f} meV/Å"
        f" | lr {r['lr']:.2e} | {format_duration(r['elapsed'])}{' *' if r.get('best') else ''}"
    )
