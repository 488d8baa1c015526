"""Safe reading and atomic writing of ``torch.save`` files (model files, training checkpoints)."""

from __future__ import annotations

import os
from typing import Any, Type

import torch

__all__ = ["load_weights_only", "save_atomic"]


def save_atomic(payload: Any, path) -> None:
    """``torch.save`` to a temporary name, then rename: a crash never leaves half a file."""
    tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_weights_only(path, error: Type[Exception], what: str) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; any failure raises ``error`` with the reason.

    ``what`` names the expected kind of file in the message (e.g. ``"ictp_calc model file"``).
    """
    if not os.path.isfile(path):
        raise error(f"{what} {os.fspath(path)!r} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load raises many types (IndexError, EOFError, ...) on junk
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise error(f"{os.fspath(path)!r} is not a readable {what} ({reason})") from err
