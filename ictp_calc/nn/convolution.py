"""Fused edge convolution: messages of every even path, summed over neighbors, chunked by nodes.

For each path ``p = (l1, l2, l3)``, receiver ``i``, channel ``u`` and output component ``c``:

    A_p[i, c, u] = sum_{j in N(i)} sum_{a, b} K_p[a, b, c] Y_l2[ij, b] R[ij, p, u] h_l1[j, a, u]

(``K_p`` the coupling table with normalizations, ``Y`` the edge harmonics, ``R`` the radial
weights, ``h`` the sender features). A direct implementation materializes per-edge messages
``[n_edges, Q, F]`` that autograd must keep, and scatters them. Here edges live in a padded
*slot* layout (:class:`EdgeLayout`): receivers sorted by in-degree and cut into chunks, each
chunk a dense block ``[chunk nodes, K_chunk]`` of slots with zero-feature padding slots. Inside
a chunk every path is one batched matrix product ``[d3, K d1] @ [K d1, F]`` per receiver; only
the inputs ``h, R, Y`` are saved, and the backward pass recomputes a chunk's intermediates. The
backward is written with differentiable operations, so forces can be differentiated again in
training. A small graph (a molecule, a training batch of a few; :data:`SMALL_GRAPH`) skips the
fused function: the same chunked operations differentiated by autograd, which keeps their per-slot
intermediates and so neither recomputes them nor runs a backward written in Python.
:func:`padded_layout` is the alternative for ``torch.compile``: the same chunks by in-degree, but
with shapes fixed by capacities (*buckets* of atoms and slots per atom) and built without host
reads (:func:`bucket_slots`), always differentiated by autograd.

Shapes: ``h [N_s, D_in, F]``, ``radial [S, n_paths, F]`` and ``edge_attrs [S, D_e]`` in slot
layout (``S`` slots), output ``[N, Q, F]`` with ``Q = sum_p (2 l3 + 1)`` (paths in order). The
receivers are the first ``N <= N_s`` atoms (``N < N_s`` in LAMMPS, where outer ghosts only send).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch

from ..tensors import Path, rank_slice, rank_split

__all__ = [
    "Chunk",
    "EdgeLayout",
    "bucket_slots",
    "edge_layout",
    "edge_pairs",
    "fused_convolution",
    "padded_layout",
    "stack_couplings",
]


@dataclass
class Chunk:
    """Receivers ``nodes [c]`` (ids) with ``max_neighbors`` slots each: slots ``[s0, s1)``."""

    nodes: torch.Tensor
    max_neighbors: int
    s0: int
    s1: int

    @property
    def n_nodes(self) -> int:
        """c, the receivers of the chunk."""
        return (self.s1 - self.s0) // self.max_neighbors


@dataclass
class EdgeLayout:
    """Padded slot layout of the edges (see the module docstring).

    Attributes:
        n_nodes: N, the receivers (rows of the output). n_edges: E. n_slots: S (>= E).
        slot_of_edge: ``[E]`` slot of each edge.
        sender_of_slot: ``[S]`` sender of each slot, ``n_senders`` for padding slots.
        n_senders: the rows of ``h`` (>= N; more where only the first N atoms receive, as in LAMMPS).
        node_order: ``[N]`` receivers in chunk order; ``inverse_order`` undoes it.
        chunks: the blocks of consecutive slots.
        autograd: always differentiate the convolution by autograd, whatever the graph's size
            (the layouts of padded graphs, for ``torch.compile``).
        radial_rows: ``[S]`` row of the radial features of each slot (padded graphs: one row per pair
            of opposite edges); None: one row per slot.
    """

    n_nodes: int
    n_edges: int
    n_slots: int
    slot_of_edge: torch.Tensor
    sender_of_slot: torch.Tensor
    node_order: torch.Tensor
    inverse_order: torch.Tensor
    chunks: List[Chunk]
    n_senders: int = -1
    autograd: bool = False
    radial_rows: Optional[torch.Tensor] = None

    def __post_init__(self):
        if self.n_senders < 0:
            self.n_senders = self.n_nodes

    def to_slots(self, values: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
        """Per-edge ``values [E, ...]`` -> ``[S, ...]``, padding slots set to ``fill [...]``."""
        out = fill.to(values.dtype).expand((self.n_slots,) + values.shape[1:])
        return out.index_copy(0, self.slot_of_edge, values)


def _rank_in_receiver(receiver: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Position ``[E]`` of each edge among its receiver's edges (in edge order); ``counts``: in-degrees."""
    n_edges = receiver.shape[0]
    by_receiver = torch.argsort(receiver, stable=True)
    first = torch.cumsum(counts, 0) - counts  # first sorted position of each receiver's edges
    rank = torch.empty_like(receiver)
    rank[by_receiver] = torch.arange(n_edges, device=receiver.device) - first.index_select(0, receiver[by_receiver])
    return rank


