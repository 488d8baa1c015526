"""Symmetries of the ICTP energy (spec §1.4, §2): O(3), translations, permutations, batching and
periodicity. Expected values come from the symmetry itself, never from stored outputs."""

import numpy as np
import pytest
import torch
from model_helpers import evaluate, make_model, molecule_atoms, periodic_atoms, slab_atoms

from ictp_calc.tensors.rotations import random_orthogonal

STRUCTURES = {"molecule": molecule_atoms, "periodic": periodic_atoms, "slab": slab_atoms}
VARIANTS = {
    "symmetric": dict(symmetric_product=True),
    "full": dict(symmetric_product=False),
    "coupled": dict(symmetric_product=True, coupled_product_feats=True),
}


def assert_same(out, ref, tol, permutation=None, rotation=None):
    """Energies equal; forces (permuted and rotated as row vectors where given) equal."""
    forces = ref["forces"] if permutation is None else ref["forces"][permutation]
    if rotation is not None:
        forces = forces @ rotation.T
    torch.testing.assert_close(out["energy"], ref["energy"], **tol)
    torch.testing.assert_close(out["forces"], forces, **tol)


def transformed(atoms, q):
    """``atoms`` with positions and cell mapped by the orthogonal matrix ``q`` (x -> q x)."""
    out = atoms.copy()
    out.set_cell(atoms.cell.array @ q.T)
    out.positions = atoms.positions @ q.T
    return out


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("structure", STRUCTURES)
@pytest.mark.parametrize("reflect", [False, True], ids=["rotation", "reflection"])
def test_energy_invariant_forces_equivariant_under_o3(dtype, mtol, generator, variant, structure, reflect):
    model = make_model(dtype, **VARIANTS[variant])
    atoms = STRUCTURES[structure]()
    ref = evaluate(model, atoms)
    assert ref["forces"].abs().max() > 1e-2  # the check is not vacuous
    q = random_orthogonal(generator, reflect=reflect)
    out = evaluate(model, transformed(atoms, q.numpy()))
    assert_same(out, ref, mtol, rotation=q.to(dtype))


def test_inversion_changes_nothing(dtype, mtol):
    model = make_model(dtype)
    atoms = molecule_atoms()
    ref = evaluate(model, atoms)
    out = evaluate(model, transformed(atoms, -np.eye(3)))
    assert_same(out, ref, mtol, rotation=-torch.eye(3, dtype=dtype))


@pytest.mark.parametrize("structure", STRUCTURES)
def test_translation_invariance(dtype, mtol, structure):
    model = make_model(dtype)
    atoms = STRUCTURES[structure]()
    ref = evaluate(model, atoms)
    shifts = [[0.37, -1.21, 2.05]]
    if dtype == torch.float64:  # in float32, coordinates of ~100 Å carry ~1e-5 Å rounding errors
        shifts.append([-53.0, 17.5, 108.25])
    for shift in shifts:
        moved = atoms.copy()
        moved.translate(shift)
        assert_same(evaluate(model, moved), ref, mtol)


@pytest.mark.parametrize("structure", STRUCTURES)
def test_permutation_equivariance(dtype, mtol, structure):
    model = make_model(dtype)
    atoms = STRUCTURES[structure]()
    ref = evaluate(model, atoms)
    permutation = np.random.default_rng(3).permutation(len(atoms))
    out = evaluate(model, atoms[permutation])
    assert_same(out, ref, mtol, permutation=torch.from_numpy(permutation))
    torch.testing.assert_close(out["energies"], ref["energies"][permutation], **mtol)


def test_batch_equals_each_structure_alone(dtype, mtol):
    model = make_model(dtype)
    structures = [molecule_atoms(), periodic_atoms(), slab_atoms(), molecule_atoms(seed=7), periodic_atoms(seed=8)]
    batch = evaluate(model, structures, stress=True)
    alone = [evaluate(model, atoms, stress=True) for atoms in structures]
    torch.testing.assert_close(batch["energy"], torch.cat([o["energy"] for o in alone]), **mtol)
    for key in ("energies", "forces"):
        torch.testing.assert_close(batch[key], torch.cat([o[key] for o in alone]), **mtol)
    torch.testing.assert_close(batch["stress"], torch.cat([o["stress"] for o in alone]), equal_nan=True, **mtol)


