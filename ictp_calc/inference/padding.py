"""Graphs padded to capacities, in a bucketed slot layout: fixed shapes for ``torch.compile``.

A padded graph has ``n_atoms``/``n_edges`` capacities instead of the true counts and one extra
graph that holds the padding atoms (zero cell, never reported); padding edges carry the slot
``n_slots`` and are ignored (:data:`ictp_calc.keys.EDGE_SLOT`). The atoms, sorted by in-degree,
fill *buckets* of a fixed number of atoms with a fixed number of slots each, the chunks of the
convolution (:func:`~ictp_calc.nn.convolution.bucket_slots`): a molecule's hydrogens get fewer slots
than its carbons (3BPA: 11 x 26 + 10 x 20 + 6 x 14 = 570 slots for 438 edges, where one width for
all atoms would take 27 x 26 = 702). An edge and its reverse have the same length, so the radial
MLP, most of a small molecule's arithmetic, runs once per *pair* of them
(:func:`~ictp_calc.nn.convolution.edge_pairs`; 3BPA: 219 pairs) and its output is gathered into the
slots. Capacities grow in steps (:func:`grow_capacity`), so an MD run whose neighbor count changes
reuses one shape, hence one compiled graph. Everything but :meth:`Capacities.grown` (host side, once
per neighbor list) is tensor operations on the graph's device, without host reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from .. import keys
from ..nn.convolution import bucket_slots, edge_pairs

__all__ = [
    "Capacities",
    "grow_capacity",
    "in_degrees",
    "pad_graph",
    "pad_positions",
    "pad_static",
    "plan_buckets",
    "unpad_outputs",
]

Graph = Dict[str, torch.Tensor]

MAX_BUCKETS = 4  # more chunks mean more kernels per layer; four hold the usual spread of degrees
MIN_FILL = 0.75  # a bucket ends where the degree falls below this fraction of its first atom's


def grow_capacity(needed: int, current: int = 0, multiple: int = 8, factor: float = 1.25) -> int:
    """``current`` if it holds ``needed``, else ``max(needed, factor * current)`` rounded up to ``multiple``."""
    if needed <= current:
        return current
    return multiple * math.ceil(max(needed, factor * current) / multiple)


def in_degrees(graph: Graph, n_atoms: int) -> List[int]:
    """In-degrees of the first ``n_atoms`` atoms, sorted in descending order (one host read)."""
    counts = torch.bincount(graph[keys.EDGE_INDEX][0], minlength=n_atoms)
    return counts.sort(descending=True).values.tolist()


def plan_buckets(degrees: Sequence[int]) -> Tuple[Tuple[int, int], ...]:
    """Buckets ``(atoms, slots per atom)`` for in-degrees sorted in descending order.

    A bucket starts at the largest degree ``d`` not yet placed and takes every following atom whose
    degree is at least :data:`MIN_FILL` times it (the last of :data:`MAX_BUCKETS` takes the rest).
    Its width is ``d`` plus ``max(2, d / 10)`` of headroom, rounded up to even: the degrees of a
    molecule in MD fluctuate by that much (3BPA, 5.5 Å: up to +2 at 300 K, +4 at 1200 K over 1.5 ps),
    and each bucket that outgrows its width costs a compilation.
    """
    buckets, start, n = [], 0, len(degrees)
    while start < n:
        stop, d = n, degrees[start]
        if len(buckets) < MAX_BUCKETS - 1:
            stop = next((i for i in range(start + 1, n) if degrees[i] < MIN_FILL * d), n)
        buckets.append((stop - start, grow_capacity(d + max(2, math.ceil(d / 10)), 0, 2)))
        start = stop
    return tuple(buckets)


@dataclass(frozen=True)
class Capacities:
    """Padded sizes: atoms (all graphs), edges, the buckets ``(atoms, slots per atom)`` and pairs of edges.

    The buckets' atoms add up to ``n_atoms``; their widths are in descending order.
    """

    n_atoms: int
    n_edges: int
    buckets: Tuple[Tuple[int, int], ...] = ()
    n_pairs: int = 0

    @property
    def n_slots(self) -> int:
        """Slots of the layout, ``sum_b atoms_b * width_b``."""
        return sum(c * k for c, k in self.buckets)

    def holds(self, degrees: Sequence[int]) -> bool:
        """True if every bucket is at least as wide as the largest of its atoms' sorted ``degrees``."""
        start = 0
        for c, k in self.buckets:
            if c and start < len(degrees) and degrees[start] > k:
                return False
            start += c
        return True

    def grown(self, n_atoms: int, n_edges: int, degrees: Sequence[int], n_pairs: int = 0) -> "Capacities":
        """These capacities, grown where too small for a graph (else ``self``).

        Args:
            n_atoms, n_edges, n_pairs: the graph's sizes (pairs: :func:`~ictp_calc.nn.convolution.edge_pairs`).
            degrees: its atoms' in-degrees in descending order (:func:`in_degrees`).

        Atoms are not rounded up: an MD run keeps its atom count, and every padding atom costs
        slots. Growth by 25 % still bounds the recompilations when the count changes; the buckets are
        then planned again. With the atom count kept, a bucket too narrow for its atoms widens by at
        least 25 % (:func:`grow_capacity`).
        """
        atoms = grow_capacity(n_atoms, self.n_atoms, 1)
        edges = grow_capacity(n_edges, self.n_edges, 64)
        degrees = list(degrees) + [0] * (atoms - len(degrees))  # padding atoms have no edges
        if atoms != self.n_atoms or not self.buckets:
            buckets = plan_buckets(degrees)
        elif self.holds(degrees):
            buckets = self.buckets
        else:
            buckets, start = [], 0
            for c, k in self.buckets:
                buckets.append((c, grow_capacity(degrees[start], k, 2) if c else k))
                start += c
            buckets = tuple(buckets)
        grown = Capacities(atoms, edges, buckets, grow_capacity(n_pairs, self.n_pairs, 32))
        return self if grown == self else grown


