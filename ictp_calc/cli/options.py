"""Shared click parameter types."""

from __future__ import annotations

import re
from typing import Optional

import click

from ..inference.threads import SMALL_SYSTEM_ATOMS, choose_threads

__all__ = ["Duration", "DURATION", "apply_threads", "threads_option"]

_PART = re.compile(r"(\d+(?:\.\d*)?)([dhms])")
_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


class Duration(click.ParamType):
    """Seconds from ``3600``, ``90s``, ``45m``, ``2h``, ``1h30m`` or ``1d``."""

    name = "duration"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return float(value)
        text = str(value).strip().lower()
        try:
            return float(text)
        except ValueError:
            pass
        parts = _PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            self.fail(f"{value!r} is not a duration (e.g. 3600, 45m, 2h, 1h30m)", param, ctx)
        return sum(float(n) * _SECONDS[u] for n, u in parts)


DURATION = Duration()


threads_option = click.option(
    "--threads", type=click.IntRange(min=1), default=None,
    help=f"CPU threads of torch [default: 1 below {SMALL_SYSTEM_ATOMS} atoms per evaluation, else all cores].",
)


def apply_threads(requested: Optional[int], n_atoms: Optional[int]) -> int:
    """Set this process's torch threads (the CLI owns its process; the library never does this)."""
    import torch

    threads = choose_threads(requested, n_atoms)
    torch.set_num_threads(threads)
    return threads
