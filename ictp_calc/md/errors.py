"""Typed failures of MD runs and optimizations, each with the process exit code of ``ictp-md``.

The command line maps an exception to its :attr:`MDError.exit_code`, so scripts that drive
``ictp-md`` can tell the outcomes apart without parsing messages:

====  =====================================================================================
code  meaning
====  =====================================================================================
0     success
1     an unexpected error (a bug; Python prints the traceback)
2     usage error (bad option or argument; reported by click)
3     :class:`HealthStop`: the health monitor stopped an unstable simulation
4     :class:`NotConvergedError`: a geometry optimization did not reach ``--fmax``
5     :class:`InputError`: unreadable structure, missing or broken model, unknown element,
      bad settings, or a restart that does not match its checkpoint
130   :class:`RunInterrupted`: Ctrl-C (SIGINT); a checkpoint was written, ``--restart`` continues
143   :class:`RunInterrupted`: SIGTERM (what batch schedulers send); the same, exit code 128 + 15
====  =====================================================================================
"""

from __future__ import annotations

from typing import Any, Dict, Optional

__all__ = [
    "EXIT_CODES",
    "MDError",
    "InputError",
    "RestartError",
    "HealthStop",
    "NotConvergedError",
    "RunInterrupted",
]


class MDError(Exception):
    """Base class; ``exit_code`` is the exit status of ``ictp-md`` for this failure."""

    exit_code = 1


class InputError(MDError, ValueError):
    """Unusable input: structure file, model file, elements or settings."""

    exit_code = 5


class RestartError(InputError):
    """No checkpoint to restart from, or settings that contradict it."""


class HealthStop(MDError):
    """The health monitor stopped the run.

    Attributes:
        reason: short machine-readable reason (``non_finite``, ``close_atoms``, ``temperature``,
            ``bond_stretch``).
        step: the MD step at which the problem was detected.
        details: primitives describing the trigger (values and thresholds).
        frame_path: the last good frame written, or None.
        report_path: the diagnostic JSON written, or None.
    """

    exit_code = 3

    def __init__(self, reason: str, step: int, message: str, details: Optional[Dict[str, Any]] = None):
        super().__init__(message)
        self.reason, self.step, self.message = reason, step, message
        self.details: Dict[str, Any] = dict(details or {})
        self.frame_path: Optional[str] = None
        self.report_path: Optional[str] = None

    def __str__(self) -> str:
        text = f"health monitor stopped the run at step {self.step}: {self.message}"
        if self.frame_path:
            text += f"; last good frame: {self.frame_path}"
        if self.report_path:
            text += f"; diagnostic: {self.report_path}"
        return text


class NotConvergedError(MDError):
    """A geometry optimization ended before the largest force fell below ``fmax``."""

    exit_code = 4


class RunInterrupted(MDError):
    """The run was interrupted (SIGINT or SIGTERM) after a complete step; a checkpoint was written.

    ``exit_code`` is 128 + the signal number: 130 for SIGINT (Ctrl-C), 143 for SIGTERM.
    """

    exit_code = 130

    def __init__(self, message: str, signum: int = 2):
        super().__init__(message)
        self.signum = int(signum)
        self.exit_code = 128 + self.signum


EXIT_CODES = {
    "ok": 0,
    "error": MDError.exit_code,
    "usage": 2,
    "health": HealthStop.exit_code,
    "not_converged": NotConvergedError.exit_code,
    "input": InputError.exit_code,
    "interrupted": RunInterrupted.exit_code,
}
