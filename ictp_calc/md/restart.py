"""Restart checkpoints: everything needed to continue a run bit for bit.

A checkpoint (``output_dir/checkpoint.npz``, written atomically) holds

* the system: positions, momenta, cell, pbc, atomic numbers (float64, exact);
* the step counter;
* the integrator's own state (:func:`ictp_calc.md.ensembles.get_state`): thermostat and barostat
  variables, and the bit-generator state of the stochastic thermostats' random numbers;
* the positions at which the calculator's Verlet neighbor list was last built (with a skin), so
  that the continuation reuses the same lists: a list built elsewhere holds other edges beyond the
  cutoff, which contribute zero but change the floating-point summation order in the last bits;
* the run settings and the checksums of the structure and model files, as JSON.

Continuing from it rebuilds the dynamics object from the settings, restores that state, cuts the
trajectory and log back to the checkpoint's step and appends from there. The model is evaluated
afresh at the restored positions; since an evaluation is a deterministic function of the positions,
the forces equal those the uninterrupted run had cached, and a deterministic or seeded integrator
produces the same trajectory as an uninterrupted run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Dict, Optional

import numpy as np
from ase import Atoms

from .errors import RestartError
from .outputs import OUTPUT_FILES
from .settings import MDSettings

__all__ = ["CHECKPOINT_VERSION", "Checkpoint", "checkpoint_path", "save_checkpoint", "load_checkpoint",
           "load_settings", "merge_settings"]

CHECKPOINT_VERSION = 1
_PREFIX = "state:"


def checkpoint_path(output_dir: str) -> str:
    return os.path.join(output_dir, OUTPUT_FILES["checkpoint"])


@dataclass
class Checkpoint:
    """A loaded checkpoint (see the module docstring)."""

    step: int
    atoms: Atoms
    state: Dict[str, Any]
    settings: MDSettings
    structure_sha256: Optional[str]
    model_sha256: Optional[str]
    neighbor_build_positions: Optional[np.ndarray] = None


def save_checkpoint(
    output_dir: str, atoms: Atoms, step: int, state: Dict[str, Any], settings: MDSettings,
    structure_sha256: Optional[str], model_sha256: Optional[str], neighbor_build_positions: Optional[np.ndarray] = None,
) -> str:
    """Write the checkpoint of ``atoms`` after ``step``; returns its path."""
    meta = {
        "version": CHECKPOINT_VERSION, "step": int(step), "rng": state.get("rng"), "settings": settings.to_dict(),
        "structure_sha256": structure_sha256, "model_sha256": model_sha256,
    }
    arrays = {
        "positions": atoms.get_positions(), "momenta": atoms.get_momenta(), "cell": atoms.cell.array,
        "pbc": atoms.pbc, "numbers": atoms.numbers, "meta": np.array(json.dumps(meta)),
    }
    arrays.update({_PREFIX + name: value for name, value in state["arrays"].items()})
    if neighbor_build_positions is not None:
        arrays["neighbor_build_positions"] = neighbor_build_positions
    path = checkpoint_path(output_dir)
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)  # atomic: an interrupted write leaves the previous checkpoint intact
    return path


def load_checkpoint(output_dir: str) -> Checkpoint:
    """Read ``output_dir/checkpoint.npz``.

    Raises:
        RestartError: no checkpoint, or one this version cannot read.
    """
    path = checkpoint_path(output_dir)
    if not os.path.isfile(path):
        raise RestartError(
            f"no checkpoint to restart from: {path} does not exist (a run stopped before its first checkpoint "
            "cannot be continued); start it afresh without --restart"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError) as err:
        raise RestartError(f"cannot read checkpoint {path}: {err}") from err
    if meta.get("version") != CHECKPOINT_VERSION:
        raise RestartError(f"checkpoint {path} has version {meta.get('version')}, expected {CHECKPOINT_VERSION}")
    atoms = Atoms(numbers=arrays["numbers"], positions=arrays["positions"], cell=arrays["cell"], pbc=arrays["pbc"])
    atoms.set_momenta(arrays["momenta"])
    state = {"arrays": {k[len(_PREFIX):]: v for k, v in arrays.items() if k.startswith(_PREFIX)}, "rng": meta["rng"]}
    return Checkpoint(
        step=meta["step"], atoms=atoms, state=state, settings=MDSettings.from_dict(meta["settings"]),
        structure_sha256=meta["structure_sha256"], model_sha256=meta["model_sha256"],
        neighbor_build_positions=arrays.get("neighbor_build_positions"),
    )


def load_settings(output_dir: str) -> MDSettings:
    """The settings stored in the checkpoint of ``output_dir`` (for a restart that repeats few options)."""
    return load_checkpoint(output_dir).settings


def merge_settings(stored: MDSettings, overrides: Dict[str, Any]) -> MDSettings:
    """``stored`` with ``overrides`` applied; settings that shape the trajectory must not change.

    Raises:
        RestartError: an override contradicts the checkpoint (see :data:`~ictp_calc.md.settings.RESTART_MUTABLE`).
    """
    merged = stored.replace(**overrides)
    merged.check_restart(stored)
    return merged
