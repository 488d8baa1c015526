"""The summed loss of spec §3, NaN masking, the stress term, and the error metrics."""

import math

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from training_helpers import TINY_MODEL, emt_structures

from ictp_calc import keys
from ictp_calc.data.dataset import collate, labelled_graph
from ictp_calc.model import ModelConfig, build_model, compute_properties
from ictp_calc.training import ErrorAccumulator, WeightedLoss

ELEMENTS = (13, 29)


def _model(seed=0):
    return build_model(ModelConfig(atomic_numbers=ELEMENTS, **TINY_MODEL), seed=seed)


def _batch(structures):
    return collate([labelled_graph(a, ELEMENTS, TINY_MODEL["cutoff"], torch.float64) for a in structures])


def test_loss_is_the_batch_sum_of_energy_per_sqrt_atoms_and_forces():
    structures = emt_structures(3, seed=5)
    batch = _batch(structures)
    out = compute_properties(_model(), batch, forces=True, training=True)
    loss = WeightedLoss(energy_weight=2.0, forces_weight=10.0)(out, batch)
    expected = 0.0
    start = 0
    for b, atoms in enumerate(structures):
        n = len(atoms)
        d_e = float(out["energy"][b].detach()) - atoms.calc.results["energy"]
        d_f = out["forces"][start : start + n].detach().numpy() - atoms.calc.results["forces"]
        expected += 2.0 * d_e**2 / n + 10.0 * np.sum(d_f**2)
        start += n
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-12)


def test_missing_labels_are_masked_with_finite_gradients():
    structures = emt_structures(3, seed=6)
    unlabelled = structures[1].copy()
    unlabelled.calc = SinglePointCalculator(unlabelled)  # neither energy nor forces
    model = _model()
    loss_fn = WeightedLoss()
    full = _batch([structures[0], unlabelled, structures[2]])
    out = compute_properties(model, full, forces=True, training=True)
    assert torch.isnan(full[keys.REF_ENERGY][1]) and torch.isnan(full[keys.REF_FORCES]).any()
    loss = loss_fn(out, full)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    kept = _batch([structures[0], structures[2]])
    out_kept = compute_properties(model, kept, forces=True, training=True)
    assert float(loss.detach()) == pytest.approx(float(loss_fn(out_kept, kept).detach()), rel=1e-12)


def test_stress_term_counts_periodic_cells_and_skips_molecules():
    crystal = bulk("Cu", "fcc", a=3.7, cubic=True)
    crystal.rattle(0.05, seed=1)
    crystal.calc = EMT()
    results = dict(energy=crystal.get_potential_energy(), forces=crystal.get_forces(), stress=crystal.get_stress())
    crystal.calc = SinglePointCalculator(crystal, **results)
    molecule = emt_structures(1, seed=2)[0]
    batch = _batch([crystal, molecule])
    model = _model()
    out = compute_properties(model, batch, forces=True, stress=True, training=True)
    with_stress = WeightedLoss(1.0, 10.0, stress_weight=100.0)(out, batch)
    without = WeightedLoss(1.0, 10.0)(out, batch)
    pred = out["stress"][0].detach().numpy()
    ref = batch[keys.REF_STRESS][0].numpy()
    voigt = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]
    expected = 100.0 * sum((pred[i, j] - ref[i, j]) ** 2 for i, j in voigt)
    assert float((with_stress - without).detach()) == pytest.approx(expected, rel=1e-9)
    with_stress.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_metrics_follow_the_spec_definitions_in_mev():
    structures = emt_structures(4, seed=8)
    batch = _batch(structures)
    out = compute_properties(_model(), batch, forces=True)
    accumulator = ErrorAccumulator()
    accumulator.update(out, batch)
    metrics = accumulator.result()
    n = batch[keys.N_ATOMS].double().numpy()
    d_e = out["energy"].detach().numpy() - batch[keys.REF_ENERGY].numpy()
    d_f = (out["forces"].detach() - batch[keys.REF_FORCES]).numpy()
    assert metrics["energy_rmse"] == pytest.approx(1000 * math.sqrt(np.mean(d_e**2)))
    assert metrics["energy_mae"] == pytest.approx(1000 * np.mean(np.abs(d_e)))
    assert metrics["energy_per_atom_rmse"] == pytest.approx(1000 * math.sqrt(np.mean((d_e / n) ** 2)))
    assert metrics["forces_rmse"] == pytest.approx(1000 * math.sqrt(np.sum(d_f**2) / (3 * n.sum())))
    assert metrics["forces_mae"] == pytest.approx(1000 * np.mean(np.abs(d_f)))
    # Accumulating batch by batch gives the same numbers as one batch.
    split = ErrorAccumulator()
    for part in (structures[:1], structures[1:]):
        graph = _batch(part)
        split.update(compute_properties(_model(), graph, forces=True), graph)
    assert split.result() == pytest.approx(metrics, rel=1e-10)
