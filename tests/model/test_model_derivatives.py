"""Forces and stress are derivatives of the energy (spec §2.8), checked against finite differences
in float64; smoothness at the cutoff (§2.2); isolated atoms and disconnected fragments (§2.7)."""

import numpy as np
import pytest
import torch
from ase import Atoms
from model_helpers import CUTOFF, ELEMENTS, energy, evaluate, make_model, molecule_atoms, periodic_atoms, slab_atoms

STRUCTURES = {"molecule": molecule_atoms, "periodic": periodic_atoms, "slab": slab_atoms}


def central_difference(f, h):
    return (f(h) - f(-h)) / (2 * h)


@pytest.mark.parametrize("structure", STRUCTURES)
def test_forces_are_minus_energy_gradient(structure):
    model = make_model(torch.float64)
    atoms = STRUCTURES[structure]()
    forces = evaluate(model, atoms)["forces"].numpy()
    rng = np.random.default_rng(5)
    for atom, axis in zip(rng.choice(len(atoms), 5, replace=False), rng.integers(0, 3, 5)):

        def displaced(h):
            moved = atoms.copy()
            moved.positions[atom, axis] += h
            return energy(model, moved)

        np.testing.assert_allclose(-central_difference(displaced, 1e-5), forces[atom, axis], rtol=1e-6, atol=1e-8)


