"""Labelled data sets: extxyz reading, isolated-atom energies, seeded splits and graph batches.

Labels are read from either extxyz convention and normalized onto a
:class:`~ase.calculators.singlepoint.SinglePointCalculator`, so that everything downstream
(:func:`~ictp_calc.data.compute_statistics`, graph building) sees one convention:

* ASE's own: ``energy=`` in the comment line and a ``forces`` column, which ASE (>= 3.23) puts
  on a SinglePointCalculator;
* named keys: ``REF_energy=`` in ``atoms.info`` and a ``REF_forces`` column in ``atoms.arrays``.

A structure without some label gets NaN for it in its graph; the loss and the metrics skip NaN
labels (spec §3), so partially labelled files train on what they have.
"""

from __future__ import annotations

import os
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .. import keys
from .checks import StructureError, check_structure
from .graph import atoms_to_graph, batch_graphs

__all__ = [
    "DatasetError",
    "MissingLabelsError",
    "MissingE0Error",
    "read_labelled",
    "read_atomic_energies",
    "atomic_energies_for",
    "fit_atomic_energies",
    "split_indices",
    "labelled_graph",
    "collate",
    "GraphDataset",
]

Graph = Dict[str, torch.Tensor]


class DatasetError(ValueError):
    """A data file that cannot be used as it is (missing, empty, malformed labels)."""


class MissingLabelsError(DatasetError):
    """A data file in which no structure carries an energy or forces label."""


class MissingE0Error(DatasetError):
    """The isolated-atom energy file lacks elements that the data set contains."""


def _lookup(atoms, key: str, per_atom: bool):
    """The label ``key`` from ``info``/``arrays`` first (named keys), else from the calculator."""
    store = atoms.arrays if per_atom else atoms.info
    if key in store:
        return store[key]
    calc = atoms.calc
    results = getattr(calc, "results", None) or {}
    return results.get(key)


def _numbers(value, path: str, index: int, name: str) -> np.ndarray:
    """``value`` as a float array; a label that is not numeric raises :class:`DatasetError`."""
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError) as err:
        raise DatasetError(f"{path}: structure {index} has a non-numeric {name} label ({value!r})") from err


def _stress_3x3(value, path: str, index: int) -> np.ndarray:
    from ase.stress import voigt_6_to_full_3x3_stress

    value = _numbers(value, path, index, "stress")
    if value.shape == (6,):
        return voigt_6_to_full_3x3_stress(value)
    if value.size == 9:
        return value.reshape(3, 3)
    raise DatasetError(f"{path}: structure {index} has a stress of shape {value.shape} (need 6 or 3x3)")


