"""Progress line of an MD run: steps done, steps/s, ns/day and ETA, redrawn at most a few times a second."""

from __future__ import annotations

import sys
import time
from typing import Callable, Optional, TextIO

__all__ = ["Progress", "ns_per_day", "format_duration"]


def ns_per_day(steps_per_s: float, timestep_fs: float) -> float:
    """Simulated ns per day of wall time at ``steps_per_s`` steps of ``timestep_fs`` fs."""
    return steps_per_s * timestep_fs * 86400.0 * 1e-6


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Throttled progress line on a stream.

    On a terminal the line is redrawn in place (``\\r``) at most every ``every_s`` seconds; elsewhere
    (logs of background runs) a full line is printed every ``every_s * 60`` seconds, so logs stay short.

    Args:
        first_step, last_step: the step range of this segment.
        timestep_fs: fs, for ns/day.
        stream: where to draw (default stderr); None draws nothing.
        every_s: seconds between redraws on a terminal.
        clock: time source (tests pass a fake one).
    """

    def __init__(
        self, first_step: int, last_step: int, timestep_fs: float, stream: Optional[TextIO] = sys.stderr,
        every_s: float = 0.5, clock: Callable[[], float] = time.perf_counter,
    ):
        self.first, self.last, self.timestep_fs = first_step, last_step, timestep_fs
        self.stream, self.clock = stream, clock
        self.tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())
        self.every_s = every_s if self.tty else every_s * 60
        self.start = clock()
        self._next = self.start + self.every_s
        self._drawn = False

    def rate(self, step: int) -> float:
        """Steps per second so far in this segment."""
        elapsed = self.clock() - self.start
        return (step - self.first) / elapsed if elapsed > 0 else 0.0

    def line(self, step: int) -> str:
        rate = self.rate(step)
        total = max(self.last - self.first, 1)
        eta = (self.last - step) / rate if rate > 0 else float("nan")
        eta_text = format_duration(eta) if eta == eta else "?"
        return (
            f"step {step}/{self.last} ({100.0 * (step - self.first) / total:5.1f}%) | {rate:8.2f} steps/s | "
            f"{ns_per_day(rate, self.timestep_fs):8.3f} ns/day | ETA {eta_text}"
        )

    def update(self, step: int) -> None:
        """Call after every step; draws only when due (one clock read otherwise)."""
        if self.stream is None:
            return
        now = self.clock()
        if now < self._next:
            return
        self._next = now + self.every_s
        self._draw(step)

    def _draw(self, step: int) -> None:
        if self.tty:
            self.stream.write("\r" + self.line(step))
        else:
            self.stream.write(self.line(step) + "\n")
        self.stream.flush()
        self._drawn = True

    def close(self, step: int) -> None:
        """Final line (always drawn when a stream is set)."""
        if self.stream is None:
            return
        self._draw(step)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
