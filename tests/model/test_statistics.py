"""Dataset statistics (spec §2.4, §2.7): regression shift, neighbor count, force scale, and their
use by build_model. References are computed independently (least squares, ASE neighbor lists)."""

import numpy as np
import pytest
import torch
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator
from ase.neighborlist import neighbor_list as ase_neighbor_list
from model_helpers import CUTOFF, ELEMENTS, evaluate, molecule_atoms, periodic_atoms, slab_atoms, small_config

from ictp_calc.data import compute_statistics
from ictp_calc.data.statistics import regression_shift
from ictp_calc.model import build_model

E0 = np.array([-13.6, -1029.5, -1485.0, -2042.0])


def ridge_shift(energies, counts, e0, ridge):
    """Spec §2.7 written as an augmented least-squares problem (no normal equations)."""
    n_atoms = counts.sum(1)
    residual = energies - counts @ e0
    mean = residual.sum() / n_atoms.sum()
    lhs = np.vstack([counts, np.sqrt(ridge) * np.eye(counts.shape[1])])
    rhs = np.concatenate([residual - n_atoms * mean, np.zeros(counts.shape[1])])
    delta = np.linalg.lstsq(lhs, rhs, rcond=None)[0]
    return e0 + mean + delta


def synthetic_counts(rng, n_structures=60):
    return rng.integers(0, 12, size=(n_structures, len(ELEMENTS))).astype(float) + np.eye(len(ELEMENTS))[
        np.arange(n_structures) % len(ELEMENTS)
    ]


def test_regression_recovers_exact_per_element_energies_without_ridge():
    rng = np.random.default_rng(0)
    counts = synthetic_counts(rng)
    constants = E0 + rng.normal(0.0, 2.0, len(ELEMENTS))
    shift = regression_shift(counts @ constants, counts, E0, ridge=0.0)
    np.testing.assert_allclose(shift, constants, rtol=0, atol=1e-8)


def test_ridge_regression_error_is_bounded_by_lambda_over_smallest_eigenvalue():
    """With residual = C d exactly, delta = (C^T C + lambda)^-1 C^T C d, so mu - c = -lambda (C^T C +
    lambda)^-1 d and |mu - c| <= lambda / (s_min + lambda) |d|, s_min the smallest eigenvalue of C^T C."""
    rng = np.random.default_rng(1)
    counts = synthetic_counts(rng)
    constants = E0 + rng.normal(0.0, 2.0, len(ELEMENTS))
    energies = counts @ constants
    shift = regression_shift(energies, counts, E0)  # the spec's lambda = 1 is the default
    np.testing.assert_allclose(shift, ridge_shift(energies, counts, E0, ridge=1.0), rtol=0, atol=1e-9)
    mean = (energies - counts @ E0).sum() / counts.sum()
    d = constants - E0 - mean
    s_min = np.linalg.eigvalsh(counts.T @ counts).min()
    assert np.linalg.norm(shift - constants) <= np.linalg.norm(d) / (s_min + 1.0) * (1 + 1e-9)
    assert np.linalg.norm(shift - constants) > 0  # the ridge does act
    np.testing.assert_allclose(shift, constants, rtol=0, atol=1e-2)


@pytest.mark.parametrize("ridge", [0.5, 1.0, 30.0])
def test_regression_shift_matches_independent_ridge_on_noisy_energies(ridge):
    rng = np.random.default_rng(2)
    counts = synthetic_counts(rng, 25)
    energies = counts @ (E0 + rng.normal(0.0, 1.0, 4)) + rng.normal(0.0, 0.5, len(counts))
    expected = ridge_shift(energies, counts, E0, ridge)
    np.testing.assert_allclose(regression_shift(energies, counts, E0, ridge=ridge), expected, rtol=0, atol=1e-9)


def test_huge_ridge_leaves_isolated_energies_plus_mean():
    rng = np.random.default_rng(3)
    counts = synthetic_counts(rng, 10)
    energies = counts @ (E0 + rng.normal(0.0, 1.0, 4))
    mean = (energies - counts @ E0).sum() / counts.sum()
    np.testing.assert_allclose(regression_shift(energies, counts, E0, ridge=1e12), E0 + mean, rtol=0, atol=1e-6)


