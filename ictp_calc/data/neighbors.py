"""Neighbor lists with matscipy, for molecules, periodic and mixed-periodic structures."""

from __future__ import annotations

from typing import Tuple

import numpy as np
from matscipy.neighbours import neighbour_list

__all__ = ["neighbor_list"]


def _padded_cell(positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float) -> np.ndarray:
    """A non-degenerate cell for matscipy: keep the periodic vectors, replace the others.

    matscipy needs an invertible cell even where ``pbc`` is False (it raises on a molecule without
    a cell). Each non-periodic direction gets a vector orthogonal to the periodic ones, long enough
    to enclose every atom plus the cutoff; its length only affects binning, never the edges.
    """
    out = np.array(cell, dtype=float)
    extent = (np.ptp(positions, axis=0).max() if len(positions) else 0.0) + 2.0 * cutoff + 1.0
    periodic = out[pbc]
    if len(periodic):
        complement = np.linalg.svd(periodic)[2][len(periodic) :]  # orthonormal rows
    else:
        complement = np.eye(3)
    out[~pbc] = extent * complement
    return out


def neighbor_list(
    positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, cutoff: float
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directed edges ``i <- j`` with ``|x_i - x_j - S @ cell| < cutoff``, without self-edges.

    Args:
        positions: ``[n_atoms, 3]`` Å.
        cell: ``[3, 3]`` rows are cell vectors, Å; only periodic rows are used.
        pbc: ``[3]`` bool.
        cutoff: Å.

    Returns:
        ``receiver [E]``, ``sender [E]`` (int64) and ``shifts [E, 3]`` (int64 image offsets S).
    """
    positions = np.asarray(positions, dtype=float)
    pbc = np.asarray(pbc, dtype=bool)
    cell = np.asarray(cell, dtype=float)
    if not pbc.all():
        cell = _padded_cell(positions, cell, pbc, cutoff)
    # matscipy returns D = x_j - x_i + S @ cell; our edge vector is its negative.
    i, j, shifts = neighbour_list("ijS", positions=positions, cell=cell, pbc=pbc, cutoff=float(cutoff))
    return i.astype(np.int64), j.astype(np.int64), shifts.astype(np.int64)
