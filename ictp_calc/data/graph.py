"""ASE ``Atoms`` -> graph dictionaries (see :mod:`ictp_calc.keys`), single or batched."""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np
import torch

from .. import keys
from .neighbors import neighbor_list

__all__ = ["UnknownElementError", "species_indices", "atoms_to_graph", "batch_graphs"]


class UnknownElementError(ValueError):
    """An atom's element is not one the model was trained on."""


def species_indices(numbers: Sequence[int], atomic_numbers: Sequence[int]) -> np.ndarray:
    """Map atomic numbers to the model's species indices; unknown elements raise, naming them."""
    from ase.data import chemical_symbols

    table = {int(z): k for k, z in enumerate(atomic_numbers)}
    missing = sorted({int(z) for z in numbers} - set(table))
    if missing:
        names = ", ".join(chemical_symbols[z] for z in missing)
        known = ", ".join(chemical_symbols[z] for z in atomic_numbers)
        raise UnknownElementError(f"element(s) {names} not supported by this model (it knows {known})")
    return np.array([table[int(z)] for z in numbers], dtype=np.int64)


def atoms_to_graph(
    atoms,
    atomic_numbers: Sequence[int],
    cutoff: float,
    dtype: torch.dtype = torch.float64,
    device: Optional[torch.device] = None,
) -> Dict[str, torch.Tensor]:
    """One structure as a graph of one: edges within ``cutoff`` (Å) from matscipy."""
    positions = atoms.get_positions()
    pbc = np.asarray(atoms.get_pbc(), dtype=bool)
    cell = atoms.get_cell().array
    receiver, sender, shifts = neighbor_list(positions, cell, pbc, cutoff)
    n_atoms = len(atoms)
    arrays = {
        keys.POSITIONS: torch.tensor(positions, dtype=dtype),
        keys.SPECIES: torch.from_numpy(species_indices(atoms.numbers, atomic_numbers)),
        keys.EDGE_INDEX: torch.from_numpy(np.stack([receiver, sender])),
        keys.CELL_SHIFTS: torch.tensor(shifts, dtype=dtype),
        keys.CELL: torch.tensor(cell, dtype=dtype).unsqueeze(0),
        keys.PBC: torch.tensor(pbc).unsqueeze(0),
        keys.BATCH: torch.zeros(n_atoms, dtype=torch.long),
        keys.N_ATOMS: torch.tensor([n_atoms]),
    }
    return {k: v.to(device) for k, v in arrays.items()}


def batch_graphs(graphs: Sequence[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """Concatenate graphs into one batch: node indices are offset, graph indices renumbered."""
    offsets = np.cumsum([0] + [int(g[keys.N_ATOMS].sum()) for g in graphs[:-1]])
    graph_offsets = np.cumsum([0] + [int(g[keys.CELL].shape[0]) for g in graphs[:-1]])
    out = {
        keys.EDGE_INDEX: torch.cat([g[keys.EDGE_INDEX] + int(o) for g, o in zip(graphs, offsets)], dim=1),
        keys.BATCH: torch.cat([g[keys.BATCH] + int(o) for g, o in zip(graphs, graph_offsets)]),
    }
    for key in (keys.POSITIONS, keys.SPECIES, keys.CELL_SHIFTS, keys.CELL, keys.PBC, keys.N_ATOMS):
        out[key] = torch.cat([g[key] for g in graphs])
    return out
