"""A stand-in for LAMMPS's ML-IAP data object, built from an ASE structure, for tests without LAMMPS.

It lays out one MPI rank's atoms as LAMMPS does for ``pair_style mliap unified FILE 1`` with a brick
decomposition along x: owned atoms of the rank's slab of the cell first, then ghost atoms (periodic
images and other ranks' atoms) within ``comm_cutoff`` of the slab, and directed pairs closer than the
cutoff with ``rij = x_j - x_i`` for every owned atom and, with ghost neighbor lists on, every ghost.
``update_pair_forces`` does what LAMMPS does with the pair forces: ``f_i += fij``, ``f_j -= fij``
and the virial ``-sum rij (x) fij``. Written from the contract in the LAMMPS documentation, not
from LAMMPS's code. Orthorhombic cells only.
"""

from dataclasses import dataclass, field
from typing import List

import numpy as np
from scipy.spatial import cKDTree


@dataclass
class StandInData:
    nlocal: int
    ntotal: int
    elems: np.ndarray
    pair_i: np.ndarray
    pair_j: np.ndarray
    rij: np.ndarray
    owner: np.ndarray  # [ntotal] index of the atom in the ASE structure
    eatoms: np.ndarray = None
    energy: float = None
    forces: np.ndarray = None
    virial: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))
    n_force_calls: int = 0

    @property
    def npairs(self) -> int:
        return int(self.pair_i.shape[0])

    @property
    def nlistatoms(self) -> int:
        return self.nlocal

    @property
    def iatoms(self) -> np.ndarray:
        return np.arange(self.nlocal, dtype=np.int32)

    def update_pair_forces(self, fij: np.ndarray) -> None:
        assert fij.shape == (self.npairs, 3) and fij.dtype == np.float64
        self.n_force_calls += 1
        forces = np.zeros((self.ntotal, 3))
        np.add.at(forces, self.pair_i, fij)
        np.add.at(forces, self.pair_j, -fij)
        self.forces = forces
        self.virial = -np.einsum("pa,pb->ab", self.rij, fij)

    def owner_forces(self, n_atoms: int) -> np.ndarray:
        """Ghost forces sent back to the atoms they copy (LAMMPS's reverse communication)."""
        out = np.zeros((n_atoms, 3))
        np.add.at(out, self.owner, self.forces)
        return out


def rank_data(
    atoms, species: np.ndarray, cutoff: float, comm_cutoff: float, n_ranks: int = 1, rank: int = 0,
    ghost_neighbors: bool = True,
) -> StandInData:
    """The data of ``rank`` of ``n_ranks`` slabs along x of ``atoms`` (periodic, orthorhombic)."""
    cell = atoms.cell.array
    lengths = np.diag(cell)
    assert np.allclose(cell, np.diag(lengths)) and atoms.pbc.all()
    wrapped = atoms.get_positions(wrap=True)
    lo = np.zeros(3)
    hi = lengths.copy()
    lo[0], hi[0] = rank * lengths[0] / n_ranks, (rank + 1) * lengths[0] / n_ranks
    reach = np.ceil(comm_cutoff / lengths).astype(int) + 1
    shifts = np.array(np.meshgrid(*[np.arange(-r, r + 1) for r in reach], indexing="ij")).reshape(3, -1).T
    owned = np.nonzero((wrapped[:, 0] >= lo[0]) & (wrapped[:, 0] < hi[0]))[0]
    local_pos = wrapped[owned]
    ghost_pos: List[np.ndarray] = []
    ghost_owner: List[np.ndarray] = []
    for shift in shifts:
        images = wrapped + shift * lengths
        inside = np.all((images >= lo - comm_cutoff) & (images < hi + comm_cutoff), axis=1)
        if not shift.any():
            inside[owned] = False
        ghost_pos.append(images[inside])
        ghost_owner.append(np.nonzero(inside)[0])
    positions = np.concatenate([local_pos] + ghost_pos)
    owner = np.concatenate([owned] + ghost_owner)
    nlocal = owned.shape[0]
    pairs = cKDTree(positions).query_pairs(cutoff, output_type="ndarray")
    pair_i = np.concatenate([pairs[:, 0], pairs[:, 1]])
    pair_j = np.concatenate([pairs[:, 1], pairs[:, 0]])
    if not ghost_neighbors:
        keep = pair_i < nlocal
        pair_i, pair_j = pair_i[keep], pair_j[keep]
    order = np.lexsort((pair_j, pair_i))  # LAMMPS lists pairs atom by atom
    pair_i, pair_j = pair_i[order].astype(np.int32), pair_j[order].astype(np.int32)
    rij = positions[pair_j] - positions[pair_i]
    return StandInData(
        nlocal=nlocal, ntotal=positions.shape[0], elems=species[owner].astype(np.int32),
        pair_i=pair_i, pair_j=pair_j, rij=rij, owner=owner,
    )


def molecule_data(atoms, species: np.ndarray, cutoff: float) -> StandInData:
    """A molecule in a box larger than the comm cutoff: owned atoms only, no ghosts."""
    positions = atoms.get_positions()
    pairs = cKDTree(positions).query_pairs(cutoff, output_type="ndarray")
    pair_i = np.concatenate([pairs[:, 0], pairs[:, 1]])
    pair_j = np.concatenate([pairs[:, 1], pairs[:, 0]])
    order = np.lexsort((pair_j, pair_i))
    pair_i, pair_j = pair_i[order].astype(np.int32), pair_j[order].astype(np.int32)
    n = len(atoms)
    return StandInData(
        nlocal=n, ntotal=n, elems=species.astype(np.int32), pair_i=pair_i, pair_j=pair_j,
        rij=positions[pair_j] - positions[pair_i], owner=np.arange(n),
    )
