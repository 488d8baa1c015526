"""Shared click parameter types."""

from __future__ import annotations

import re
from typing import Optional

import click

from ..inference.threads import ONE_THREAD_EDGES, choose_threads

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
    help="CPU threads of torch [default: all cores]; a molecule's evaluations (graphs of fewer than "
         f"{ONE_THREAD_EDGES['float64']} edges in float64, {ONE_THREAD_EDGES['float32']} in float32) "
         "run on one, which is faster.",
)


def apply_threads(requested: Optional[int]) -> int:
    """Set this process's torch threads (the CLI owns its process; the library never does this)."""
    import torch

    threads = choose_threads(requested)
    torch.set_num_threads(threads)
    return threads
