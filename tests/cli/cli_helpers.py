"""Helpers of the command-line tests: a tiny EMT data set and a tiny TOML run configuration.

A plain module (not ``conftest.py``), imported by the test files of this folder.
"""

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

REPO = Path(__file__).resolve().parents[2]
SHARED_3BPA = REPO.parent / "shared" / "data" / "3bpa"

TINY_MODEL_TOML = """
cutoff = 3.5
n_basis = 4
radial_mlp = [8]
readout_mlp = [4]
n_hidden_feats = 4
n_product_feats = 4
l_max_hidden_feats = 1
l_max_edge_attrs = 1
correlation = 2
dtype = "float64"
"""


def write_emt_data(path: Path, n: int = 10, seed: int = 0) -> Path:
    """Rattled Cu/Al tetrahedra and pentamers with EMT energies and forces (ASE convention)."""
    rng = np.random.default_rng(seed)
    base = 3.6 * np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5], [1, 0, 0]])
    frames = []
    for _ in range(n):
        k = int(rng.integers(4, 6))
        atoms = Atoms(numbers=rng.choice([13, 29], size=k), positions=base[:k] + rng.normal(0, 0.1, (k, 3)))
        atoms.calc = EMT()
        results = dict(energy=atoms.get_potential_energy(), forces=atoms.get_forces())
        atoms.calc = SinglePointCalculator(atoms, **results)
        frames.append(atoms)
    write(path, frames, format="extxyz")
    return path


def write_config(tmp_path: Path, epochs: int = 2, extra_training: str = "") -> Path:
    """A TOML run on tmp_path/emt.xyz (7 train / 3 valid) writing to tmp_path/run."""
    data = tmp_path / "emt.xyz"
    if not data.exists():
        write_emt_data(data)
    text = f"""
output_dir = "{(tmp_path / 'run').as_posix()}"

[data]
train_file = "{data.as_posix()}"
n_train = 7
n_valid = 3
seed = 0

[model]
{TINY_MODEL_TOML}

[training]
batch_size = 2
eval_batch_size = 5
max_epoch = {epochs}
checkpoint_every = 1
{extra_training}
"""
    path = tmp_path / "run.toml"
    path.write_text(text)
    return path
