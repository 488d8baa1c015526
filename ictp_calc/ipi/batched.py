"""Batched requests: i-PI's ``<batch_size>`` hands one client several replicas or beads at once.

With an :class:`~ictp_calc.calculator.ICTPCalculator` the batch is evaluated in **one model call**
on a batched graph (the model's own batching, as in training), through the calculator's compiled
path where it has one; with any other calculator, one structure after the other. One call pays on
a GPU, where a 27-atom molecule leaves the device idle; on a CPU, separate single-thread clients are
as fast (see the MD guide).
"""

from __future__ import annotations

from typing import List, Tuple

import numpy as np
from ase import Atoms, units

from .. import keys
from ..calculator import ICTPCalculator
from ..data.checks import StructureError, check_finite_outputs, check_finite_positions, check_min_distance
from ..data.graph import atoms_to_graph, batch_graphs
from ..data.neighbors import neighbor_list
from ..inference import CompileFailedError
from ..md.errors import InputError
from .errors import UnphysicalStructure

__all__ = ["can_batch", "evaluate_batch"]

Result = Tuple[float, np.ndarray, np.ndarray]


def _structures(atoms: Atoms, cells_bohr: np.ndarray, positions_bohr: np.ndarray) -> List[Atoms]:
    structures = []
    for cell, positions in zip(cells_bohr, positions_bohr):
        copy = atoms.copy()
        copy.positions = positions * units.Bohr
        if atoms.pbc.any():
            copy.cell = cell * units.Bohr
        structures.append(copy)
    return structures


def can_batch(calc) -> bool:
    """Whether :func:`evaluate_batch` can evaluate a batch for ``calc`` in one model call."""
    return isinstance(calc, ICTPCalculator) and calc.length_units_to_A == 1.0 and calc.energy_units_to_eV == 1.0


def evaluate_batch(atoms: Atoms, cells_bohr: np.ndarray, positions_bohr: np.ndarray) -> List[Result]:
    """Evaluate a batch of i-PI structures with ``atoms.calc``.

    Args:
        atoms: the template (elements, order, ``pbc``) with its calculator.
        cells_bohr: [batch, 3, 3] cell vectors as rows, bohr (ignored when ``pbc`` is all False).
        positions_bohr: [batch, n_atoms, 3] positions, bohr.

    Returns:
        ``(energy, forces [n_atoms, 3], virial [3, 3])`` per structure, in hartree, hartree/bohr and
        hartree.

    Raises:
        TypeError: the calculator is not an ICTPCalculator in eV and Å (see :func:`can_batch`).
        UnphysicalStructure: non-finite positions or outputs, atoms too close.
    """
    calc = atoms.calc
    if not can_batch(calc):
        raise TypeError("evaluate_batch needs an ICTPCalculator in eV and Å; evaluate one structure at a time")
    structures = _structures(atoms, cells_bohr, positions_bohr)
    config, stress = calc.model.config, bool(atoms.pbc.all())
    try:
        for item in structures:
            check_finite_positions(item.positions)
            receiver, sender, shifts = neighbor_list(item.positions, item.cell.array, item.pbc, calc.cutoff)
            check_min_distance(item.positions, item.cell.array, receiver, sender, shifts, calc.min_distance,
                               item.numbers)
        graph = batch_graphs([atoms_to_graph(item, config.atomic_numbers, config.cutoff, dtype=calc.dtype,
                                             device=calc.device) for item in structures])
        out = calc.evaluate_graph(graph, stress)  # compiled with ictp-md serve --compile
        energy = out[keys.ENERGY].detach().double().cpu().numpy()  # [batch] eV
        forces = out[keys.FORCES].detach().double().cpu().numpy().reshape(len(structures), len(atoms), 3)
        virial = (out[keys.VIRIAL].detach().double().cpu().numpy() if stress  # [batch, 3, 3] eV
                  else np.zeros((len(structures), 3, 3)))
        check_finite_outputs({"energy": energy, "forces": forces, "virial": virial})
    except CompileFailedError as err:  # the batch's first request compiles (a larger capacity)
        raise InputError(str(err)) from err
    except (StructureError, ValueError) as err:
        raise UnphysicalStructure(f"cannot evaluate the positions sent by i-PI: {err}") from err
    return [(float(e) / units.Hartree, f * (units.Bohr / units.Hartree), v / units.Hartree)
            for e, f, v in zip(energy, forces, virial)]
