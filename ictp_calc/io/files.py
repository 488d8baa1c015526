"""Safe reading and atomic writing of ``torch.save`` files (model files, training checkpoints)."""

from __future__ import annotations

import codecs
import os
from typing import Any, Type

import torch

__all__ = ["load_weights_only", "save_atomic"]


def save_atomic(payload: Any, path) -> None:
    """``torch.save`` to a temporary name, then rename: a crash never leaves half a file."""
    tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
    torch.save(payload, tmp)
    os.replace(tmp, path)


def _is_text(head: bytes) -> bool:
    """Whether the first bytes of a file are UTF-8 text (a character cut at the end is fine)."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return b"\x00" not in head


def load_weights_only(path, error: Type[Exception], what: str) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; any failure raises ``error`` with the reason.

    ``what`` names the expected kind of file in the message (e.g. ``"ictp_calc model file"``).
    """
    if not os.path.isfile(path):
        raise error(f"{what} {os.fspath(path)!r} does not exist")
    with open(path, "rb") as handle:
        head = handle.read(512)
    # torch.save writes a zip archive ("PK"), older versions a pickle (0x80); text is neither.
    if not head.startswith((b"PK", b"\x80")):
        if not head:
            kind = "an empty file"
        elif _is_text(head):
            first = (head.decode("utf-8").strip().splitlines() or [""])[0][:40]
            kind = f"a text file (it starts with {first!r})"
        else:
            kind = "not a torch.save file"
        raise error(f"{os.fspath(path)!r} is not a readable {what}: it is {kind}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load raises many types (IndexError, EOFError, ...) on junk
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise error(f"{os.fspath(path)!r} is not a readable {what} ({reason})") from err
