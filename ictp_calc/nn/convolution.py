"""Fused edge convolution: messages of every even path, summed over neighbors, chunked by nodes.

For each path ``p = (l1, l2, l3)``, receiver ``i``, channel ``u`` and output component ``c``:

    A_p[i, c, u] = sum_{j in N(i)} sum_{a, b} K_p[a, b, c] Y_l2[ij, b] R[ij, p, u] h_l1[j, a, u]

(``K_p`` the coupling table with normalizations, ``Y`` the edge harmonics, ``R`` the radial
weights, ``h`` the sender features). A direct implementation materializes per-edge messages
``[n_edges, Q, F]`` that autograd must keep. Here nodes are processed in chunks; inside a chunk
the edges are laid out densely as ``[chunk, max_neighbors]`` (zero-padded) so each path is one
batched matrix product ``[d3, K d1] @ [K d1, F]`` per receiver, and only the inputs ``h, R, Y``
are saved. The backward pass recomputes the chunk's intermediates; it is written with
differentiable operations, so forces can be differentiated again in training.

Shapes: ``h [N, D_in, F]``, ``radial [E, n_paths, F]``, ``edge_attrs [E, D_e]``, output
``[N, Q, F]`` with ``Q = sum_p (2 l3 + 1)`` (paths in the given order). Edges must be sorted by
receiver; :func:`edge_layout` gives each edge its slot and splits the receivers into chunks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import torch

from ..tensors import Path, rank_slice

__all__ = ["EdgeLayout", "edge_layout", "fused_convolution", "reference_convolution"]


@dataclass
class EdgeLayout:
    """Where each edge sits in the padded per-chunk blocks ``[chunk nodes, max_neighbors]``.

    Attributes:
        n_nodes: N. n_edges: E. max_neighbors: K (largest in-degree, at least 1).
        chunks: one :class:`Chunk` per block of consecutive receivers.
    """

    n_nodes: int
    n_edges: int
    max_neighbors: int
    chunks: List["Chunk"]


@dataclass
class Chunk:
    """Receivers ``[n0, n1)`` and their edges ``[e0, e1)`` (edges sorted by receiver).

    ``edge_of_slot [c K]``: edge in each slot, ``E`` (the zero padding row) where empty;
    ``sender_of_slot [c K]``: its sender, ``N`` (the zero padding row) where empty;
    ``slot_of_edge [e1 - e0]``: slot of each of the chunk's edges.
    """

    n0: int
    n1: int
    e0: int
    e1: int
    edge_of_slot: torch.Tensor
    sender_of_slot: torch.Tensor
    slot_of_edge: torch.Tensor


def edge_layout(edge_index: torch.Tensor, n_nodes: int, max_elements: int = 1 << 16) -> EdgeLayout:
    """Layout of receiver-sorted edges in chunks of about ``max_elements`` padded slots.

    Reads the degree table back to the host once (chunk boundaries are Python ints).
    """
    receiver, sender = edge_index[0], edge_index[1]
    n_edges, device = receiver.shape[0], receiver.device
    counts = torch.bincount(receiver, minlength=n_nodes)
    first = torch.cumsum(counts, 0) - counts
    counts_host = counts.cpu()
    k = max(int(counts_host.max()) if n_nodes else 1, 1)
    slot = receiver * k + torch.arange(n_edges, device=device) - first.index_select(0, receiver)
    edge_of_slot = torch.full((n_nodes * k,), n_edges, dtype=torch.long, device=device)
    edge_of_slot = edge_of_slot.index_copy(0, slot, torch.arange(n_edges, device=device))
    sender_ext = torch.cat([sender, sender.new_full((1,), n_nodes)])
    sender_of_slot = sender_ext.index_select(0, edge_of_slot)
    bounds = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(counts_host, 0)]).tolist()
    step = max(1, max_elements // k)
    chunks = []
    for n0 in range(0, n_nodes, step):
        n1 = min(n0 + step, n_nodes)
        e0, e1 = bounds[n0], bounds[n1]
        chunks.append(
            Chunk(n0, n1, e0, e1, edge_of_slot[n0 * k : n1 * k], sender_of_slot[n0 * k : n1 * k], slot[e0:e1] - n0 * k)
        )
    return EdgeLayout(n_nodes, n_edges, k, chunks)


def _with_padding_row(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, x.new_zeros((1,) + x.shape[1:])])


def _path_coupling(y: torch.Tensor, table: torch.Tensor, l2: int, c: int, k: int) -> torch.Tensor:
    """``T_p [c, d3, K d1]``: the edge harmonic of rank l2 contracted with ``K_p [d1, d2, d3]``."""
    d1, d2, d3 = table.shape
    t = y[:, rank_slice(l2)] @ table.permute(1, 0, 2).reshape(d2, d1 * d3)  # [cK, d1 d3]
    return t.view(c, k, d1, d3).permute(0, 3, 1, 2).reshape(c, d3, k * d1)


def _forward(paths, tables, layout, h, radial, edge_attrs):
    F, k = h.shape[-1], layout.max_neighbors
    h, radial, edge_attrs = (_with_padding_row(x) for x in (h, radial, edge_attrs))
    out = []
    for chunk in layout.chunks:
        c = chunk.n1 - chunk.n0
        hs = h.index_select(0, chunk.sender_of_slot)  # [cK, D_in, F]
        r = radial.index_select(0, chunk.edge_of_slot)  # [cK, n_paths, F]
        y = edge_attrs.index_select(0, chunk.edge_of_slot)  # [cK, D_e]
        blocks = []
        for p, ((l1, l2, _), table) in enumerate(zip(paths, tables)):
            x = r[:, p : p + 1, :] * hs[:, rank_slice(l1), :]  # [cK, d1, F]
            blocks.append(torch.bmm(_path_coupling(y, table, l2, c, k), x.view(c, -1, F)))  # [c, d3, F]
        out.append(torch.cat(blocks, dim=1))
    return torch.cat(out, dim=0)


def _backward(paths, tables, layout, h, radial, edge_attrs, grad_out):
    F, k = h.shape[-1], layout.max_neighbors
    n_ranks_in, n_ranks_edge = math.isqrt(h.shape[1]), math.isqrt(edge_attrs.shape[1])
    h, radial, edge_attrs = (_with_padding_row(x) for x in (h, radial, edge_attrs))
    grad_h = torch.zeros_like(h)
    grad_radial, grad_attrs = [], []
    offsets = [0]
    for _, _, l3 in paths:
        offsets.append(offsets[-1] + 2 * l3 + 1)
    for chunk in layout.chunks:
        c = chunk.n1 - chunk.n0
        hs = h.index_select(0, chunk.sender_of_slot)
        r = radial.index_select(0, chunk.edge_of_slot)
        y = edge_attrs.index_select(0, chunk.edge_of_slot)
        g_hs = [[] for _ in range(n_ranks_in)]
        g_y = [[] for _ in range(n_ranks_edge)]
        g_r = []
        for p, ((l1, l2, _), table) in enumerate(zip(paths, tables)):
            d1, d2, d3 = table.shape
            g = grad_out[chunk.n0 : chunk.n1, offsets[p] : offsets[p + 1]]  # [c, d3, F]
            h1, rp = hs[:, rank_slice(l1)], r[:, p : p + 1]
            t = _path_coupling(y, table, l2, c, k)  # [c, d3, K d1]
            g_x = torch.bmm(t.transpose(1, 2), g).view(c * k, d1, F)
            g_r.append((g_x * h1).sum(1, keepdim=True))
            g_hs[l1].append(g_x * rp)
            g_t = torch.bmm(g, (rp * h1).view(c, k * d1, F).transpose(1, 2))  # [c, d3, K d1]
            g_t = g_t.view(c, d3, k, d1).permute(0, 2, 3, 1).reshape(c * k, d1 * d3)
            g_y[l2].append(g_t @ table.permute(0, 2, 1).reshape(d1 * d3, d2))  # [cK, d2]
        g_hs = torch.cat([sum(g) if g else hs.new_zeros(c * k, 2 * l + 1, F) for l, g in enumerate(g_hs)], dim=1)
        grad_h = grad_h.index_add(0, chunk.sender_of_slot, g_hs)
        grad_radial.append(torch.cat(g_r, dim=1).index_select(0, chunk.slot_of_edge))
        g_y = torch.cat([sum(g) if g else y.new_zeros(c * k, 2 * l + 1) for l, g in enumerate(g_y)], dim=1)
        grad_attrs.append(g_y.index_select(0, chunk.slot_of_edge))
    return grad_h[:-1], torch.cat(grad_radial), torch.cat(grad_attrs)


class _FusedConvolution(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, radial, edge_attrs, paths, layout, *tables):
        ctx.save_for_backward(h, radial, edge_attrs, *tables)
        ctx.paths, ctx.layout = paths, layout
        return _forward(paths, tables, layout, h, radial, edge_attrs)

    @staticmethod
    def backward(ctx, grad_out):
        h, radial, edge_attrs, *tables = ctx.saved_tensors
        grads = _backward(ctx.paths, tables, ctx.layout, h, radial, edge_attrs, grad_out)
        return (*grads, None, None) + (None,) * len(tables)


def fused_convolution(
    h: torch.Tensor,
    radial: torch.Tensor,
    edge_attrs: torch.Tensor,
    paths: Sequence[Path],
    tables: Sequence[torch.Tensor],
    layout: EdgeLayout,
) -> torch.Tensor:
    """Sum over neighbors of every path's messages; ``[N, Q, F]`` (see the module docstring)."""
    if not layout.n_nodes:
        return h.new_zeros(0, sum(2 * p[2] + 1 for p in paths), h.shape[-1])
    if not radial.shape[0]:
        return h.new_zeros(layout.n_nodes, sum(2 * p[2] + 1 for p in paths), h.shape[-1])
    return _FusedConvolution.apply(h, radial, edge_attrs, list(paths), layout, *tables)


def reference_convolution(h, radial, edge_attrs, paths, tables, edge_index) -> torch.Tensor:
    """Direct per-edge implementation of the same sum (for tests): ``[N, Q, F]``."""
    receiver, sender = edge_index[0], edge_index[1]
    blocks = []
    for p, ((l1, l2, _), table) in enumerate(zip(paths, tables)):
        hj = h.index_select(0, sender)[:, rank_slice(l1), :]  # [E, d1, F]
        msg = torch.einsum("eau,eb,abc,eu->ecu", hj, edge_attrs[:, rank_slice(l2)], table, radial[:, p])
        blocks.append(torch.zeros(h.shape[0], *msg.shape[1:], dtype=h.dtype).index_add(0, receiver, msg))
    return torch.cat(blocks, dim=1)
