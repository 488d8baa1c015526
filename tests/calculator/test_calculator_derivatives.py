"""Forces and stress of the calculator against finite differences, and its other outputs."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress
from calc_helpers import bpa_atoms, molecule_atoms, slab_atoms, triclinic_atoms

from ictp_calc.calculator import ICTPCalculator
from ictp_calc.data import atoms_to_graph
from ictp_calc.model import compute_properties


def _structure(name):
    if name == "3bpa":
        atoms = bpa_atoms()
        if atoms is None:
            pytest.skip("3BPA data not found in ../shared/data/3bpa (only present in the project workspace)")
        return atoms
    return {"molecule": molecule_atoms, "triclinic": triclinic_atoms, "slab": slab_atoms}[name]()


@pytest.mark.parametrize("name", ["molecule", "3bpa", "triclinic", "slab"])
def test_forces_match_finite_differences(model, name):
    atoms = _structure(name)
    atoms.calc = ICTPCalculator(model, device="cpu")
    forces = atoms.get_forces()
    assert np.abs(forces).max() > 1e-2, "forces too small for the comparison to mean anything"
    numerical = calculate_numerical_forces(atoms, eps=1e-5)
    np.testing.assert_allclose(forces, numerical, rtol=0, atol=1e-7)


def test_stress_matches_finite_strain(model):
    atoms = triclinic_atoms()
    atoms.calc = ICTPCalculator(model, device="cpu")
    stress = atoms.get_stress()
    assert stress.shape == (6,) and np.abs(stress).max() > 1e-3
    numerical = calculate_numerical_stress(atoms, eps=1e-5, voigt=True)
    np.testing.assert_allclose(stress, numerical, rtol=0, atol=1e-8)


@pytest.mark.parametrize("name", ["molecule", "slab"])
def test_no_stress_without_3d_periodicity(model, name):
    """Policy: stress only for cells periodic in all three directions; otherwise a clear ASE error."""
    atoms = _structure(name)
    atoms.calc = ICTPCalculator(model, device="cpu")
    atoms.get_forces()  # energy and forces are fine
    with pytest.raises(PropertyNotImplementedError, match="periodic in all three directions"):
        atoms.get_stress()
    assert "stress" not in atoms.calc.results


@pytest.mark.parametrize("name", ["molecule", "triclinic", "slab"])
def test_outputs_equal_the_bare_model(model, name):
    """Energy, per-atom energies, forces and stress are the model's, in ASE's shapes and units."""
    atoms = _structure(name)
    calc = ICTPCalculator(model, device="cpu")
    atoms.calc = calc
    periodic = bool(atoms.pbc.all())
    graph = atoms_to_graph(atoms, model.config.atomic_numbers, model.config.cutoff, dtype=model.dtype)
    ref = compute_properties(model, graph, forces=True, stress=periodic)
    energy = atoms.get_potential_energy()
    assert isinstance(energy, float)
    np.testing.assert_allclose(energy, ref["energy"].item(), rtol=1e-12)
    assert atoms.get_potential_energy(force_consistent=True) == energy  # free_energy
    energies = atoms.get_potential_energies()
    assert energies.shape == (len(atoms),)
    np.testing.assert_allclose(energies, ref["energies"].detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(energies.sum(), energy, rtol=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), ref["forces"].numpy(), rtol=1e-12, atol=1e-12)
    if periodic:
        full = atoms.get_stress(voigt=False)
        np.testing.assert_allclose(full, ref["stress"][0].numpy(), rtol=1e-12, atol=1e-12)
    assert calc.n_evaluations == 1


def test_works_under_no_grad(model):
    """Forces are gradients: a caller's ``torch.no_grad()`` must not break them."""
    atoms = molecule_atoms()
    atoms.calc = ICTPCalculator(model, device="cpu")
    expected = atoms.get_forces()
    atoms.calc = ICTPCalculator(model, device="cpu")
    with torch.no_grad():
        np.testing.assert_array_equal(atoms.get_forces(), expected)


@pytest.mark.parametrize("periodic", [False, True])
def test_atoms_without_neighbors(model, periodic):
    """No edges: each atom has its isolated-atom energy (shift + scale * embedding readouts, spec
    §2.7), forces and stress are exactly zero."""
    atoms = Atoms("NH", positions=[[0.0, 0.0, 0.0], [4.5, 0.0, 0.0]], cell=9.5 * np.eye(3), pbc=periodic)
    atoms.calc = ICTPCalculator(model, device="cpu")
    with torch.no_grad():
        isolated = (model.energy_shift + model.energy_scale * model.isolated_atom_output()).numpy()
    np.testing.assert_allclose(atoms.get_potential_energies(), [isolated[2], isolated[0]], rtol=0, atol=1e-14)
    assert atoms.get_potential_energy() == pytest.approx(isolated[2] + isolated[0], abs=1e-13)
    assert not atoms.get_forces().any()
    if periodic:
        assert not atoms.get_stress().any()