def read_labelled(
    path: str, energy_key: str = "energy", forces_key: str = "forces", stress_key: str = "stress",
    min_distance: float = 0.1,
) -> list:
    """Read every structure of an extxyz file with its labels on a SinglePointCalculator.

    Args:
        path: extxyz file.
        energy_key / forces_key / stress_key: label names, looked up in ``atoms.info`` (energy,
            stress) or ``atoms.arrays`` (forces) and then in the calculator's results.
        min_distance: Å; a structure with two atoms (or periodic images) closer than this is an error
            (coincident atoms make every loss NaN).

    Returns:
        ``ase.Atoms`` objects whose calculators hold exactly the labels found (eV, eV/Å, eV/Å^3).

    Raises:
        DatasetError: the file is missing, empty or not extxyz; a label is not numeric or has the
            wrong shape; a structure is unusable (no atoms, non-finite position, degenerate cell, two
            atoms within ``min_distance``): the message names the file and the structure's index.
        MissingLabelsError: no structure has an energy or forces label.
    """
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import read

    if not os.path.isfile(path):
        raise DatasetError(f"data file {path!r} does not exist")
    try:
        structures = read(path, index=":", format="extxyz")
    except Exception as err:  # ASE raises many types (ValueError, IndexError, ...) on malformed files
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise DatasetError(f"{path}: not a readable extxyz file ({type(err).__name__}: {reason})") from err
    if not structures:
        raise DatasetError(f"{path}: no structures")
    n_labelled = 0
    for index, atoms in enumerate(structures):
        try:
            check_structure(atoms, min_distance)
        except StructureError as err:
            raise DatasetError(f"{path}: structure {index} (0-based) is unusable: {err}") from err
        labels = {}
        energy = _lookup(atoms, energy_key, per_atom=False)
        if energy is not None:
            energy = _numbers(energy, path, index, "energy")
            if energy.size != 1:
                raise DatasetError(f"{path}: structure {index} has an energy of shape {energy.shape}")
            labels["energy"] = float(energy.reshape(()))
        forces = _lookup(atoms, forces_key, per_atom=True)
        if forces is not None:
            forces = _numbers(forces, path, index, "forces")
            if forces.shape != (len(atoms), 3):
                raise DatasetError(f"{path}: structure {index} has forces of shape {forces.shape}")
            labels["forces"] = forces
        stress = _lookup(atoms, stress_key, per_atom=False)
        if stress is not None:
            labels["stress"] = _stress_3x3(stress, path, index)
        n_labelled += "energy" in labels or "forces" in labels
        atoms.calc = SinglePointCalculator(atoms, **labels)
    if n_labelled == 0:
        first = structures[0]
        info = sorted(first.info)
        arrays = sorted(k for k in first.arrays if k not in ("numbers", "positions"))
        raise MissingLabelsError(
            f"{path}: no structure has an energy ({energy_key!r}) or forces ({forces_key!r}) label; "
            f"the first structure has info keys {info} and per-atom arrays {arrays} "
            "(set energy_key / forces_key in [data] to use other names)"
        )
    return structures


def read_atomic_energies(path: str, energy_key: str = "energy") -> Dict[int, float]:
    """Isolated-atom energies E0 (eV) by atomic number, from an extxyz file of one-atom frames."""
    from ase.data import chemical_symbols

    out: Dict[int, float] = {}
    for index, atoms in enumerate(read_labelled(path, energy_key=energy_key)):
        if len(atoms) != 1:
            raise DatasetError(f"{path}: frame {index} has {len(atoms)} atoms; an E0 file has one atom per frame")
        if "energy" not in atoms.calc.results:
            raise DatasetError(f"{path}: frame {index} ({atoms.get_chemical_symbols()[0]}) has no energy")
        z = int(atoms.numbers[0])
        if z in out:
            raise DatasetError(f"{path}: element {chemical_symbols[z]} appears twice")
        out[z] = float(atoms.calc.results["energy"])
    return out


def atomic_energies_for(
    e0: Dict[int, float], atomic_numbers: Sequence[int], source: str = "E0 file"
) -> Tuple[float, ...]:
    """E0 in the model's element order; raises :class:`MissingE0Error` naming the missing elements."""
    from ase.data import chemical_symbols

    missing = [chemical_symbols[z] for z in atomic_numbers if z not in e0]
    if missing:
        have = ", ".join(chemical_symbols[z] for z in sorted(e0)) or "none"
        raise MissingE0Error(f"{source} has no isolated-atom energy for {', '.join(missing)} (it has {have})")
    return tuple(float(e0[z]) for z in atomic_numbers)


def fit_atomic_energies(structures: Sequence, atomic_numbers: Sequence[int]) -> Tuple[float, ...]:
    """E0 by least squares of the total energies on the element counts.

    With fewer distinct compositions than elements (e.g. one molecule) the system is
    underdetermined and the minimum-norm solution is returned; the model's regression shift
    (spec §2.7) then absorbs the rest, so only the split between elements is arbitrary.
    """
    index = {int(z): k for k, z in enumerate(atomic_numbers)}
    rows, energies = [], []
    for atoms in structures:
        results = getattr(atoms.calc, "results", {}) or {}
        if "energy" in results:
            rows.append(np.bincount([index[int(z)] for z in atoms.numbers], minlength=len(index)))
            energies.append(results["energy"])
    if not rows:
        raise MissingLabelsError("cannot fit isolated-atom energies: no structure has an energy")
    solution = np.linalg.lstsq(np.array(rows, float), np.array(energies, float), rcond=None)[0]
    return tuple(float(v) for v in solution)


