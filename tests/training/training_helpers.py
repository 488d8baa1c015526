"""Shared helpers of the training tests: tiny EMT data sets and tiny run configurations.

A plain module (not ``conftest.py``), imported by the test files of this folder.
"""

from pathlib import Path
from typing import Optional

import numpy as np
import torch
from ase import Atoms
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from ictp_calc.training import DataConfig, RunConfig, TrainingConfig

# F = P = 4, L_e = L_h = 1, nu = 2: every block present, a few ms per step.
TINY_MODEL = dict(
    cutoff=3.5,
    n_basis=4,
    radial_mlp=[8],
    readout_mlp=[4],
    n_hidden_feats=4,
    n_product_feats=4,
    n_interactions=2,
    l_max_hidden_feats=1,
    l_max_edge_attrs=1,
    correlation=2,
    dtype="float64",
)

# Lattice-gas clusters: fcc fragments (nearest neighbors 2.55 Å) with Cu and Al mixed.
_FCC = 3.6 * np.array(
    [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5], [1, 0, 0], [1, 0.5, 0.5], [0.5, 0.5, 1]]
)


def emt_cluster(rng: np.random.Generator, n_atoms: Optional[int] = None) -> Atoms:
    """A rattled Cu/Al cluster of 4-7 atoms with EMT energy and forces on a SinglePointCalculator."""
    n = int(rng.integers(4, 8)) if n_atoms is None else n_atoms
    numbers = rng.choice([13, 29], size=n)
    atoms = Atoms(numbers=numbers, positions=_FCC[:n] + rng.normal(0.0, 0.12, (n, 3)))
    atoms.calc = EMT()
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
    return atoms


def emt_structures(n: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [emt_cluster(rng) for _ in range(n)]


def write_dataset(path: Path, structures: list, convention: str = "calculator") -> Path:
    """Write labelled structures as ASE's calculator convention or as REF_energy/REF_forces keys."""
    if convention == "calculator":
        write(path, structures, format="extxyz")
        return path
    plain = []
    for atoms in structures:
        copy = Atoms(numbers=atoms.numbers, positions=atoms.positions)
        copy.info["REF_energy"] = atoms.calc.results["energy"]
        copy.arrays["REF_forces"] = atoms.calc.results["forces"].copy()
        plain.append(copy)
    write(path, plain, format="extxyz")
    return path


def write_e0(path: Path, energies: dict) -> Path:
    """An isolated-atom file: one single-atom frame per element with its energy."""
    frames = []
    for z, e in energies.items():
        atoms = Atoms(numbers=[z], positions=[[0.0, 0.0, 0.0]])
        atoms.calc = SinglePointCalculator(atoms, energy=e)
        frames.append(atoms)
    write(path, frames, format="extxyz")
    return path


def tiny_run(tmp_path: Path, n_structures: int = 12, **training) -> RunConfig:
    """A run on ``n_structures`` EMT clusters (8 train / 4 valid by default) into tmp_path/run."""
    data_file = tmp_path / "emt.xyz"
    if not data_file.exists():
        write_dataset(data_file, emt_structures(n_structures, seed=3))
    settings = dict(batch_size=2, eval_batch_size=4, max_epoch=4, lr=0.02, checkpoint_every=2,
                    scheduler_patience=0, scheduler_factor=0.5)
    settings.update(training)
    return RunConfig(
        data=DataConfig(train_file=str(data_file), n_train=8, n_valid=4, seed=1),
        model=dict(TINY_MODEL),
        training=TrainingConfig(**settings),
        output_dir=str(tmp_path / "run"),
    )


def final_weights(output_dir) -> dict:
    """Everything in a run's last checkpoint except wall-clock times: weights, EMA, optimizer,
    scheduler, shuffling RNG, epoch, best-so-far and history."""
    state = torch.load(Path(output_dir) / "checkpoint.pt", weights_only=True)
    state.pop("elapsed")
    state.pop("run_config")  # holds output_dir
    state["history"] = [{k: v for k, v in r.items() if k not in ("epoch_time", "elapsed")} for r in state["history"]]
    return state


def assert_bitwise_equal(a, b, path="") -> None:
    """Nested dicts/lists of tensors and primitives are identical, tensors bit for bit."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, path
        assert torch.equal(a, b), f"tensors differ at {path}"
    elif isinstance(a, dict):
        assert set(a) == set(b), f"keys differ at {path}"
        for key in a:
            assert_bitwise_equal(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_bitwise_equal(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"
