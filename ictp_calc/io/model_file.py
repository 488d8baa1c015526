"""Model files: one ``torch.save`` of primitives and tensors, never a pickled module.

Layout (format version 2)::

    {
        "format_version": 2,
        "config": ModelConfig.to_dict(),           # primitives only
        "metadata": {"package_version", "elements", "cutoff", "dtype", "atomic_energies",
                     "units", "training", ...},    # free-form primitives
        "state_dict": {name: tensor},
    }

Every file loads with ``torch.load(path, weights_only=True)``. See ``docs`` for the changelog of
format versions; a file newer than this package raises :class:`ModelFileError`, and an older one is
migrated on load (:func:`upgrade_state_dict`):

* version 1 -> 2: the state dict loses the ``atomic_numbers`` buffer, which the model never read
  (the elements are ``config["atomic_numbers"]``); it is checked against the config and dropped.

``metadata["units"]`` records the units of the training data the model reproduces:
``{"energy": "eV", "length": "Å", "energy_to_eV": 1.0, "length_to_A": 1.0}`` (the size of each unit
in eV and Å). Files written before it was recorded are read as eV and Å (:func:`model_units`).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Dict, Optional, Tuple, Union

import torch

from .. import __version__
from ..model import ICTPModel, ModelConfig
from .files import load_weights_only, save_atomic

__all__ = [
    "DEFAULT_UNITS", "FORMAT_VERSION", "ModelFileError", "save_model", "load_model", "read_model_file", "file_checksum",
    "model_units", "upgrade_state_dict",
]

FORMAT_VERSION = 2
_REQUIRED = ("format_version", "config", "metadata", "state_dict")
PathLike = Union[str, "os.PathLike[str]"]
DEFAULT_UNITS = {"energy": "eV", "length": "Å", "energy_to_eV": 1.0, "length_to_A": 1.0}
"""Units of ASE's data (extxyz energies in eV, positions in Å): what training reads."""


class ModelFileError(ValueError):
    """A model file that is missing, corrupt, not a model, or from a newer package."""


def _metadata(model: ICTPModel, extra: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    from ase.data import chemical_symbols

    c = model.config
    meta = {
        "package_version": __version__,
        "elements": [chemical_symbols[z] for z in c.atomic_numbers],
        "cutoff": c.cutoff,
        "dtype": c.dtype,
        "atomic_energies": None if c.atomic_energies is None else list(c.atomic_energies),
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "units": dict(DEFAULT_UNITS),
    }
    meta.update(extra or {})
    return meta


def save_model(model: ICTPModel, path: PathLike, metadata: Optional[Dict[str, Any]] = None) -> None:
    """Write ``model`` to ``path`` (see the module docstring); ``metadata`` adds free-form entries.

    The file is written to a temporary name and renamed, so a crash never leaves half a model.
    """
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    payload = {
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "metadata": _metadata(model, metadata),
        "state_dict": state,
    }
    save_atomic(payload, path)


def upgrade_state_dict(state_dict: Dict[str, Any], atomic_numbers, where: str = "the model") -> Dict[str, Any]:
    """A model state dict of any format version in the current layout (a new dict; tensors shared).

    Version 1 stored the elements a second time, as a buffer ``atomic_numbers``; they must agree with
    the config's ``atomic_numbers`` and are dropped. Model files, training checkpoints and LAMMPS
    exports all pass their weights through here, so one function knows every old layout.

    Raises:
        ModelFileError: an ``atomic_numbers`` buffer that contradicts the config.
    """
    state = dict(state_dict)
    stored = state.pop("atomic_numbers", None)
    if stored is not None and [int(z) for z in stored.tolist()] != [int(z) for z in atomic_numbers]:
        raise ModelFileError(
            f"{where} is inconsistent: its weights were saved for the elements {stored.tolist()}, its config "
            f"names {list(atomic_numbers)}"
        )
    return state


def read_model_file(path: PathLike) -> Dict[str, Any]:
    """Load and validate the raw dictionary of a model file (no model is built).

    ``format_version`` is the file's own; ``state_dict`` is migrated to the current layout.
    """
    payload = load_weights_only(path, ModelFileError, "ictp_calc model file")
    if not isinstance(payload, dict) or any(k not in payload for k in _REQUIRED):
        raise ModelFileError(
            f"{os.fspath(path)!r} is not an ictp_calc model file (expected the keys {list(_REQUIRED)})"
        )
    version = payload["format_version"]
    if not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{os.fspath(path)!r} has an invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{os.fspath(path)!r} has model format version {version}, newer than this ictp_calc "
            f"{__version__} reads (up to {FORMAT_VERSION}); upgrade ictp_calc"
        )
    config = payload["config"]
    if isinstance(payload["state_dict"], dict) and isinstance(config, dict) and "atomic_numbers" in config:
        where = repr(os.fspath(path))
        payload["state_dict"] = upgrade_state_dict(payload["state_dict"], config["atomic_numbers"], where)
    return payload


def load_model(path: PathLike, device: Union[str, torch.device] = "cpu") -> Tuple[ICTPModel, Dict[str, Any]]:
    """Build the model stored in ``path``; returns ``(model, metadata)``. The model is in eval mode."""
    payload = read_model_file(path)
    try:
        config = ModelConfig.from_dict(payload["config"])
        model = ICTPModel(config)
        model.load_state_dict(payload["state_dict"])
    except (TypeError, ValueError, RuntimeError, KeyError, ArithmeticError) as err:
        raise ModelFileError(f"{os.fspath(path)!r} holds an inconsistent model: {err}") from err
    return model.to(device).eval(), payload["metadata"]


def model_units(metadata: Dict[str, Any]) -> Tuple[float, float]:
    """``(energy_to_eV, length_to_A)`` recorded in a model file's metadata (1, 1 when not recorded).

    Raises:
        ModelFileError: recorded units that are not positive finite numbers.
    """
    units = metadata.get("units") or {}
    values = []
    for key in ("energy_to_eV", "length_to_A"):
        value = units.get(key, 1.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value < float("inf")):
            raise ModelFileError(f"the model file records an invalid unit size {key} = {value!r}")
        values.append(float(value))
    return values[0], values[1]


def file_checksum(path: PathLike) -> str:
    """SHA-256 of a file's bytes (hex), to identify a model in logs and manifests."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