def labelled_structures():
    """Molecules, periodic cells and a slab with energies and forces; one without labels."""
    rng = np.random.default_rng(4)
    constants = E0 + np.array([0.3, -0.7, 1.1, -0.2])
    structures = [molecule_atoms(), molecule("CH3NO2"), periodic_atoms(), periodic_atoms(seed=5), slab_atoms()]
    structures.append(periodic_atoms(seed=6).repeat((1, 2, 1)))
    for atoms in structures:
        counts = np.array([np.count_nonzero(atoms.numbers == z) for z in ELEMENTS])
        energy = counts @ constants + rng.normal(0.0, 0.05)
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=rng.normal(0.0, 0.8, (len(atoms), 3)))
    unlabelled = molecule("CH3ONO")
    return structures + [unlabelled], structures


def test_compute_statistics_against_independent_references():
    structures, labelled = labelled_structures()
    stats = compute_statistics(structures, ELEMENTS, CUTOFF, atomic_energies=E0)
    n_edges = sum(len(ase_neighbor_list("i", atoms, CUTOFF)) for atoms in structures)
    n_atoms = sum(len(atoms) for atoms in structures)
    assert stats.avg_n_neighbors == pytest.approx(n_edges / n_atoms, rel=1e-12)
    assert (stats.n_structures, stats.n_atoms) == (len(structures), n_atoms)
    forces = np.concatenate([atoms.get_forces().ravel() for atoms in labelled])
    assert stats.energy_scale == pytest.approx(np.sqrt(np.mean(forces**2)), rel=1e-12)
    energies = np.array([atoms.get_potential_energy() for atoms in labelled])
    counts = np.array([[np.count_nonzero(atoms.numbers == z) for z in ELEMENTS] for atoms in labelled], float)
    np.testing.assert_allclose(stats.energy_shift, ridge_shift(energies, counts, E0, 1.0), rtol=0, atol=1e-8)


def test_compute_statistics_without_regression_or_labels():
    structures, _ = labelled_structures()
    stats = compute_statistics(structures, ELEMENTS, CUTOFF, atomic_energies=E0, compute_regression_shift=False)
    np.testing.assert_array_equal(stats.energy_shift, E0)
    unlabelled = [atoms.copy() for atoms in structures]  # copies carry no calculator
    stats = compute_statistics(unlabelled, ELEMENTS, CUTOFF)
    assert stats.energy_scale == 1.0
    np.testing.assert_array_equal(stats.energy_shift, np.zeros(len(ELEMENTS)))


@pytest.mark.parametrize("regression", [True, False])
def test_build_model_applies_statistics(regression):
    """e_i = s * (model output without shift and scale) + mu_{z_i} (spec §2.7)."""
    structures, _ = labelled_structures()
    config = small_config(atomic_energies=tuple(E0), compute_regression_shift=regression)
    stats = compute_statistics(structures, ELEMENTS, CUTOFF, atomic_energies=E0)
    model = build_model(config, stats, seed=3)
    assert model.config.avg_n_neighbors == stats.avg_n_neighbors
    assert float(model.energy_scale) == stats.energy_scale
    expected_shift = stats.energy_shift if regression else E0
    np.testing.assert_allclose(model.energy_shift.numpy(), expected_shift, rtol=0, atol=1e-12)
    bare = build_model(config.replace(avg_n_neighbors=stats.avg_n_neighbors, atomic_energies=None), seed=3)
    assert float(bare.energy_scale) == 1.0 and not bare.energy_shift.any()
    atoms = periodic_atoms()
    species = torch.tensor([ELEMENTS.index(z) for z in atoms.numbers])
    shift = torch.tensor(expected_shift, dtype=torch.float64)[species]
    expected = stats.energy_scale * evaluate(bare, atoms)["energies"] + shift
    torch.testing.assert_close(evaluate(model, atoms)["energies"], expected, rtol=1e-12, atol=1e-10)
