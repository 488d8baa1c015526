"""Inputs of a run: the shipped model's path, structure files, and the calculator.

Every failure here is an :class:`~ictp_calc.md.errors.InputError` (exit code 5) with a message
that names the file and what to do about it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from ase import Atoms

from ..calculator import ICTPCalculator
from ..data.checks import StructureError, UnknownElementError
from ..io import ModelFileError
from .errors import InputError

__all__ = [
    "DEFAULT_MODEL_NAME", "default_model_path", "resolve_model_path", "read_structure", "make_calculator",
    "attach_calculator",
]

DEFAULT_MODEL_NAME = "ictp-3bpa.pt"


def _repo_models_dir() -> Path:
    # ictp_calc/md/inputs.py -> the directory holding the ictp_calc package (the repository root of
    # a checkout, where the shipped model lives in models/).
    return Path(__file__).resolve().parents[2] / "models"


def default_model_path(must_exist: bool = True) -> str:
    """Path of the shipped 3BPA model, ``<repo>/models/ictp-3bpa.pt`` next to the package.

    Args:
        must_exist: raise if the file is missing (otherwise just return the path).

    Raises:
        InputError: the file does not exist (e.g. a non-editable install without the ``models``
            folder); the message names the path and the ``--model`` option.
    """
    path = _repo_models_dir() / DEFAULT_MODEL_NAME
    if must_exist and not path.is_file():
        raise InputError(
            f"the default model {path} does not exist; it ships with the repository checkout "
            "(install with 'pip install -e .' from the repository), or pass a model file with --model PATH"
        )
    return str(path)


def resolve_model_path(model: Optional[str]) -> str:
    """``model`` as an absolute path, or the shipped model for None; raises :class:`InputError` if missing."""
    if model is None:
        return default_model_path()
    if not os.path.isfile(model):
        raise InputError(f"model file {model!r} does not exist (--model)")
    return os.path.abspath(model)


def read_structure(path: str, index: str = "-1") -> Atoms:
    """Read one structure (the last frame by default) with ``ase.io.read``.

    Raises:
        InputError: missing, unreadable or empty file.
    """
    from ase.io import read

    if not os.path.isfile(path):
        raise InputError(f"structure file {path!r} does not exist")
    try:
        atoms = read(path, index=index)
    except Exception as err:  # ASE raises many types for unreadable files; all mean the same here
        raise InputError(f"cannot read structure file {path!r}: {err}") from err
    if isinstance(atoms, list) or len(atoms) == 0:
        raise InputError(f"structure file {path!r} holds no single non-empty structure at index {index}")
    atoms.calc = None  # energies or forces stored in the file must never be mistaken for the model's
    return atoms


def make_calculator(
    model: Optional[str], device: str = "auto", dtype: Optional[str] = None, skin: float = 0.0,
    min_distance: float = 0.1, compile: bool = False,
) -> ICTPCalculator:
    """An :class:`ICTPCalculator` for ``model`` (None: the shipped model), errors as :class:`InputError`."""
    path = resolve_model_path(model)
    try:
        return ICTPCalculator(path, device=device, dtype=dtype, skin=skin, min_distance=min_distance, compile=compile)
    except (ModelFileError, ValueError) as err:
        raise InputError(f"cannot use model {path!r}: {err}") from err


def attach_calculator(atoms: Atoms, calc) -> None:
    """``atoms.calc = calc`` plus a first evaluation, with input problems raised as :class:`InputError`.

    Unknown elements, atoms too close, a degenerate cell or non-finite model outputs on the starting
    structure are input problems (exit code 5), not a simulation going bad.
    """
    try:
        atoms.calc = calc
        atoms.get_forces()
    except (UnknownElementError, StructureError, ValueError) as err:
        raise InputError(f"the starting structure cannot be evaluated: {err}") from err
