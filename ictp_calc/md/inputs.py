"""Inputs of a run: the model (a file or a shipped model's name), structure files, and the calculator.

Every failure here is an :class:`~ictp_calc.md.errors.InputError` (exit code 5) with a message
that names the file and what to do about it.
"""

from __future__ import annotations

import os
from typing import Optional

from ase import Atoms

from ..calculator import ICTPCalculator
from ..data.checks import StructureError, UnknownElementError, check_cell, check_finite_positions
from ..inference import CompileFailedError
from ..io import DEFAULT_MODEL, ModelFileError, resolve_model
from .errors import InputError

__all__ = [
    "DEFAULT_MODEL_NAME", "default_model_path", "resolve_model_path", "read_structure", "make_calculator",
    "attach_calculator",
]

DEFAULT_MODEL_NAME = DEFAULT_MODEL + ".pt"


def default_model_path() -> str:
    """Path of the shipped 3BPA model (:data:`~ictp_calc.io.DEFAULT_MODEL`, see :mod:`ictp_calc.io.shipped`).

    Raises:
        InputError: the file is not installed; the message names the folders searched and ``--model``.
    """
    return resolve_model_path(None)


def resolve_model_path(model: Optional[str]) -> str:
    """``model`` (a file or a shipped model's name; None: the default) as an absolute path.

    Raises:
        InputError: neither a file nor a shipped model.
    """
    try:
        return resolve_model(model)
    except ModelFileError as err:
        raise InputError(f"{err} (--model)") from err


def read_structure(path: str, index: str = "-1") -> Atoms:
    """Read one structure (the last frame by default) with ``ase.io.read``.

    Raises:
        InputError: missing, unreadable or empty file; a non-finite position or a degenerate periodic
            cell.
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
    try:  # before anything is built from it (velocities, health monitor, neighbor lists)
        check_finite_positions(atoms.positions)
        check_cell(atoms.cell.array, atoms.pbc)
    except StructureError as err:
        raise InputError(f"structure file {path!r}: {err}") from err
    atoms.calc = None  # energies or forces stored in the file must never be mistaken for the model's
    return atoms


def make_calculator(
    model: Optional[str], device: str = "auto", dtype: Optional[str] = None, skin: float = 0.0,
    min_distance: float = 0.1, compile: bool = False, compile_fallback: bool = False,
) -> ICTPCalculator:
    """An :class:`ICTPCalculator` for ``model`` (None: the shipped model), errors as :class:`InputError`."""
    path = resolve_model_path(model)
    try:
        return ICTPCalculator(path, device=device, dtype=dtype, skin=skin, min_distance=min_distance, compile=compile,
                              compile_fallback=compile_fallback)
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
    except CompileFailedError as err:  # the first evaluation compiles
        raise InputError(str(err)) from err
    except (UnknownElementError, StructureError, ValueError) as err:
        raise InputError(f"the starting structure cannot be evaluated: {err}") from err
