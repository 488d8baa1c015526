"""Shared helpers for the model tests: a small ICTP model, test structures and evaluation.

A plain module (not ``conftest.py``): several ``conftest.py`` files share the module name
``conftest``, so ``from conftest import ...`` would depend on collection order.
"""

from typing import Dict

import numpy as np
import torch
from ase import Atoms
from ase.build import molecule

from ictp_calc.data import atoms_to_graph, batch_graphs
from ictp_calc.model import ModelConfig, build_model, compute_properties

ELEMENTS = (1, 6, 7, 8)
CUTOFF = 4.0


def small_config(dtype=torch.float64, **changes) -> ModelConfig:
    """F = P = 8, L_e = 3, L_h = 2, nu = 3: small, but every rank and product order is present."""
    base = dict(
        atomic_numbers=ELEMENTS,
        cutoff=CUTOFF,
        n_basis=6,
        radial_mlp=(16, 16),
        readout_mlp=(8,),
        n_hidden_feats=8,
        n_product_feats=8,
        n_interactions=2,
        l_max_hidden_feats=2,
        l_max_edge_attrs=3,
        correlation=3,
        avg_n_neighbors=4.0,
        dtype={torch.float32: "float32", torch.float64: "float64"}[dtype],
    )
    base.update(changes)
    return ModelConfig(**base)


def make_model(dtype=torch.float64, seed=0, **changes):
    """A small model with a random per-element energy shift and a non-unit energy scale."""
    model = build_model(small_config(dtype, **changes), seed=seed)
    rng = np.random.default_rng(seed + 100)
    with torch.no_grad():
        model.energy_shift.copy_(torch.tensor(rng.uniform(-3.0, 3.0, len(ELEMENTS))))
        model.energy_scale.fill_(1.7)
    return model


def graph_of(model, atoms, cutoff=None) -> Dict[str, torch.Tensor]:
    cutoff = model.config.cutoff if cutoff is None else cutoff
    return atoms_to_graph(atoms, model.config.atomic_numbers, cutoff, model.dtype)


def evaluate(model, structures, forces=True, stress=False, cutoff=None) -> Dict[str, torch.Tensor]:
    """Energies, forces (and stress) of one ``Atoms`` or a list of them evaluated as one batch."""
    if isinstance(structures, Atoms):
        structures = [structures]
    graph = batch_graphs([graph_of(model, atoms, cutoff) for atoms in structures])
    out = compute_properties(model, graph, forces=forces, stress=stress)
    return {k: v.detach() for k, v in out.items()}


def energy(model, atoms) -> float:
    with torch.no_grad():
        return float(model(graph_of(model, atoms))["energy"].sum())


def _random_positions(rng, cell, n, min_distance):
    """``n`` random points in ``cell`` whose distances, periodic in all three directions, are >= min_distance."""
    atoms = Atoms(cell=cell, pbc=True)
    while len(atoms) < n:
        trial = atoms + Atoms("H", scaled_positions=[rng.uniform(0.0, 1.0, 3)], cell=cell, pbc=True)
        others = range(len(trial) - 1)
        if len(trial) == 1 or trial.get_distances(len(trial) - 1, others, mic=True).min() >= min_distance:
            atoms = trial
    return atoms.positions


def molecule_atoms(seed=0) -> Atoms:
    """Acetamide (C, H, N, O), rattled so that it has no symmetry."""
    atoms = molecule("CH3CONH2")
    atoms.rattle(0.05, seed=seed)
    return atoms


def periodic_atoms(seed=1) -> Atoms:
    """A small triclinic cell (edges shorter than the cutoff: atoms see several of their images)."""
    rng = np.random.default_rng(seed)
    cell = np.array([[3.3, 0.0, 0.0], [0.8, 3.1, 0.0], [-0.5, 0.6, 3.5]])
    positions = _random_positions(rng, cell, 5, 1.0)
    return Atoms(numbers=[1, 6, 7, 8, 6], positions=positions, cell=cell, pbc=True)


def slab_atoms(seed=2) -> Atoms:
    """Periodic in a1 and a2 (oblique), open along z; atoms within 3 Å of each other in z."""
    rng = np.random.default_rng(seed)
    cell = np.array([[3.6, 0.0, 0.0], [1.1, 3.4, 0.0], [0.0, 0.0, 3.0]])
    positions = _random_positions(rng, cell, 6, 1.0)
    return Atoms(numbers=[8, 1, 1, 6, 7, 1], positions=positions, cell=cell, pbc=(True, True, False))
