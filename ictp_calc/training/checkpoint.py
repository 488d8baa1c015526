"""Resumable training checkpoints: everything that determines the rest of a run.

A checkpoint holds the live and EMA weights, the optimizer and scheduler states, the shuffling
generator's state, the epoch, the best-so-far weights and metrics, and the history. Restoring all
of it makes a resumed run bitwise identical to an uninterrupted one (on the CPU; CUDA scatter
kernels are not deterministic). Files are plain ``torch.save`` dictionaries of tensors and
primitives that load with ``weights_only=True``.

Versions: 1 (the model weights with the ``atomic_numbers`` buffer of model format 1), 2 (without it,
model format 2). :func:`load_checkpoint` reads both and returns the current layout.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterable

from ..io.files import load_weights_only, save_atomic
from ..io.model_file import ModelFileError, upgrade_state_dict

__all__ = ["CHECKPOINT_VERSION", "CheckpointError", "save_checkpoint", "load_checkpoint", "config_differences"]

CHECKPOINT_VERSION = 2
_READABLE_VERSIONS = (1, 2)

# Settings that may change between the chunks of one run without changing its result (device
# and budget only affect where and how long), or that only extend it (more epochs).
RESUMABLE_CHANGES = (
    "output_dir",
    "training.max_epoch",
    "training.device",
    "training.checkpoint_every",
    "training.scheduler_factor",
    "training.scheduler_patience",
    "training.lr",
    # The schedule and the second stage may be decided (or changed) while a run is under way.
    "training.schedule",
    "training.warmup_epochs",
    "training.lr_min",
    "training.decay_epochs",
    "training.stage_two_start",
    "training.stage_two_lr",
    "training.stage_two_energy_weight",
    "training.stage_two_forces_weight",
    "training.stage_two_average",
)


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or from a different run configuration."""


def save_checkpoint(path: str, state: Dict[str, Any]) -> None:
    """Write ``state`` atomically (temporary file, then rename): a crash never leaves half a file."""
    save_atomic({"checkpoint_version": CHECKPOINT_VERSION, **state}, path)


def load_checkpoint(path: str) -> Dict[str, Any]:
    """Read a checkpoint onto the CPU; raises :class:`CheckpointError` with the reason."""
    payload = load_weights_only(path, CheckpointError, "checkpoint")
    version = payload.get("checkpoint_version") if isinstance(payload, dict) else None
    if version not in _READABLE_VERSIONS:
        raise CheckpointError(
            f"{os.fspath(path)!r} has checkpoint version {version!r}; this ictp_calc reads versions "
            f"{', '.join(map(str, _READABLE_VERSIONS))}"
        )
    return _upgrade(payload, os.fspath(path))


def _upgrade(payload: Dict[str, Any], where: str) -> Dict[str, Any]:
    """Version 1 -> 2: the model weights (live and best) lose the ``atomic_numbers`` buffer."""
    if payload["checkpoint_version"] == 1:
        live = payload.get("model") or {}
        elements = live["atomic_numbers"].tolist() if "atomic_numbers" in live else []
        try:
            payload["model"] = upgrade_state_dict(live, elements, repr(where))
            best = payload.get("best") or {}
            if best.get("weights") is not None:
                best["weights"] = upgrade_state_dict(best["weights"], elements, repr(where))
        except ModelFileError as err:
            raise CheckpointError(str(err)) from err
        payload["checkpoint_version"] = CHECKPOINT_VERSION
    return payload


def _flatten(config: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:  # tuples (Python API) and lists (TOML) of equal items are the same setting
            out[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return out


def config_differences(saved: Dict[str, Any], current: Dict[str, Any], ignore: Iterable[str] = RESUMABLE_CHANGES):
    """``[(key, saved value, current value)]`` for settings that changed, except those in ``ignore``."""
    a, b = _flatten(saved), _flatten(current)
    skip = set(ignore)
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if k not in skip and a.get(k) != b.get(k)]
