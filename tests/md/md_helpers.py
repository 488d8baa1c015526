"""Helpers of the MD tests: a tiny random ICTP model, the committed 3BPA geometry, small test systems.

A plain module (not ``conftest.py``); the CLI tests in ``tests/cli`` import it too.
"""

from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.io import read, write

from ictp_calc.io import save_model
from ictp_calc.model import ModelConfig, build_model

REPO = Path(__file__).resolve().parents[2]
BPA_START = REPO / "examples" / "data" / "3bpa_start.xyz"
EXAMPLES = REPO / "examples"

# Small enough that a 27-atom step costs a few ms on one core; float64 for energy conservation.
TINY_CONFIG = ModelConfig(
    atomic_numbers=(1, 6, 7, 8), cutoff=4.0, n_basis=4, radial_mlp=(8,), readout_mlp=(4,), n_hidden_feats=4,
    n_product_feats=4, l_max_edge_attrs=1, l_max_hidden_feats=1, correlation=2, avg_n_neighbors=10.0,
    dtype="float64",
)


def tiny_model(path: Path, seed: int = 0) -> str:
    """Save a tiny random model (H, C, N, O; 4 Å cutoff) to ``path``; returns the path as a string."""
    save_model(build_model(TINY_CONFIG, seed=seed), path)
    return str(path)


def bpa_box(path: Path, length: float = 10.0) -> str:
    """The 3BPA molecule centred in a periodic cubic box of ``length`` Å, written to ``path`` (extxyz)."""
    atoms = read(BPA_START)
    atoms.cell = [length] * 3
    atoms.pbc = True
    atoms.center()
    write(path, atoms, format="extxyz")
    return str(path)


def copper(path: Path = None, a: float = 3.6, repeat: int = 2, rattle: float = 0.0, seed: int = 0) -> Atoms:
    """Periodic fcc copper (EMT's lattice constant is about 3.59 Å), optionally rattled and written."""
    atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat(repeat)
    if rattle:
        atoms.positions += np.random.default_rng(seed).normal(0.0, rattle, atoms.positions.shape)
    if path is not None:
        write(path, atoms, format="extxyz")
    return atoms


def read_frames(path) -> list:
    return read(path, ":")


class PairLJ(Calculator):
    """All-pairs Lennard-Jones for small clusters in vacuum, vectorized with NumPy (argon parameters).

    The thermostat tests need thousands of cheap steps of an anharmonic, bound system: 13 argon atoms
    cost microseconds per call here, where an ICTP model (or ASE's EMT) costs milliseconds.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, epsilon: float = 0.0104, sigma: float = 3.40):
        super().__init__()
        self.epsilon, self.sigma = epsilon, sigma

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        r = self.atoms.positions
        d = r[:, None, :] - r[None, :, :]
        r2 = (d**2).sum(-1) + np.eye(len(r))  # the identity avoids 0/0 on the diagonal
        s6 = (self.sigma**2 / r2) ** 3
        np.fill_diagonal(s6, 0.0)
        energy = 2.0 * self.epsilon * (s6**2 - s6).sum()  # each pair twice: 4 eps / 2
        magnitude = 24.0 * self.epsilon * (2.0 * s6**2 - s6) / r2
        forces = (magnitude[:, :, None] * d).sum(1)
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}


def argon_cluster(path: Path) -> str:
    """Ar13 icosahedron (nearest neighbours near the LJ minimum, 3.8 Å) written to ``path``."""
    from ase.cluster import Icosahedron

    atoms = Icosahedron("Ar", noshells=2, latticeconstant=3.82 * np.sqrt(2))
    atoms.center()
    write(path, atoms, format="extxyz")
    return str(path)
