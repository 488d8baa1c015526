"""Interaction block: even-path convolution of node features with edge harmonics (spec §2.4).

Message of path ``p = (l1, l2, l3)`` on edge ``i <- j``, channel ``u``:
``m_ij^p[u] = n_p(l3)^(-1/2) R_ij[p, u] (h~_j^l1[u] (x) T^l2(r_ij))_l3``.
The sum over neighbors is :func:`~ictp_calc.nn.convolution.fused_convolution`, which never keeps
per-edge messages; this module adds the linear maps around it.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from ..tensors import coupling_table, even_paths
from .convolution import EdgeLayout, fused_convolution, stack_couplings
from .linear import RankLinear
from .radial import RadialMLP

__all__ = ["Interaction"]


class Interaction(nn.Module):
    """Convolution and aggregation: features of ranks ``<= l_in`` -> ``A`` of ranks ``<= l_edge``.

    Forward: ``h [N, (l_in+1)^2, F]``, ``edge_attrs [S, (l_edge+1)^2]`` (harmonics) and
    ``edge_feats [S, n_basis]`` (radial) in the slot layout ``layout`` -> ``A [N, (l_edge+1)^2, P]``
    (``edge_feats [R, n_basis]`` where the layout has ``radial_rows``).
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
        self.paths = even_paths(l_in, l_edge, l_edge)  # sorted by l3
        self.n_paths_per_l3 = [sum(1 for p in self.paths if p[2] == l3) for l3 in range(l_edge + 1)]
        # The path normalization n_p(l3)^(-1/2) is folded into the coupling tables.
        tables = [coupling_table(*p) / math.sqrt(self.n_paths_per_l3[p[2]]) for p in self.paths]
        self.register_buffer("coupling", stack_couplings(self.paths, tables, l_edge), persistent=False)
        self.linear_first = RankLinear(n_channels, n_channels, l_in)
        self.radial = RadialMLP([n_basis, *radial_mlp, len(self.paths) * n_channels])
        # One [P, n_p(l3) * F] map per output rank (n_p = 0 is treated as 1 and gives zeros).
        self.linear_second = nn.ParameterList(
            nn.Parameter(torch.empty(n_out, max(n, 1) * n_channels)) for n in self.n_paths_per_l3
        )

    def forward(self, h, edge_attrs, edge_feats, layout: EdgeLayout) -> torch.Tensor:
        h = self.linear_first(h)
        hidden, weight = self.radial.hidden(edge_feats), self.radial.output_weight()
        if layout.radial_rows is None:
            # The radial MLP's output layer is applied inside the convolution, chunk by chunk.
            summed = fused_convolution(h, hidden, edge_attrs, self.paths, self.coupling, layout, radial_weight=weight)
        else:  # radial weights per pair of opposite edges, gathered into the slots
            radial = (hidden @ weight.T).index_select(0, layout.radial_rows)
            radial = radial.view(layout.n_slots, len(self.paths), self.n_channels)
            summed = fused_convolution(h, radial, edge_attrs, self.paths, self.coupling, layout)
        return self._mix(summed)  # the neighbor sum [N, Q, F] -> A

    def _mix(self, summed: torch.Tensor) -> torch.Tensor:
        """Per output rank: ``[N, n_p, d3, F]`` -> ``[N, d3, P]`` with ``W2 / (sqrt(F n_p) avg_n_neighbors)``."""
        n_nodes, out = summed.shape[0], []
        blocks = summed.split([n_p * (2 * l3 + 1) for l3, n_p in enumerate(self.n_paths_per_l3)], dim=1)
        for l3, (n_p, block) in enumerate(zip(self.n_paths_per_l3, blocks)):
            d3 = 2 * l3 + 1
            if n_p == 0:
                out.append(summed.new_zeros(n_nodes, d3, self.n_out))
                continue
            block = block.view(n_nodes, n_p, d3, self.n_channels)
            block = block.transpose(1, 2).reshape(n_nodes, d3, n_p * self.n_channels)  # index p F + u
            # The neighbor average is folded into the weight: one pass over [N, Q, F] less.
            weight = self.linear_second[l3] / (math.sqrt(n_p * self.n_channels) * self.avg_n_neighbors)
            out.append(torch.nn.functional.linear(block, weight))
        return torch.cat(out, dim=1)
