"""Interaction block: even-path convolution of node features with edge harmonics (spec §2.4).

Message of path ``p = (l1, l2, l3)`` on edge ``i <- j``, channel ``u``:
``m_ij^p[u] = n_p(l3)^(-1/2) R_ij[p, u] (h~_j^l1[u] (x) T^l2(r_ij))_l3``.
All paths are evaluated together: the edge harmonics are contracted with a precomputed table
``G [D_in, D_e, Q]`` (the coupling tables of every path, stacked along ``Q``, the concatenation
of each path's ``2 l3 + 1`` output components), which leaves one batched matrix product per edge
that never materializes a per-edge, per-channel outer product.
"""

from __future__ import annotations

import math
from typing import List, Sequence

import torch
from torch import nn

from ..tensors import coupling_table, even_paths, rank_dim, rank_slice
from .linear import RankLinear
from .radial import RadialMLP

__all__ = ["Interaction", "convolution_table"]


def convolution_table(l_in: int, l_edge: int):
    """Stacked coupling table of every conv path, grouped by output rank ``l3``.

    Returns ``(paths, table [D_in, D_e, Q], column_path [Q])``: ``paths`` sorted by ``l3``,
    ``table`` includes the path normalization ``n_p(l3)^(-1/2)`` and ``column_path[q]`` is the
    path index of output column ``q``.
    """
    paths = even_paths(l_in, l_edge, l_edge)
    n_per_l3 = [sum(1 for p in paths if p[2] == l3) for l3 in range(l_edge + 1)]
    width = sum(2 * p[2] + 1 for p in paths)
    table = torch.zeros(rank_dim(l_in), rank_dim(l_edge), width, dtype=torch.float64)
    column_path: List[int] = []
    q = 0
    for index, (l1, l2, l3) in enumerate(paths):
        d3 = 2 * l3 + 1
        block = coupling_table(l1, l2, l3) / math.sqrt(n_per_l3[l3])
        table[rank_slice(l1), rank_slice(l2), q : q + d3] = block
        column_path += [index] * d3
        q += d3
    return paths, table, torch.tensor(column_path, dtype=torch.long)


class Interaction(nn.Module):
    """Convolution and aggregation: node features of ranks ``<= l_in`` -> ``A`` of ranks ``<= l_edge``.

    Forward: ``h [N, F, (l_in+1)^2]``, ``edge_attrs [E, (l_edge+1)^2]`` (harmonics),
    ``edge_feats [E, n_basis]`` (radial), ``edge_index [2, E]`` -> ``A [N, P, (l_edge+1)^2]``.
    """

    def __init__(
        self,
        n_channels: int,
        n_out: int,
        l_in: int,
        l_edge: int,
        n_basis: int,
        radial_mlp: Sequence[int],
        avg_n_neighbors: float,
    ):
        super().__init__()
        self.n_channels, self.n_out, self.l_edge = n_channels, n_out, l_edge
        self.avg_n_neighbors = float(avg_n_neighbors)
        paths, table, column_path = convolution_table(l_in, l_edge)
        self.paths = paths
        self.n_paths_per_l3 = [sum(1 for p in paths if p[2] == l3) for l3 in range(l_edge + 1)]
        self.register_buffer("table", table.permute(1, 0, 2).reshape(rank_dim(l_edge), -1), persistent=False)
        self.register_buffer("column_path", column_path, persistent=False)
        self.linear_first = RankLinear(n_channels, n_channels, l_in)
        self.radial = RadialMLP([n_basis, *radial_mlp, len(paths) * n_channels])
        # One [P, n_p(l3) * F] map per output rank (n_p = 0 is treated as 1 and gives zeros).
        self.linear_second = nn.ParameterList(
            nn.Parameter(torch.empty(n_out, max(n, 1) * n_channels)) for n in self.n_paths_per_l3
        )

    def forward(self, h, edge_attrs, edge_feats, edge_index) -> torch.Tensor:
        n_nodes, n_edges, F = h.shape[0], edge_attrs.shape[0], self.n_channels
        receiver, sender = edge_index[0], edge_index[1]
        h = self.linear_first(h)
        radial = self.radial(edge_feats).view(n_edges, len(self.paths), F)  # [E, n_paths, F]
        coupling = (edge_attrs @ self.table).view(n_edges, h.shape[-1], -1)  # [E, D_in, Q]
        messages = torch.bmm(h.index_select(0, sender), coupling)  # [E, F, Q]
        messages = messages * radial.index_select(1, self.column_path).transpose(1, 2)
        summed = torch.zeros(n_nodes, F, messages.shape[-1], dtype=h.dtype, device=h.device)
        summed = summed.index_add(0, receiver, messages) / self.avg_n_neighbors  # [N, F, Q]
        return self._mix(summed)

    def _mix(self, summed: torch.Tensor) -> torch.Tensor:
        """Per output rank: ``[N, F, n_p, d3]`` -> ``[N, P, d3]`` with ``W2 / sqrt(F n_p)``."""
        out, q = [], 0
        for l3, n_p in enumerate(self.n_paths_per_l3):
            d3 = 2 * l3 + 1
            weight = self.linear_second[l3]
            if n_p == 0:
                out.append(summed.new_zeros(summed.shape[0], self.n_out, d3))
                continue
            block = summed[..., q : q + n_p * d3].reshape(summed.shape[0], self.n_channels, n_p, d3)
            w = weight.view(self.n_out, n_p, self.n_channels) / math.sqrt(n_p * self.n_channels)
            out.append(torch.einsum("nupc,wpu->nwc", block, w))
            q += n_p * d3
        return torch.cat(out, dim=-1)