def edge_layout(
    edge_index: torch.Tensor,
    n_nodes: int,
    max_slots: int = 4096,
    min_fill: float = 0.75,
    n_senders: Optional[int] = None,
) -> EdgeLayout:
    """Slot layout for edges ``i <- j`` in any order.

    Receivers are sorted by in-degree; a chunk ends when it would exceed ``max_slots`` slots or
    when the next receiver's degree falls below ``min_fill`` times the chunk's width (which bounds
    the padding). Reads the in-degrees back to the host once, to fix the chunk shapes.

    Args:
        n_nodes: receivers: every ``edge_index[0]`` is below it, and the convolution has this many rows.
        n_senders: rows of the sender features (default ``n_nodes``); every ``edge_index[1]`` is below it.
    """
    n_senders = n_nodes if n_senders is None else int(n_senders)
    receiver, sender = edge_index[0], edge_index[1]
    n_edges, device = receiver.shape[0], receiver.device
    counts = torch.bincount(receiver, minlength=n_nodes).cpu()
    node_order = torch.argsort(counts, descending=True, stable=True)
    degree = counts[node_order].tolist()
    ascending = [-d for d in degree]  # for bisect: the degrees are sorted in descending order
    chunks, node_base = [], torch.empty(n_nodes, dtype=torch.long)
    start, slot = 0, 0
    while start < n_nodes:  # one iteration per chunk; the chunk's end is found by bisection
        k = max(degree[start], 1)
        # First receiver with degree < min_fill * degree[start] (-degree > -min_fill * degree[start]);
        # receivers without edges (ghost atoms in LAMMPS, isolated atoms) thus share chunks too.
        low_fill = bisect.bisect_right(ascending, -min_fill * degree[start], lo=start + 1)
        stop = max(start + 1, min(low_fill, start + max_slots // k, n_nodes))
        nodes = node_order[start:stop]
        node_base[nodes] = slot + k * torch.arange(stop - start)
        chunks.append(Chunk(nodes.to(device), k, slot, slot + k * (stop - start)))
        start, slot = stop, slot + k * (stop - start)
    slot_of_edge = node_base.to(device).index_select(0, receiver) + _rank_in_receiver(receiver, counts.to(device))
    sender_of_slot = torch.full((slot,), n_senders, dtype=torch.long, device=device).index_copy(0, slot_of_edge, sender)
    node_order = node_order.to(device)
    inverse_order = torch.empty_like(node_order)
    inverse_order[node_order] = torch.arange(n_nodes, device=device)
    return EdgeLayout(
        n_nodes, n_edges, slot, slot_of_edge, sender_of_slot, node_order, inverse_order, chunks, n_senders
    )


def bucket_slots(receiver: torch.Tensor, sender: torch.Tensor, n_nodes: int, buckets: Sequence[Tuple[int, int]]):
    """Slots of a padded layout, computed on the device without host reads.

    The nodes, sorted by in-degree (descending; ties in node order), fill the buckets in turn:
    bucket ``b = (c_b, K_b)`` takes the next ``c_b`` nodes with ``K_b`` slots each, which must hold
    their in-degrees (not checked here: that would need a host read). Each node's edges fill its
    slots in edge order.

    Args:
        receiver, sender: ``[E]`` node ids.
        buckets: ``(nodes, slots per node)`` of each bucket; the nodes add up to ``n_nodes``.

    Returns:
        ``slot_of_edge [E]``, ``node_order [N]`` (nodes in slot order) and one sender table
        ``[c_b, K_b]`` per bucket (``n_nodes`` in empty slots).
    """
    device = receiver.device
    counts = torch.bincount(receiver, minlength=n_nodes)
    node_order = torch.argsort(counts, descending=True, stable=True)
    # First slot of each node, in sorted order, then per node id.
    widths = torch.cat([torch.full((c,), k, dtype=torch.long, device=device) for c, k in buckets])
    base = torch.empty_like(widths).index_copy(0, node_order, torch.cumsum(widths, 0) - widths)
    slot_of_edge = base.index_select(0, receiver) + _rank_in_receiver(receiver, counts)
    n_slots = sum(c * k for c, k in buckets)
    senders = torch.full((n_slots,), n_nodes, dtype=torch.long, device=device).index_copy(0, slot_of_edge, sender)
    tables = [part.view(c, k) for part, (c, k) in zip(senders.split([c * k for c, k in buckets]), buckets)]
    return slot_of_edge, node_order, tables


def edge_pairs(edge_index: torch.Tensor, shifts: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Pairs of opposite edges: ``i <- j`` with image shift ``S`` and ``j <- i`` with ``-S``.

    Both edges of a pair have the same length, hence the same radial features. An edge whose
    reverse is not listed forms a pair alone. Runs once per neighbor list (``torch.unique``: the
    number of pairs is data-dependent).

    Args:
        edge_index: ``[2, E]``; shifts: ``[E, 3]`` integer image offsets (any dtype).

    Returns:
        ``pair [E]``, the pair of each edge, and ``edge [P]``, an edge of each pair.
    """
    receiver, sender = edge_index[0], edge_index[1]
    shifts = shifts.round().long()
    # The reversed edge of (i, j, S) is (j, i, -S): pairs are keyed by the form with i < j, or with
    # i == j (an atom and its own image) and the first non-zero shift component positive.
    first_nonzero = torch.gather(shifts, 1, (shifts != 0).long().argmax(1, keepdim=True)).squeeze(1)
    flip = (receiver > sender) | ((receiver == sender) & (first_nonzero < 0))
    columns = [
        torch.where(flip, sender, receiver),
        torch.where(flip, receiver, sender),
        *torch.where(flip.unsqueeze(1), -shifts, shifts).unbind(1),
    ]
    # The rows (i, j, S) as one integer each, digits in mixed radix: unique on a vector is several
    # times faster than on rows (0.66 ms of a 1 ms prepare for 3BPA). Host reads: the value ranges.
    n_ids = int(edge_index.max()) + 1 if edge_index.numel() else 1
    span = 2 * int(shifts.abs().max()) + 1 if shifts.numel() else 1
    if n_ids * n_ids * span**3 < 2**62:
        key = columns[0]
        for column, radix, offset in zip(columns[1:], (n_ids, span, span, span), (0, span // 2, span // 2, span // 2)):
            key = key * radix + (column + offset)
        pairs, pair = torch.unique(key, return_inverse=True)
    else:  # ids or shifts too large for one int64: unique rows
        pairs, pair = torch.unique(torch.stack(columns, dim=1), dim=0, return_inverse=True)
    n_pairs = pairs.shape[0]
    edges = torch.arange(pair.shape[0], device=pair.device)
    return pair, torch.empty(n_pairs, dtype=torch.long, device=pair.device).scatter_(0, pair, edges)


def padded_layout(
    node_order: torch.Tensor,
    tables: Sequence[torch.Tensor],
    slot_of_edge: torch.Tensor,
    radial_rows: Optional[torch.Tensor] = None,
) -> EdgeLayout:
    """The layout of :func:`bucket_slots`'s output: one chunk per bucket, fixed shapes, no host reads.

    The convolution on it is plain differentiable operations (autograd keeps per-slot
    intermediates: meant for small systems and ``torch.compile``); ``n_edges`` counts the slots.
    ``radial_rows``: see :class:`EdgeLayout`.
    """
    chunks, start, slot = [], 0, 0
    for table in tables:
        c, k = table.shape
        chunks.append(Chunk(node_order[start : start + c], k, slot, slot + c * k))
        start, slot = start + c, slot + c * k
    senders = torch.cat([table.reshape(-1) for table in tables]) if len(tables) > 1 else tables[0].reshape(-1)
    n_nodes = node_order.shape[0]
    # The inverse permutation by a scatter: an argsort here cost 2 % of a compiled 3BPA call.
    positions = torch.arange(n_nodes, device=node_order.device)
    inverse_order = torch.empty_like(node_order).index_copy(0, node_order, positions)
    return EdgeLayout(
        n_nodes, slot, slot, slot_of_edge, senders, node_order, inverse_order, chunks, n_nodes, True, radial_rows
    )


# A graph whose per-slot radial weights [S, n_paths F] have at most this many elements is small:
# its convolution is plain differentiable operations, chunk by chunk, and autograd keeps their
# per-slot intermediates (a few times that size). That is faster for a molecule or a training batch
# of a few (no recomputation, no Python-level backward); larger graphs use the fused function.
SMALL_GRAPH = 1 << 22


def _with_padding_row(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, x.new_zeros((1,) + x.shape[1:])])


def stack_couplings(paths: Sequence[Path], tables: Sequence[torch.Tensor], l_edge: int):
    """All paths' tables as one ``[D_e, sum_p d1 d3]`` matrix, paths' columns consecutive in order.

    Contracting the edge harmonics with it gives every path's ``T_p[a, c]`` in one product.
    """
    width = sum(t.shape[0] * t.shape[2] for t in tables)
    stacked = tables[0].new_zeros((l_edge + 1) ** 2, width)
    col = 0
    for (_, l2, _), table in zip(paths, tables):
        d1, d2, d3 = table.shape
        stacked[rank_slice(l2), col : col + d1 * d3] = table.permute(1, 0, 2).reshape(d2, d1 * d3)
        col += d1 * d3
    return stacked


def _path_coupling(t: torch.Tensor, d1: int, d3: int, c: int, k: int) -> torch.Tensor:
    """``T_p [c, d3, K d1]`` from the path's columns ``[cK, d1 d3]`` of the chunk's stacked coupling."""
    return t.reshape(c, k, d1, d3).permute(0, 3, 1, 2).reshape(c, d3, k * d1)


def _chunk_inputs(layout: EdgeLayout, chunk: Chunk, h_ext, radial, radial_weight, edge_attrs):
    hs = h_ext.index_select(0, layout.sender_of_slot[chunk.s0 : chunk.s1])  # [cK, D_in, F]
    r = radial[chunk.s0 : chunk.s1]
    if radial_weight is not None:  # the radial MLP's output layer, applied chunk by chunk
        r = (r @ radial_weight.T).view(r.shape[0], -1, h_ext.shape[-1])
    return hs, r, edge_attrs[chunk.s0 : chunk.s1]


@dataclass
class _ChunkState:
    """A chunk's inputs ``hs [cK, D_in, F]`` and ``r [cK, n_paths, F]``, split by rank and path, and
    per path the coupling ``t [c, d3, K d1]`` of the bmm ``out_p = t @ x_p`` (:meth:`x`)."""

    paths: Sequence[Path]
    hs: List[torch.Tensor]
    r: List[torch.Tensor]
    t: List[torch.Tensor]

    def x(self, p: int) -> torch.Tensor:
        """The weighted senders ``x_p [c, K d1, F]`` of path ``p``, formed when needed: holding
        every path's at once would cost a chunk of that size per path in the fused backward."""
        l1, t = self.paths[p][0], self.t[p]
        return (self.r[p] * self.hs[l1]).view(t.shape[0], t.shape[2], -1)


def _chunk_state(paths, stacked, layout, chunk: Chunk, h_ext, radial, radial_weight, edge_attrs):
    c, k = chunk.n_nodes, chunk.max_neighbors
    hs, r, y = _chunk_inputs(layout, chunk, h_ext, radial, radial_weight, edge_attrs)
    # Splits, not slices: where this is differentiated, a slice's backward would zero-fill a tensor
    # of the full size once per path.
    couplings = (y @ stacked).split([(2 * l1 + 1) * (2 * l3 + 1) for l1, _, l3 in paths], dim=1)
    ts = [_path_coupling(t, 2 * l1 + 1, 2 * l3 + 1, c, k) for (l1, _, l3), t in zip(paths, couplings)]
    return _ChunkState(paths, rank_split(hs, math.isqrt(hs.shape[1]) - 1, dim=1), r.split(1, dim=1), ts)


def _forward(paths, stacked, layout: EdgeLayout, h, radial, radial_weight, edge_attrs):
    h_ext, out = _with_padding_row(h), []
    for chunk in layout.chunks:
        state = _chunk_state(paths, stacked, layout, chunk, h_ext, radial, radial_weight, edge_attrs)
        out.append(torch.cat([torch.bmm(t, state.x(p)) for p, t in enumerate(state.t)], dim=1))  # [c, Q, F]
    out = torch.cat(out, dim=0) if len(out) > 1 else out[0]
    return out.index_select(0, layout.inverse_order)


def _backward(paths, stacked, layout: EdgeLayout, h, radial, radial_weight, edge_attrs, grad_out, need_weight):
    """Gradients of the inputs, recomputing each chunk's intermediates."""
    F, h_ext = h.shape[-1], _with_padding_row(h)
    n_ranks_in = math.isqrt(h.shape[1])
    grad_out = grad_out.index_select(0, layout.node_order).split([chunk.n_nodes for chunk in layout.chunks])
    grad_h = torch.zeros_like(h_ext)
    # Written chunk by chunk (slice assignment stays differentiable): a list of chunk gradients
    # and its concatenation would hold two copies of the largest tensor at once.
    grad_radial, grad_attrs = torch.empty_like(radial), torch.empty_like(edge_attrs)
    grad_weight = torch.zeros_like(radial_weight) if need_weight else None
    for i, chunk in enumerate(layout.chunks):
        c, k = chunk.n_nodes, chunk.max_neighbors
        state = _chunk_state(paths, stacked, layout, chunk, h_ext, radial, radial_weight, edge_attrs)
        g_paths = grad_out[i].split([2 * l3 + 1 for _, _, l3 in paths], dim=1)  # [c, d3, F] each
        g_hs = [[] for _ in range(n_ranks_in)]
        g_r, g_coupling = [], []
        for p, (l1, _, l3) in enumerate(paths):
            d1, d3, g = 2 * l1 + 1, 2 * l3 + 1, g_paths[p]
            h1, rp = state.hs[l1], state.r[p]
            g_x = torch.bmm(state.t[p].transpose(1, 2), g).view(c * k, d1, F)
            g_r.append((g_x * h1).sum(1, keepdim=True) if d1 > 1 else g_x * h1)
            g_hs[l1].append(g_x * rp)
            g_t = torch.bmm(g, state.x(p).transpose(1, 2))  # [c, d3, K d1]
            g_coupling.append(g_t.view(c, d3, k, d1).permute(0, 2, 3, 1).reshape(c * k, d1 * d3))
        g_hs = torch.cat([sum(g) if g else h.new_zeros(c * k, 2 * l + 1, F) for l, g in enumerate(g_hs)], dim=1)
        # In place: an out-of-place index_add would copy all of grad_h once per chunk (quadratic).
        grad_h.index_add_(0, layout.sender_of_slot[chunk.s0 : chunk.s1], g_hs)
        g_r = torch.cat(g_r, dim=1)  # [cK, n_paths, F]
        if radial_weight is None:
            grad_radial[chunk.s0 : chunk.s1] = g_r
        else:  # back through the output layer: only [cK, hidden] leaves the chunk
            g_r = g_r.view(c * k, -1)
            grad_radial[chunk.s0 : chunk.s1] = g_r @ radial_weight
            if need_weight:  # training; frozen inference weights skip this product
                grad_weight = grad_weight + g_r.T @ radial[chunk.s0 : chunk.s1]
        grad_attrs[chunk.s0 : chunk.s1] = torch.cat(g_coupling, dim=1) @ stacked.T
    return grad_h[:-1], grad_radial, grad_weight, grad_attrs


class _FusedConvolution(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, radial, radial_weight, edge_attrs, paths, stacked, layout):
        ctx.save_for_backward(h, radial, radial_weight, edge_attrs, stacked)
        ctx.paths, ctx.layout = paths, layout
        return _forward(paths, stacked, layout, h, radial, radial_weight, edge_attrs)

    @staticmethod
    def backward(ctx, grad_out):
        h, radial, radial_weight, edge_attrs, stacked = ctx.saved_tensors
        need_weight = radial_weight is not None and ctx.needs_input_grad[2]
        inputs = (h, radial, radial_weight, edge_attrs, grad_out, need_weight)
        grads = _backward(ctx.paths, stacked, ctx.layout, *inputs)
        return (*grads, None, None, None)


def fused_convolution(
    h: torch.Tensor,
    radial: torch.Tensor,
    edge_attrs: torch.Tensor,
    paths: Sequence[Path],
    stacked: torch.Tensor,
    layout: EdgeLayout,
    radial_weight: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Sum over neighbors of every path's messages; ``[N, Q, F]`` (see the module docstring).

    ``stacked`` comes from :func:`stack_couplings` of the paths' coupling tables. With
    ``radial_weight [n_paths F, H]``, ``radial [S, H]`` holds the radial MLP's last hidden features
    and the weights are ``radial @ radial_weight.T``, formed chunk by chunk: for a graph larger than
    :data:`SMALL_GRAPH`, neither the per-slot weights ``[S, n_paths, F]`` nor their gradient is ever
    stored.
    """
    if not layout.n_edges:
        return h.new_zeros(layout.n_nodes, sum(2 * p[2] + 1 for p in paths), h.shape[-1])
    width = radial_weight.shape[0] if radial_weight is not None else radial.shape[1] * radial.shape[2]
    if layout.autograd or layout.n_slots * width <= SMALL_GRAPH:  # differentiated by autograd
        return _forward(list(paths), stacked, layout, h, radial, radial_weight, edge_attrs)
    return _FusedConvolution.apply(h, radial, radial_weight, edge_attrs, list(paths), stacked, layout)