# --- periodic structures -------------------------------------------------------------------------


def test_moving_atoms_by_lattice_vectors_or_wrapping_changes_nothing(dtype, mtol):
    model = make_model(dtype)
    atoms = periodic_atoms()
    ref = evaluate(model, atoms, stress=True)
    moved = atoms.copy()
    images = np.random.default_rng(4).integers(-2, 3, size=(len(atoms), 3))
    moved.positions = atoms.positions + images @ atoms.cell.array
    assert not np.allclose(moved.positions, atoms.positions)
    wrapped = moved.copy()
    wrapped.wrap()
    everything = atoms.copy()
    everything.translate(atoms.cell.array[0] - 2 * atoms.cell.array[2])
    for other in (moved, wrapped, everything):
        out = evaluate(model, other, stress=True)
        assert_same(out, ref, mtol)
        torch.testing.assert_close(out["stress"], ref["stress"], **mtol)


def test_equivalent_cell_choice_changes_nothing(dtype, mtol):
    """Replacing a3 by a3 + a1 (and a2 by a2 - a3) describes the same lattice."""
    model = make_model(dtype)
    atoms = periodic_atoms()
    ref = evaluate(model, atoms, stress=True)
    a1, a2, a3 = atoms.cell.array
    for cell in ([a1, a2, a3 + a1], [a1, a2 - a3, a3], [a2, a1, a3]):
        other = atoms.copy()
        other.set_cell(np.array(cell), scale_atoms=False)
        out = evaluate(model, other, stress=True)
        assert_same(out, ref, mtol)
        torch.testing.assert_close(out["stress"], ref["stress"], **mtol)


@pytest.mark.parametrize("structure", ["periodic", "slab"])
def test_supercell_is_extensive(dtype, mtol, structure):
    model = make_model(dtype)
    atoms = STRUCTURES[structure]()
    ref = evaluate(model, atoms, stress=structure == "periodic")
    supercell = atoms.repeat((2, 1, 1))
    out = evaluate(model, supercell, stress=structure == "periodic")
    torch.testing.assert_close(out["energy"], 2 * ref["energy"], **mtol)
    torch.testing.assert_close(out["forces"], ref["forces"].repeat(2, 1), **mtol)
    torch.testing.assert_close(out["energies"], ref["energies"].repeat(2), **mtol)
    if structure == "periodic":
        torch.testing.assert_close(out["stress"], ref["stress"], **mtol)


def test_slab_matches_periodic_cell_with_vacuum(dtype, mtol):
    """Open z equals periodic z with more than a cutoff of vacuum; the open cell vector is irrelevant."""
    model = make_model(dtype)
    atoms = slab_atoms()
    ref = evaluate(model, atoms)
    vacuum = atoms.copy()
    vacuum.set_cell([atoms.cell[0], atoms.cell[1], [0.0, 0.0, 3.0 + 2.5 * model.config.cutoff]])
    vacuum.pbc = True
    no_c = atoms.copy()
    no_c.set_cell([atoms.cell[0], atoms.cell[1], [0.0, 0.0, 0.0]])
    tilted_c = atoms.copy()
    tilted_c.set_cell([atoms.cell[0], atoms.cell[1], [1.0, -2.0, 0.5]])
    for other in (vacuum, no_c, tilted_c):
        assert_same(evaluate(model, other), ref, mtol)
    # Atoms interact across the periodic in-plane boundary: a molecule of the same atoms differs.
    isolated = atoms.copy()
    isolated.pbc = False
    assert not torch.allclose(evaluate(model, isolated)["energy"], ref["energy"])


def test_molecule_matches_periodic_box_with_vacuum(dtype, mtol):
    model = make_model(dtype)
    atoms = molecule_atoms()
    ref = evaluate(model, atoms)
    boxed = atoms.copy()
    boxed.set_cell(np.diag(np.ptp(atoms.positions, axis=0) + 2.5 * model.config.cutoff))
    boxed.pbc = True
    assert_same(evaluate(model, boxed), ref, mtol)
