"""Graphs padded to capacities, in the dense slot layout: fixed shapes for ``torch.compile``.

A padded graph has ``n_atoms``/``n_edges`` capacities instead of the true counts and one extra
graph that holds the padding atoms (zero cell, never reported); padding edges carry the slot
``n_atoms * K`` and are ignored (:data:`ictp_calc.keys.EDGE_SLOT`). Capacities grow in steps
(:func:`grow_capacity`), so an MD run whose neighbor count changes reuses one shape, hence one
compiled graph. Everything here is tensor operations on the graph's device, without host reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict

import torch

from .. import keys
from ..nn.convolution import dense_slots

__all__ = ["Capacities", "grow_capacity", "pad_graph", "pad_positions", "pad_static", "unpad_outputs"]

Graph = Dict[str, torch.Tensor]


def grow_capacity(needed: int, current: int = 0, multiple: int = 8, factor: float = 1.25) -> int:
    """``current`` if it holds ``needed``, else ``max(needed, factor * current)`` rounded up to ``multiple``."""
    if needed <= current:
        return current
    return multiple * math.ceil(max(needed, factor * current) / multiple)


@dataclass(frozen=True)
class Capacities:
    """Padded sizes: atoms (all graphs), edges, and slots per atom ``K`` (>= the largest in-degree)."""

    n_atoms: int
    n_edges: int
    max_neighbors: int

    def grown(self, n_atoms: int, n_edges: int, max_neighbors: int) -> "Capacities":
        """These capacities, each grown where it is too small for the given sizes (else ``self``).

        Atoms are not rounded up: an MD run keeps its atom count, and every padding atom would cost
        ``max_neighbors`` slots of the dense layout (3BPA: 27 atoms padded to 32 made a compiled call
        about 12 % slower). Growth by 25 % still bounds the recompilations when the count changes.
        """
        return Capacities(
            grow_capacity(n_atoms, self.n_atoms, 1),
            grow_capacity(n_edges, self.n_edges, 64),
            grow_capacity(max_neighbors, self.max_neighbors, 4),
        )


def pad_static(graph: Graph, caps: Capacities) -> Graph:
    """Everything but positions and cell, padded (see the module docstring); ``[G]`` -> ``[G + 1]`` graphs.

    The caller guarantees that ``caps`` holds the graph (atoms, edges, largest in-degree).
    """
    species, edge_index = graph[keys.SPECIES], graph[keys.EDGE_INDEX]
    n_atoms, n_edges, device = species.shape[0], edge_index.shape[1], species.device
    n_graphs, k = graph[keys.PBC].shape[0], caps.max_neighbors
    pad_atoms, pad_edges = caps.n_atoms - n_atoms, caps.n_edges - n_edges
    if pad_atoms < 0 or pad_edges < 0:
        raise ValueError(f"capacities {caps} are too small for {n_atoms} atoms and {n_edges} edges")
    slot, senders = dense_slots(edge_index[0], edge_index[1], caps.n_atoms, k)
    zeros = edge_index.new_zeros
    return {
        keys.SPECIES: torch.cat([species, zeros(pad_atoms)]),
        keys.BATCH: torch.cat([graph[keys.BATCH], torch.full((pad_atoms,), n_graphs, dtype=torch.long, device=device)]),
        keys.N_ATOMS: torch.cat([graph[keys.N_ATOMS], graph[keys.N_ATOMS].new_full((1,), pad_atoms)]),
        keys.PBC: torch.cat([graph[keys.PBC], graph[keys.PBC].new_zeros(1, 3)]),
        keys.EDGE_INDEX: torch.cat([edge_index, zeros(2, pad_edges)], dim=1),
        keys.CELL_SHIFTS: torch.cat([graph[keys.CELL_SHIFTS], graph[keys.CELL_SHIFTS].new_zeros(pad_edges, 3)]),
        keys.EDGE_SLOT: torch.cat([slot, slot.new_full((pad_edges,), caps.n_atoms * k)]),
        keys.SLOT_SENDER: senders,
    }


def pad_positions(positions: torch.Tensor, cell: torch.Tensor, caps: Capacities) -> Graph:
    """``positions [N, 3]`` and ``cell [G, 3, 3]`` padded with zeros to ``[N_cap, 3]``, ``[G + 1, 3, 3]``."""
    return {
        keys.POSITIONS: torch.cat([positions, positions.new_zeros(caps.n_atoms - positions.shape[0], 3)]),
        keys.CELL: torch.cat([cell, cell.new_zeros(1, 3, 3)]),
    }


def pad_graph(graph: Graph, caps: Capacities) -> Graph:
    """The whole graph padded to ``caps`` (:func:`pad_static` and :func:`pad_positions`)."""
    return {**pad_static(graph, caps), **pad_positions(graph[keys.POSITIONS], graph[keys.CELL], caps)}


def unpad_outputs(out: Graph, n_atoms: int, n_graphs: int) -> Graph:
    """Model outputs of a padded graph cut back to the real ``n_atoms`` atoms and ``n_graphs`` graphs."""
    per_atom = {keys.NODE_ENERGY, keys.FORCES}
    per_graph = {keys.ENERGY, keys.VIRIAL, keys.STRESS}
    result = {}
    for name, value in out.items():
        if name in per_atom:
            result[name] = value[:n_atoms]
        elif name in per_graph:
            result[name] = value[:n_graphs]
        else:
            result[name] = value
    return result