def split_indices(n_total: int, n_train: Optional[int], n_valid: int, seed: int) -> Tuple[List[int], List[int]]:
    """A seeded random split of ``range(n_total)``: ``n_valid`` validation, ``n_train`` training.

    ``n_train=None`` takes every structure not in validation. Both lists are sorted, so the
    result depends only on ``seed`` and the sizes (numpy's PCG64 stream).
    """
    n_train = n_total - n_valid if n_train is None else n_train
    if n_train < 1 or n_valid < 0 or n_train + n_valid > n_total:
        raise DatasetError(f"cannot split {n_total} structures into {n_train} training and {n_valid} validation")
    order = np.random.default_rng(seed).permutation(n_total)
    return sorted(int(i) for i in order[n_valid : n_valid + n_train]), sorted(int(i) for i in order[:n_valid])


def labelled_graph(atoms, atomic_numbers: Sequence[int], cutoff: float, dtype: torch.dtype) -> Graph:
    """:func:`~ictp_calc.data.atoms_to_graph` plus the ``REF_*`` labels (NaN where absent).

    Forces and stress use ``dtype``; the reference energy is always float64.
    """
    graph = atoms_to_graph(atoms, atomic_numbers, cutoff, dtype=dtype)
    results = getattr(atoms.calc, "results", {}) or {}
    nan = float("nan")
    # Total energies stay float64 even for float32 models: a float32 -17660 eV has a 2 meV ulp.
    graph[keys.REF_ENERGY] = torch.tensor([float(results.get("energy", nan))], dtype=torch.float64)
    forces = results.get("forces")
    graph[keys.REF_FORCES] = (
        torch.full((len(atoms), 3), nan, dtype=dtype) if forces is None else torch.tensor(forces, dtype=dtype)
    )
    stress = results.get("stress")
    if stress is None:
        graph[keys.REF_STRESS] = torch.full((1, 3, 3), nan, dtype=dtype)
    else:
        stress = np.asarray(stress, float)
        stress = _stress_3x3(stress, "<structure>", 0) if stress.shape != (3, 3) else stress
        graph[keys.REF_STRESS] = torch.tensor(stress, dtype=dtype).unsqueeze(0)
    return graph


def collate(graphs: Sequence[Graph]) -> Graph:
    """:func:`~ictp_calc.data.batch_graphs` that also concatenates the labels."""
    batch = batch_graphs(graphs)
    for key in (keys.REF_ENERGY, keys.REF_FORCES, keys.REF_STRESS):
        batch[key] = torch.cat([g[key] for g in graphs])
    return batch


class GraphDataset:
    """Precomputed labelled graphs (on the CPU) that are batched on demand.

    Graphs are built once; an epoch only concatenates small tensors, which costs far less than
    a neighbor list per structure per epoch.
    """

    def __init__(self, structures: Sequence, atomic_numbers: Sequence[int], cutoff: float, dtype: torch.dtype):
        self.graphs: List[Graph] = [labelled_graph(a, atomic_numbers, cutoff, dtype) for a in structures]

    def __len__(self) -> int:
        return len(self.graphs)

    def batches(
        self,
        batch_size: int,
        shuffle: bool = False,
        generator: Optional[torch.Generator] = None,
        drop_last: bool = False,
    ) -> Iterator[Graph]:
        """Yield collated batches; shuffling draws from ``generator`` only (no global RNG)."""
        n = len(self.graphs)
        order = torch.randperm(n, generator=generator).tolist() if shuffle else list(range(n))
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            yield collate([self.graphs[i] for i in order[start : start + batch_size]])

    def n_batches(self, batch_size: int, drop_last: bool = False) -> int:
        return len(self.graphs) // batch_size if drop_last else -(-len(self.graphs) // batch_size)
