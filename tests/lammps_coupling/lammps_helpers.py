"""Structures and a small random model for the LAMMPS coupling tests (a plain module)."""

from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.build import molecule
from scipy.spatial.transform import Rotation

from ictp_calc.model import ModelConfig, build_model

ELEMENTS = (1, 6, 7, 8)
CUTOFF = 4.0
REPO = Path(__file__).resolve().parents[2]
BPA_FILE = REPO.parent / "shared" / "data" / "3bpa" / "train_300K.xyz"


def small_model(dtype: str = "float64", seed: int = 0):
    """A small random 2-layer ICTP model for H, C, N, O with a non-trivial energy shift and scale."""
    config = ModelConfig(
        atomic_numbers=ELEMENTS, n_hidden_feats=8, n_product_feats=8, l_max_edge_attrs=2, l_max_hidden_feats=1,
        correlation=3, cutoff=CUTOFF, avg_n_neighbors=8.0, radial_mlp=(16, 16), readout_mlp=(8,), dtype=dtype,
    )
    model = build_model(config, seed=seed)
    with torch.no_grad():
        model.energy_shift.copy_(torch.tensor([-1.3, -4.1, -2.7, -3.6]))
        model.energy_scale.fill_(1.5)
    return model


def methanol_liquid(grid=(2, 2, 2), spacing: float = 3.7, seed: int = 0) -> Atoms:
    """Randomly oriented methanol molecules on a grid in a periodic orthorhombic box, rattled."""
    rng = np.random.default_rng(seed)
    template = molecule("CH3OH")
    template.positions -= template.get_center_of_mass()
    numbers, positions = [], []
    for index in np.ndindex(*grid):
        rotation = Rotation.random(random_state=rng).as_matrix()
        centre = (np.array(index) + 0.5) * spacing + rng.uniform(-0.2, 0.2, 3)
        numbers.extend(template.numbers)
        positions.extend(template.positions @ rotation.T + centre)
    atoms = Atoms(numbers=numbers, positions=positions, cell=np.array(grid) * spacing, pbc=True)
    atoms.rattle(0.05, seed=seed)
    return atoms


def bpa_atoms():
    """First 3BPA frame of the shared data set without a cell, or None where the data is absent."""
    if not BPA_FILE.is_file():
        return None
    from ase.io import read

    atoms = read(BPA_FILE, index=0)
    atoms.calc = None
    atoms.pbc = False
    atoms.cell = None
    return atoms
