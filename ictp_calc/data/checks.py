"""Validation of input structures and model outputs, with one typed exception per failure.

Every exception here subclasses :class:`ValueError`, so callers that only care that the input was
bad can catch that; :class:`~ictp_calc.data.graph.UnknownElementError` (an unknown element) is
re-exported so that all the calculator's input errors can be imported from this one module.

The checks work on NumPy arrays in Å and are cheap (O(n_atoms + n_edges)), so they can run on every
calculator call.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np

from .graph import UnknownElementError

__all__ = [
    "StructureError",
    "EmptyStructureError",
    "NonFinitePositionsError",
    "DegenerateCellError",
    "CloseAtomsError",
    "NonFiniteOutputError",
    "UnknownElementError",
    "check_not_empty",
    "check_finite_positions",
    "check_cell",
    "check_min_distance",
    "check_finite_outputs",
    "check_structure",
]

# A periodic cell vector shorter than this (Å) is treated as zero; the rows of the periodic part of
# the cell, normalized, must have a smallest singular value above _RANK_TOL to count as independent.
_ZERO_LENGTH = 1e-8
_RANK_TOL = 1e-6


class StructureError(ValueError):
    """Base class of the errors about an input structure (other than an unknown element)."""


class EmptyStructureError(StructureError):
    """The structure has no atoms."""


class NonFinitePositionsError(StructureError):
    """A position is NaN or infinite."""


class DegenerateCellError(StructureError):
    """A periodic direction has a zero, too short, non-finite or linearly dependent cell vector, or the
    periodic cell is nearly flat (lattice planes closer than the allowed minimum)."""


class CloseAtomsError(StructureError):
    """Two atoms (or an atom and a periodic image) are closer than the allowed minimum distance."""


class NonFiniteOutputError(ValueError):
    """The model returned NaN or infinity (usually a structure far outside the training data)."""


def _symbol(numbers: Optional[Sequence[int]], index: int) -> str:
    if numbers is None:
        return ""
    from ase.data import chemical_symbols

    return f" ({chemical_symbols[int(numbers[index])]})"


def check_not_empty(n_atoms: int) -> None:
    """Raise :class:`EmptyStructureError` for a structure without atoms."""
    if n_atoms == 0:
        raise EmptyStructureError("the structure has no atoms; the calculator needs at least one")


def check_finite_positions(positions: np.ndarray) -> None:
    """Raise :class:`NonFinitePositionsError` naming the atoms whose ``positions [N, 3]`` are not finite."""
    bad = np.flatnonzero(~np.isfinite(positions).all(axis=1))
    if len(bad):
        listed = ", ".join(str(i) for i in bad[:10]) + (", ..." if len(bad) > 10 else "")
        raise NonFinitePositionsError(f"{len(bad)} atom(s) have non-finite positions (indices {listed})")


def check_cell(cell: np.ndarray, pbc: np.ndarray, min_length: float = 0.0) -> None:
    """Check the periodic part of a cell: finite, no zero or short vector, linearly independent.

    Args:
        cell: ``[3, 3]`` cell vectors as rows, Å. Rows of non-periodic directions are ignored.
        pbc: ``[3]`` bool.
        min_length: shortest allowed periodic vector, Å (an atom would be closer than this to its
            own image). A zero vector is always an error.

    Raises:
        DegenerateCellError: naming the offending direction(s).
    """
    cell, pbc = np.asarray(cell, dtype=float), np.asarray(pbc, dtype=bool)
    periodic = np.flatnonzero(pbc)
    if not len(periodic):
        return
    rows = cell[periodic]
    if not np.isfinite(rows).all():
        raise DegenerateCellError(f"the cell has non-finite vectors in periodic direction(s) {periodic.tolist()}")
    lengths = np.linalg.norm(rows, axis=1)
    for k, length in zip(periodic, lengths):
        if length <= max(_ZERO_LENGTH, min_length):
            what = "zero" if length <= _ZERO_LENGTH else f"{length:.3g} Å long, shorter than {min_length:g} Å"
            raise DegenerateCellError(
                f"pbc is True along cell vector {k} but that vector is {what}; "
                "set a proper cell or make that direction non-periodic"
            )
    singular = np.linalg.svd(rows / lengths[:, None], compute_uv=False)
    if singular.min() < _RANK_TOL:
        raise DegenerateCellError(
            f"the periodic cell vectors {periodic.tolist()} are linearly dependent (degenerate cell)"
        )
    # Spacing of the lattice planes: the height of the periodic cell over each face. A nearly flat
    # cell (say 0.01 Å high) has vectors of normal length, but a neighbor list would need thousands
    # of images across it (and hang): reject it here.
    spacing = 1.0 / np.linalg.norm(np.linalg.pinv(rows), axis=0)
    k = int(np.argmin(spacing))
    if spacing[k] <= max(_ZERO_LENGTH, min_length):
        raise DegenerateCellError(
            f"the periodic cell is nearly flat: its lattice planes along cell vector {periodic[k]} are "
            f"{spacing[k]:.3g} Å apart, less than {max(min_length, _ZERO_LENGTH):g} Å (atoms would overlap their "
            "own periodic images); fix the cell or make that direction non-periodic"
        )


def check_min_distance(
    positions: np.ndarray,
    cell: np.ndarray,
    receiver: np.ndarray,
    sender: np.ndarray,
    shifts: np.ndarray,
    min_distance: float,
    numbers: Optional[Sequence[int]] = None,
) -> None:
    """Raise :class:`CloseAtomsError` if an edge is shorter than ``min_distance``, naming the closest pair.

    Uses the neighbor list (any cutoff above ``min_distance``), so it costs O(n_edges).

    Args:
        positions: ``[N, 3]`` Å. cell: ``[3, 3]`` Å.
        receiver, sender: ``[E]`` atom indices. shifts: ``[E, 3]`` integer image offsets.
        min_distance: Å; 0 disables the check.
        numbers: ``[N]`` atomic numbers, to name the elements in the message.
    """
    if min_distance <= 0.0 or not len(receiver):
        return
    vectors = positions[receiver] - positions[sender] - shifts @ cell
    squared = np.einsum("ei,ei->e", vectors, vectors)
    k = int(np.argmin(squared))
    if squared[k] >= min_distance * min_distance:
        return
    i, j = int(receiver[k]), int(sender[k])
    image = "" if not shifts[k].any() else f" (periodic image {tuple(int(s) for s in shifts[k])})"
    raise CloseAtomsError(
        f"atoms {i}{_symbol(numbers, i)} and {j}{_symbol(numbers, j)}{image} are "
        f"{np.sqrt(squared[k]):.4g} Å apart, closer than the minimum distance {min_distance:g} Å"
    )


def check_finite_outputs(outputs: Mapping[str, np.ndarray]) -> None:
    """Raise :class:`NonFiniteOutputError` naming every output that holds NaN or infinity."""
    bad = [name for name, value in outputs.items() if not np.isfinite(value).all()]
    if bad:
        raise NonFiniteOutputError(
            f"the model returned non-finite values for {', '.join(bad)}; the structure is probably far "
            "outside the model's training data (or the model file is broken)"
        )


def check_structure(atoms, min_distance: float = 0.1) -> None:
    """Every check above on one ``ase.Atoms`` (for data files): atoms, positions, cell, closest pair.

    Args:
        atoms: the structure (positions in Å).
        min_distance: Å; two atoms (or images) closer than this are an error.

    Raises:
        StructureError: the first problem found (a subclass naming it).
    """
    from .neighbors import neighbor_list

    check_not_empty(len(atoms))
    positions, cell, pbc = atoms.positions, atoms.cell.array, atoms.pbc
    check_finite_positions(positions)
    check_cell(cell, pbc, min_distance)
    if min_distance > 0 and (len(atoms) > 1 or pbc.any()):
        receiver, sender, shifts = neighbor_list(positions, cell, pbc, max(min_distance, 1e-3) * 1.01)
        check_min_distance(positions, cell, receiver, sender, shifts, min_distance, atoms.numbers)