def pad_static(graph: Graph, caps: Capacities, pairs: Optional[Tuple[torch.Tensor, torch.Tensor]] = None) -> Graph:
    """Everything but positions and cell, padded (see the module docstring); ``[G]`` -> ``[G + 1]`` graphs.

    The caller guarantees that ``caps`` holds the graph (atoms, edges, in-degrees per bucket, pairs).
    ``pairs``: :func:`edge_pairs` of the graph, if already at hand.
    """
    species, edge_index = graph[keys.SPECIES], graph[keys.EDGE_INDEX]
    n_atoms, n_edges, device = species.shape[0], edge_index.shape[1], species.device
    n_graphs = graph[keys.PBC].shape[0]
    pair, pair_edge = edge_pairs(edge_index, graph[keys.CELL_SHIFTS]) if pairs is None else pairs
    pad_atoms, pad_edges, pad_pairs = caps.n_atoms - n_atoms, caps.n_edges - n_edges, caps.n_pairs - pair_edge.shape[0]
    if pad_atoms < 0 or pad_edges < 0 or pad_pairs < 0:
        raise ValueError(
            f"capacities {caps} are too small for {n_atoms} atoms, {n_edges} edges and {pair_edge.shape[0]} pairs"
        )
    slot, node_order, tables = bucket_slots(edge_index[0], edge_index[1], caps.n_atoms, caps.buckets)
    zeros = edge_index.new_zeros
    # Empty slots read pair n_pairs (zero radial features); padding pairs take edge 0 (never read).
    slot_pair = torch.full((caps.n_slots,), caps.n_pairs, dtype=torch.long, device=device).index_copy(0, slot, pair)
    return {
        keys.SPECIES: torch.cat([species, zeros(pad_atoms)]),
        keys.BATCH: torch.cat([graph[keys.BATCH], torch.full((pad_atoms,), n_graphs, dtype=torch.long, device=device)]),
        keys.N_ATOMS: torch.cat([graph[keys.N_ATOMS], graph[keys.N_ATOMS].new_full((1,), pad_atoms)]),
        keys.PBC: torch.cat([graph[keys.PBC], graph[keys.PBC].new_zeros(1, 3)]),
        keys.EDGE_INDEX: torch.cat([edge_index, zeros(2, pad_edges)], dim=1),
        keys.CELL_SHIFTS: torch.cat([graph[keys.CELL_SHIFTS], graph[keys.CELL_SHIFTS].new_zeros(pad_edges, 3)]),
        keys.EDGE_SLOT: torch.cat([slot, slot.new_full((pad_edges,), caps.n_slots)]),
        keys.SLOT_NODES: node_order,
        **{keys.slot_sender(b): table for b, table in enumerate(tables)},
        keys.PAIR_EDGE: torch.cat([pair_edge, zeros(pad_pairs)]),
        keys.SLOT_PAIR: slot_pair,
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
