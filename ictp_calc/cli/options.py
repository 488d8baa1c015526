"""Shared click parameter types."""

from __future__ import annotations

import re

import click

__all__ = ["Duration", "DURATION"]

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
