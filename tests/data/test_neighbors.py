"""Neighbor lists against ASE's ``neighbor_list`` for molecules, bulk, slabs and wires."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, fcc111, molecule
from ase.neighborlist import neighbor_list as ase_neighbor_list

from ictp_calc.data.neighbors import neighbor_list


def _far_molecule():
    atoms = molecule("CH3CH2OH")
    atoms.positions += [250.0, -130.0, 75.0]
    return atoms, 3.0


def _boxed_molecule():
    atoms = molecule("H2O")
    atoms.center(vacuum=1.0)  # a cell smaller than the cutoff, but pbc False
    return atoms, 4.0


def _single_atom():
    return Atoms("Ar", positions=[[1.0, -2.0, 3.0]]), 5.0


def _co2():
    return molecule("CO2"), 3.0


def _cu_primitive():
    return bulk("Cu", "fcc", a=3.6), 5.0  # cell vectors 2.55 Å: the atom sees many of its own images


def _triclinic():
    rng = np.random.default_rng(7)
    cell = 4.5 * np.eye(3) + rng.normal(scale=0.8, size=(3, 3))
    atoms = Atoms("Si3O2", scaled_positions=rng.random((5, 3)), cell=cell, pbc=True)
    atoms.rattle(0.1, seed=3)
    atoms.positions += 1.7 * cell[0] - 0.6 * cell[2]  # unwrapped positions
    return atoms, 4.0


def _slab():
    atoms = fcc111("Cu", size=(2, 2, 3), vacuum=5.0)
    atoms.rattle(0.05, seed=1)
    atoms.positions += [3.0, -4.0, 30.0]  # outside the cell along the non-periodic axis
    assert list(atoms.pbc) == [True, True, False]
    return atoms, 4.5


def _wire():
    positions = [[0.0, 0.0, 0.0], [1.3, 0.4, -0.2], [2.2, -0.3, 0.5]]
    atoms = Atoms("C3", positions=positions, cell=[[3.4, 0.0, 0.0], [0, 0, 0], [0, 0, 0]], pbc=[True, False, False])
    atoms.positions += [0.0, 40.0, -25.0]
    return atoms, 3.5


STRUCTURES = {
    "far_molecule": _far_molecule,
    "boxed_molecule": _boxed_molecule,
    "single_atom": _single_atom,
    "co2": _co2,
    "cu_primitive": _cu_primitive,
    "triclinic": _triclinic,
    "slab": _slab,
    "wire": _wire,
}


def edge_set(i, j, shifts):
    return {(int(a), int(b), tuple(int(s) for s in shift)) for a, b, shift in zip(i, j, shifts)}


@pytest.fixture(params=list(STRUCTURES), ids=list(STRUCTURES))
def structure(request):
    atoms, cutoff = STRUCTURES[request.param]()
    ours = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff)
    return request.param, atoms, cutoff, ours


def test_matches_ase(structure):
    name, atoms, cutoff, (i, j, shifts) = structure
    assert i.dtype == j.dtype == shifts.dtype == np.int64
    assert i.shape == j.shape == (len(shifts),) and shifts.shape == (len(i), 3)
    expected = edge_set(*ase_neighbor_list("ijS", atoms, cutoff))
    ours = edge_set(i, j, shifts)
    assert len(ours) == len(i), "duplicate edges"
    assert ours == expected
    if name == "single_atom":
        assert len(i) == 0
    else:
        assert len(i) > 0


def test_edge_vectors(structure):
    """``|x_i - x_j - S @ cell|`` equals ASE's distance, is below the cutoff, and is never zero-shift self."""
    _, atoms, cutoff, (i, j, shifts) = structure
    assert not np.any(shifts[:, ~atoms.pbc]), "image offsets along a non-periodic axis"
    vectors = atoms.positions[i] - atoms.positions[j] - shifts @ atoms.cell.array
    lengths = np.linalg.norm(vectors, axis=-1)
    assert np.all(lengths < cutoff)
    assert not np.any((i == j) & np.all(shifts == 0, axis=-1))
    ase_i, ase_j, ase_s, ase_d = ase_neighbor_list("ijSd", atoms, cutoff)
    ase_lengths = {(a, b, tuple(s)): d for a, b, s, d in zip(ase_i.tolist(), ase_j.tolist(), ase_s.tolist(), ase_d)}
    ours = [ase_lengths[(a, b, tuple(s))] for a, b, s in zip(i.tolist(), j.tolist(), shifts.tolist())]
    np.testing.assert_allclose(lengths, ours, rtol=1e-12, atol=1e-12)


def test_own_images_in_small_cell():
    """In a primitive fcc cell with a 5 Å cutoff the single atom's neighbours are all its own images:
    12 nearest (a/sqrt2) and 6 second-nearest (a) neighbours."""
    atoms, cutoff = _cu_primitive()
    i, j, shifts = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff)
    assert np.all(i == 0) and np.all(j == 0)
    lengths = np.linalg.norm(shifts @ atoms.cell.array, axis=-1)
    assert len(i) == 12 + 6 + 24  # third shell at a*sqrt(3/2) = 4.41 Å < 5 Å
    shells = 3.6 * np.array([0.5**0.5] * 2 + [1.0] * 2 + [1.5**0.5])
    np.testing.assert_allclose(np.sort(lengths)[[0, 11, 12, 17, 18]], shells)