def test_stress_is_strain_derivative_of_energy_over_volume():
    """sigma_ab = (1/V) dE/d eps_ab with x -> x (I + eps) for a symmetric strain (ASE's sign)."""
    model = make_model(torch.float64)
    atoms = periodic_atoms()
    out = evaluate(model, atoms, stress=True)
    stress, virial = out["stress"][0].numpy(), out["virial"][0].numpy()
    volume = atoms.get_volume()
    for a, b in [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)]:
        unit = np.zeros((3, 3))
        unit[a, b] += 0.5
        unit[b, a] += 0.5

        def strained(h):
            deformed = atoms.copy()
            deformed.set_cell(atoms.cell.array @ (np.eye(3) + h * unit), scale_atoms=True)
            return energy(model, deformed)

        expected = central_difference(strained, 1e-5) / volume
        np.testing.assert_allclose(stress[a, b], expected, rtol=1e-6, atol=1e-8)
    assert np.abs(stress).max() > 1e-3
    np.testing.assert_allclose(stress, stress.T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(virial, -volume * stress, rtol=1e-12, atol=1e-12)


def test_stress_of_a_cell_without_volume_is_nan():
    model = make_model(torch.float64)
    out = evaluate(model, molecule_atoms(), stress=True)
    assert torch.isnan(out["stress"]).all()


def dimer(distance, numbers=(6, 8)):
    direction = np.array([0.48, -0.6, 0.64])
    return Atoms(numbers=list(numbers), positions=[[0.1, 0.2, -0.3], [0.1, 0.2, -0.3] + distance * direction])


def test_energy_and_forces_continuous_across_the_cutoff():
    """The envelope vanishes with its first two derivatives at r_c (spec §2.2), so the energy jump
    and the forces of a dimer at distance r_c - d vanish as d -> 0; beyond r_c nothing changes."""
    model = make_model(torch.float64)
    far = evaluate(model, dimer(CUTOFF + 1e-9))
    torch.testing.assert_close(far["forces"], torch.zeros_like(far["forces"]), rtol=0, atol=0)
    jumps, force_norms = [], []
    for delta in (1e-1, 1e-2, 1e-3):
        near = evaluate(model, dimer(CUTOFF - delta))
        jumps.append(abs(float(near["energy"] - far["energy"])))
        force_norms.append(float(near["forces"].norm()))
        outside = evaluate(model, dimer(CUTOFF + delta))
        torch.testing.assert_close(outside["energy"], far["energy"], rtol=1e-14, atol=1e-14)
    assert jumps[0] > 1e-8 and force_norms[0] > 1e-7  # the atoms do interact inside the cutoff
    # The envelope alone gives E = O(d^3) and F = O(d^2) (the Bessel basis adds one more order):
    # at least 1000x and 100x per decade of d, here with a factor 5 of margin for the prefactors.
    assert jumps[1] < 5e-3 * jumps[0] and jumps[2] < 5e-3 * jumps[1]
    assert force_norms[1] < 5e-2 * force_norms[0] and force_norms[2] < 5e-2 * force_norms[1]
    assert jumps[2] < 1e-9 and force_norms[2] < 1e-6


def test_neighbor_list_with_skin_gives_the_same_results():
    """Edges longer than r_c (a list built with a skin) contribute nothing (spec §2, Edges)."""
    model = make_model(torch.float64)
    for atoms in (molecule_atoms(), periodic_atoms()):
        ref = evaluate(model, atoms, stress=atoms.pbc.all())
        skin = evaluate(model, atoms, stress=atoms.pbc.all(), cutoff=CUTOFF + 1.5)
        for key, value in ref.items():
            torch.testing.assert_close(skin[key], value, rtol=1e-12, atol=1e-12)


def test_structures_without_edges(dtype):
    """A single atom, and atoms farther apart than the cutoff, form graphs without any edge."""
    model = make_model(dtype)
    single = evaluate(model, Atoms("N", positions=[[0.3, -0.2, 1.0]]))
    apart = evaluate(model, Atoms("CONH", positions=np.arange(4)[:, None] * [CUTOFF + 0.5, 0.0, 0.0]))
    for out in (single, apart):
        assert torch.isfinite(out["energy"]).all()
        torch.testing.assert_close(out["forces"], torch.zeros_like(out["forces"]), rtol=0, atol=0)
    assert apart["energies"].shape == (4,)


def _isolated_atoms():
    numbers = [1, 6, 7, 8, 6, 1]
    offsets = np.random.default_rng(6).uniform(-1, 1, (len(numbers), 3))  # |offset_y| < 1 Å
    positions = offsets + np.arange(len(numbers))[:, None] * [0.0, CUTOFF + 2.1, 0.0]
    return Atoms(numbers=numbers, positions=positions)


def test_isolated_atoms_give_their_e0():
    """With ``isolated_atom_reference``, atoms farther apart than the cutoff each have exactly E0
    (no regression shift)."""
    e0 = (-13.6, -1029.5, -1485.0, -2042.0)
    model = make_model(torch.float64, atomic_energies=e0, compute_regression_shift=False, isolated_atom_reference=True)
    with torch.no_grad():
        model.energy_shift.copy_(torch.tensor(e0, dtype=torch.float64))
    apart = _isolated_atoms()
    # Evaluated next to a molecule, so that the batch has edges whatever the handling of empty graphs.
    out = evaluate(model, [molecule_atoms(), apart])
    expected = torch.tensor([e0[ELEMENTS.index(z)] for z in apart.numbers], dtype=torch.float64)
    torch.testing.assert_close(out["energies"][-len(apart) :], expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(out["forces"][-len(apart) :], torch.zeros(len(apart), 3, dtype=torch.float64))


def test_reference_energy_differs_by_a_per_element_constant():
    """With ``isolated_atom_reference=False`` (the spec's §2.7 energy) e_i gains s c_z, c_z per element."""
    ours, spec = make_model(torch.float64, isolated_atom_reference=True), make_model(torch.float64)
    structures = [molecule_atoms(), _isolated_atoms()]
    species = torch.tensor([ELEMENTS.index(z) for a in structures for z in a.numbers])
    difference = evaluate(spec, structures)["energies"] - evaluate(ours, structures)["energies"]
    constants = ours.energy_scale * ours.isolated_atom_output().detach()
    torch.testing.assert_close(difference, constants[species], rtol=1e-12, atol=1e-12)
    assert constants.abs().min() > 1e-6  # the correction is not trivially zero


def test_disconnected_fragments_are_additive(dtype, mtol):
    model = make_model(dtype)
    first, second = molecule_atoms(), molecule_atoms(seed=9)[::-1]
    second.rotate(70, "x")
    gap = first.positions[:, 2].max() - second.positions[:, 2].min() + CUTOFF + 0.5
    second.translate([0.3, -0.4, gap])
    together = evaluate(model, first + second)
    parts = [evaluate(model, first), evaluate(model, second)]
    torch.testing.assert_close(together["energy"], parts[0]["energy"] + parts[1]["energy"], **mtol)
    for key in ("energies", "forces"):
        torch.testing.assert_close(together[key], torch.cat([p[key] for p in parts]), **mtol)
