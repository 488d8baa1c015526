"""One device resolver for the calculator, training and evaluation.

``resolve_device("auto")`` is CUDA when available, else the CPU; ``"cpu"``, ``"cuda"`` and
``"cuda:N"`` must name a device that exists, otherwise :class:`DeviceError` says why (no silent
fallback to the CPU).
"""

from __future__ import annotations

from typing import Union

import torch

__all__ = ["DeviceError", "resolve_device"]


class DeviceError(ValueError):
    """A device name that is invalid, unsupported, or not available on this machine."""


def resolve_device(device: Union[str, torch.device]) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else must name an available device.

    Raises:
        DeviceError: an invalid or unsupported name, CUDA without CUDA, or a CUDA index that does not exist.
    """
    if isinstance(device, str) and device.strip().lower() == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device.strip() if isinstance(device, str) else device)
    except (RuntimeError, TypeError) as err:
        raise DeviceError(f"invalid device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from err
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {device!r} requested but CUDA is not available in this torch build/machine")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise DeviceError(f"device {device!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif resolved.type != "cpu":
        raise DeviceError(f"unsupported device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    return resolved
