"""A Verlet neighbor list: built with ``cutoff + skin`` and reused while atoms move little."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from .neighbors import neighbor_list

__all__ = ["NeighborCache"]


class NeighborCache:
    """Neighbor list with a Verlet skin, for a sequence of calls on one evolving structure.

    A list is built with ``cutoff + skin`` and reused as long as no atom moved more than ``skin / 2``
    since the build and the cell, pbc, atomic numbers and atom count are exactly unchanged. Then every
    pair now closer than ``cutoff`` was closer than ``cutoff + skin`` at the build, with the same image
    shift, so the list still holds all of them; the extra, longer edges must be ignored by the
    consumer (the ICTP model's envelope is exactly zero beyond its cutoff).

    Positions must be used as given, never wrapped into the cell: wrapping changes the image shift of
    an edge, which a reused list would not know. (Wrapping moves an atom by a cell vector, more than
    ``skin / 2``, so it triggers a rebuild anyway.) With ``skin = 0`` every call rebuilds.

    Attributes:
        n_builds: number of lists built so far (for tests and benchmarks).
        rebuilt: whether the last :meth:`update` built a new list.
    """

    def __init__(self, cutoff: float, skin: float = 0.0):
        """
        Args:
            cutoff: Å, the radius within which every pair must be listed.
            skin: Å, >= 0; the extra radius that allows reuse.
        """
        if cutoff <= 0.0:
            raise ValueError(f"cutoff must be positive, got {cutoff}")
        if not skin >= 0.0:  # also rejects NaN
            raise ValueError(f"skin must be >= 0 Å, got {skin}")
        self.cutoff, self.skin = float(cutoff), float(skin)
        self.n_builds = 0
        self.rebuilt = False
        self._edges: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]] = None
        self._reference: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = None

    @property
    def build_positions(self) -> Optional[np.ndarray]:
        """A copy of the positions ``[N, 3]`` (Å) at which the current list was built, or None.

        An MD restart saves them and calls :meth:`update` with them first, so that the continued run
        reuses exactly the lists the uninterrupted run used (same edges, same summation order).
        """
        return None if self._reference is None else self._reference[0].copy()

    def reset(self) -> None:
        """Forget the current list; the next :meth:`update` rebuilds."""
        self._edges, self._reference = None, None

    def _can_reuse(self, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, numbers: np.ndarray) -> bool:
        if self.skin == 0.0 or self._reference is None:
            return False
        ref_positions, ref_cell, ref_pbc, ref_numbers = self._reference
        if positions.shape != ref_positions.shape or not np.array_equal(numbers, ref_numbers):
            return False
        if not (np.array_equal(cell, ref_cell) and np.array_equal(pbc, ref_pbc)):
            return False
        moved = positions - ref_positions
        return float(np.einsum("ni,ni->n", moved, moved).max()) <= 0.25 * self.skin * self.skin

    def update(
        self, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, numbers: np.ndarray
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The neighbor list for this structure, reused or rebuilt.

        Args:
            positions: ``[N, 3]`` Å (unwrapped). cell: ``[3, 3]`` rows, Å. pbc: ``[3]`` bool.
            numbers: ``[N]`` atomic numbers (a change forces a rebuild).

        Returns:
            ``receiver [E]``, ``sender [E]`` (int64) and ``shifts [E, 3]`` (int64), every pair within
            ``cutoff`` and possibly some up to ``cutoff + skin``. Treat them as read-only: a reused
            list returns the same arrays.
        """
        positions = np.asarray(positions, dtype=float)
        cell, pbc = np.asarray(cell, dtype=float), np.asarray(pbc, dtype=bool)
        numbers = np.asarray(numbers)
        self.rebuilt = not self._can_reuse(positions, cell, pbc, numbers)
        if self.rebuilt:
            self._edges = neighbor_list(positions, cell, pbc, self.cutoff + self.skin)
            # Copies: the caller may modify its arrays in place (ASE does so for positions).
            self._reference = (positions.copy(), cell.copy(), pbc.copy(), numbers.copy())
            self.n_builds += 1
        assert self._edges is not None
        return self._edges
