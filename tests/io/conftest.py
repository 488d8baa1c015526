"""Fixtures of the model-file tests: a small model with non-trivial buffers, and structures."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule

from ictp_calc.model import ModelConfig, build_model


@pytest.fixture
def small_model(dtype):
    config = ModelConfig(
        atomic_numbers=(1, 6, 7, 8),
        cutoff=4.0,
        n_basis=6,
        radial_mlp=(16,),
        readout_mlp=(8,),
        n_hidden_feats=8,
        n_product_feats=8,
        l_max_hidden_feats=1,
        avg_n_neighbors=3.5,
        atomic_energies=(-13.6, -1029.5, -1485.0, -2042.0),
        dtype={torch.float32: "float32", torch.float64: "float64"}[dtype],
    )
    model = build_model(config, seed=4)
    with torch.no_grad():  # buffers away from their defaults, so that losing them shows
        model.energy_shift.add_(torch.tensor([0.1, -0.2, 0.3, -0.4]))
        model.energy_scale.fill_(2.5)
    return model


@pytest.fixture
def structures():
    mol = molecule("CH3CONH2")
    mol.rattle(0.05, seed=1)
    cell = np.array([[3.3, 0.0, 0.0], [0.8, 3.1, 0.0], [-0.5, 0.6, 3.5]])
    fractional = [[0, 0, 0], [0.5, 0.5, 0.1], [0.2, 0.7, 0.5], [0.8, 0.2, 0.7]]
    crystal = Atoms("HCNO", scaled_positions=fractional, cell=cell, pbc=True)
    return [mol, crystal]
