"""Helpers of the calculator tests: a small random model, test structures and a forward counter.

A plain module, imported by the tests (``conftest.py`` only holds fixtures): several ``conftest.py``
files share the module name ``conftest``, so importing from one would depend on collection order.
"""

from pathlib import Path
from typing import List, Optional

import numpy as np
import torch
from ase import Atoms
from ase.build import molecule

from ictp_calc.model import ModelConfig, build_model

ELEMENTS = (1, 6, 7, 8)
CUTOFF = 4.0
BPA_FILE = Path(__file__).resolve().parents[3] / "shared" / "data" / "3bpa" / "train_300K.xyz"


def small_model(dtype: str = "float64", correlation: int = 3, seed: int = 0):
    """A small random ICTP model for H, C, N, O with a non-trivial energy shift and scale."""
    config = ModelConfig(
        atomic_numbers=ELEMENTS,
        n_hidden_feats=8,
        n_product_feats=8,
        l_max_edge_attrs=2,
        l_max_hidden_feats=1,
        correlation=correlation,
        cutoff=CUTOFF,
        avg_n_neighbors=6.0,
        dtype=dtype,
    )
    model = build_model(config, seed=seed)
    with torch.no_grad():
        model.energy_shift.copy_(torch.tensor([-1.3, -4.1, -2.7, -3.6]))
        model.energy_scale.fill_(1.5)
    return model


class ForwardCounter:
    """Counts forward calls of a module (and keeps the last input graph) through hooks."""

    def __init__(self, module: torch.nn.Module):
        self.count = 0
        self.graph: Optional[dict] = None
        self._handle = module.register_forward_pre_hook(self._hook)

    def _hook(self, module, args):
        self.count += 1
        self.graph = args[0]

    def remove(self):
        self._handle.remove()


# --------------------------------------------------------------------------------------------------
# Structures (all free of atoms closer than 0.9 Å, periodic images included)


def _random_positions(rng, cell, n: int, min_distance: float) -> np.ndarray:
    atoms = Atoms(cell=cell, pbc=True)
    while len(atoms) < n:
        trial = atoms + Atoms("H", scaled_positions=[rng.uniform(0.0, 1.0, 3)], cell=cell, pbc=True)
        last = len(trial) - 1
        if last == 0 or trial.get_distances(last, range(last), mic=True).min() >= min_distance:
            atoms = trial
    return atoms.positions


def molecule_atoms(seed: int = 0) -> Atoms:
    """Acetamide (C, H, N, O) without a cell, rattled out of symmetry."""
    atoms = molecule("CH3CONH2")
    atoms.rattle(0.05, seed=seed)
    return atoms


def bpa_atoms() -> Optional[Atoms]:
    """First 3BPA frame of the shared data set, or None where the data is absent."""
    if not BPA_FILE.is_file():
        return None
    from ase.io import read

    atoms = read(BPA_FILE, index=0)
    atoms.calc = None
    atoms.pbc = False
    return atoms


def triclinic_atoms(seed: int = 1, n_atoms: int = 8) -> Atoms:
    """A periodic triclinic box whose edges are shorter than the cutoff (atoms see their own images)."""
    rng = np.random.default_rng(seed)
    cell = np.array([[3.9, 0.0, 0.0], [0.8, 3.7, 0.0], [-0.5, 0.6, 4.1]])
    numbers = rng.choice(ELEMENTS, size=n_atoms)
    atoms = Atoms(numbers=numbers, positions=_random_positions(rng, cell, n_atoms, 1.1), cell=cell, pbc=True)
    atoms.positions += 0.7 * cell[0] - 1.2 * cell[2]  # unwrapped positions are fine
    return atoms


def slab_atoms(seed: int = 2) -> Atoms:
    """Periodic along a1 and a2 (oblique), open along z."""
    rng = np.random.default_rng(seed)
    cell = np.array([[3.8, 0.0, 0.0], [1.1, 3.6, 0.0], [0.0, 0.0, 3.0]])
    positions = _random_positions(rng, cell, 6, 1.1)
    return Atoms(numbers=[8, 1, 1, 6, 7, 1], positions=positions, cell=cell, pbc=(True, True, False))


def single_atom() -> Atoms:
    return Atoms("N", positions=[[0.3, -1.0, 2.0]])


def linear_molecule() -> Atoms:
    """CO2 (collinear atoms, no cell)."""
    return molecule("CO2")


def self_image_cell() -> Atoms:
    """One atom in a 2.3 Å cubic cell: all of its neighbors are its own images."""
    return Atoms("C", positions=[[0.2, 0.1, -0.3]], cell=2.3 * np.eye(3), pbc=True)


def geometries() -> List[tuple]:
    """``(name, atoms)`` of every test geometry available here."""
    out = [
        ("molecule", molecule_atoms()),
        ("triclinic", triclinic_atoms()),
        ("slab", slab_atoms()),
        ("single_atom", single_atom()),
        ("linear", linear_molecule()),
        ("self_images", self_image_cell()),
    ]
    bpa = bpa_atoms()
    if bpa is not None:
        out.append(("3bpa", bpa))
    return out
