"""Training-set statistics for a new model: neighbors, energy shift and scale (spec §2.4, §2.7)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from .neighbors import neighbor_list

__all__ = ["DatasetStatistics", "compute_statistics", "pair_key", "regression_shift"]


def pair_key(z1: int, z2: int) -> str:
    """Name of an element pair, lighter element first: ``pair_key(8, 1) == "H-O"``."""
    from ase.data import chemical_symbols

    a, b = sorted((int(z1), int(z2)))
    return f"{chemical_symbols[a]}-{chemical_symbols[b]}"


@dataclass(frozen=True)
class DatasetStatistics:
    """What :func:`ictp_calc.model.build_model` needs from the training data.

    Attributes:
        avg_n_neighbors: mean in-degree within the cutoff (no skin).
        energy_shift: per-element shift mu_z, eV, in the model's element order.
        energy_scale: RMS of all force components, eV/Å (1.0 without forces).
        n_structures / n_atoms: size of the data the statistics came from.
        shortest_distances_A: per element pair (:func:`pair_key`), the shortest distance within the
            cutoff in the data, Å; pairs never within the cutoff are absent. The calculator warns
            below them (the model has never seen such a configuration).
    """

    avg_n_neighbors: float
    energy_shift: Tuple[float, ...]
    energy_scale: float
    n_structures: int = 0
    n_atoms: int = 0
    shortest_distances_A: Optional[Dict[str, float]] = None


def regression_shift(
    energies: np.ndarray, counts: np.ndarray, e0: np.ndarray, ridge: float = 1.0
) -> np.ndarray:
    """Per-element shift ``mu = E0 + e_mean + delta`` (spec §2.7).

    Args:
        energies: ``[n_structures]`` total energies, eV.
        counts: ``[n_structures, n_species]`` atoms of each species.
        e0: ``[n_species]`` isolated-atom energies, eV.
        ridge: regularization lambda of the regression of the residual on the counts.
    """
    n_atoms = counts.sum(1)
    residual = energies - counts @ e0
    mean_per_atom = residual.sum() / n_atoms.sum()
    residual = residual - n_atoms * mean_per_atom
    lhs = counts.T @ counts + ridge * np.eye(counts.shape[1])
    delta = np.linalg.solve(lhs, counts.T @ residual)
    return e0 + mean_per_atom + delta


def compute_statistics(
    structures: Sequence,
    atomic_numbers: Sequence[int],
    cutoff: float,
    atomic_energies: Optional[Sequence[float]] = None,
    compute_regression_shift: bool = True,
) -> DatasetStatistics:
    """Statistics of labelled ASE structures (energies and forces from their calculators).

    Structures without an energy contribute to the neighbor count only.
    """
    index = {int(z): k for k, z in enumerate(atomic_numbers)}
    e0 = np.zeros(len(atomic_numbers)) if atomic_energies is None else np.asarray(atomic_energies, float)
    n_edges, n_atoms, energies, counts, forces = 0, 0, [], [], []
    shortest: Dict[str, float] = {}
    for atoms in structures:
        i, j, shifts = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, cutoff)
        n_edges, n_atoms = n_edges + len(i), n_atoms + len(atoms)
        _update_shortest(shortest, atoms, i, j, shifts)
        calc = atoms.calc
        if calc is not None and "energy" in calc.results:
            energies.append(calc.results["energy"])
            counts.append(np.bincount([index[int(z)] for z in atoms.numbers], minlength=len(index)))
        if calc is not None and "forces" in calc.results:
            forces.append(np.asarray(calc.results["forces"]).ravel())
    shift = e0
    if compute_regression_shift and energies:
        shift = regression_shift(np.array(energies), np.array(counts, float), e0)
    scale = float(np.sqrt(np.mean(np.concatenate(forces) ** 2))) if forces else 1.0
    return DatasetStatistics(
        avg_n_neighbors=n_edges / max(n_atoms, 1),
        energy_shift=tuple(float(v) for v in shift),
        energy_scale=scale,
        n_structures=len(structures),
        n_atoms=n_atoms,
        shortest_distances_A=dict(sorted(shortest.items())),
    )


def _update_shortest(shortest: Dict[str, float], atoms, i: np.ndarray, j: np.ndarray, shifts: np.ndarray) -> None:
    """Lower ``shortest[pair]`` to the shortest edge of each element pair in ``atoms``."""
    if not len(i):
        return
    vectors = atoms.positions[i] - atoms.positions[j] - shifts @ atoms.cell.array
    lengths = np.sqrt(np.einsum("ei,ei->e", vectors, vectors))
    numbers = atoms.numbers
    lo, hi = np.minimum(numbers[i], numbers[j]), np.maximum(numbers[i], numbers[j])
    codes = lo.astype(np.int64) * 1000 + hi
    for code in np.unique(codes):
        value = float(lengths[codes == code].min())
        key = pair_key(int(code) // 1000, int(code) % 1000)
        shortest[key] = min(value, shortest.get(key, np.inf))
