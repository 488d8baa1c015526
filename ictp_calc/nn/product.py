"""Product basis of correlation order nu (spec §2.5), channel-wise, in compressed storage.

``Q^(1) = A``; ``Q^(k),l3[u, (s, path)] = (Q^(k-1),l1[u, s] (x) A^l2[u])_l3`` for every even path;
``B^l = sum_k sum_s W^(k),l[z, u, s] Q^(k),l[u, s]`` (or channel-coupled weights). Sub-path
multiplicities multiply with k; nothing is reduced to independent couplings, as in ICTP.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import torch
from torch import nn

from ..tensors import Path, coupling_table, even_paths, rank_dim, rank_slice, rank_split

__all__ = ["ProductBasis", "product_paths"]


def _small_matmul(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``x [..., s, d] @ y [..., d, C]`` for a few rows and columns per node and channel.

    Batched products of 3 x 5 matrices are mostly call overhead; a compiled graph fuses the
    broadcast product and its sum into its neighbors' loops instead (3BPA float64, compiled: 8 %
    faster). Eagerly the broadcast is one more pass over a larger tensor and no faster (box of 999
    atoms: the same in float64, 13 % slower in float32), so there it stays ``matmul``.
    """
    if torch.compiler.is_compiling():
        return (x.unsqueeze(-1) * y.unsqueeze(-3)).sum(-2)
    return torch.matmul(x, y)


def product_paths(l_edge: int, l_out: int, correlation: int, symmetric: bool) -> List[List[Path]]:
    """Paths of the steps ``k = 2..correlation`` (index ``k - 2``)."""
    return [
        even_paths(l_edge, l_edge, l_edge if k < correlation else l_out, symmetric=symmetric and k == 2)
        for k in range(2, correlation + 1)
    ]


class ProductBasis(nn.Module):
    """``A [N, (l_edge+1)^2, P]``, ``species [N]`` -> ``B [N, (l_out+1)^2, P]``.

    Internally channels-first (``[N, P, s, d]``): every product is per node and channel.
    """

    def __init__(
        self, n_channels: int, n_species: int, l_edge: int, l_out: int, correlation: int,
        symmetric: bool = True, coupled: bool = False,
    ):
        super().__init__()
        self.n_channels, self.l_edge, self.l_out, self.coupled = n_channels, l_edge, l_out, coupled
        self.steps = product_paths(l_edge, l_out, correlation, symmetric)
        # multiplicities[k-1][l]: number of sub-paths that Q^(k) carries at rank l.
        mult = [[1] * (l_edge + 1)]
        for paths in self.steps:
            m = [0] * (l_edge + 1)
            for l1, _, l3 in paths:
                m[l3] += mult[-1][l1]
            mult.append(m)
        self.multiplicities = mult
        # Paths of one step that share l1 are evaluated together: their coupling tables are stacked
        # into one [D_e, d1 * C] matrix (C = the summed output widths), so a step costs one matrix
        # product per l1 instead of one per path. groups[i]: (l1, [(l3, first, last column)]).
        self.groups: List[List[Tuple[int, List[Tuple[int, int, int]]]]] = []
        for i, paths in enumerate(self.steps):
            groups = []
            for l1 in sorted({p[0] for p in paths}):
                selected = [p for p in paths if p[0] == l1]
                width = sum(2 * l3 + 1 for _, _, l3 in selected)
                table = torch.zeros(rank_dim(l_edge), 2 * l1 + 1, width, dtype=torch.float64)
                blocks, col = [], 0
                for _, l2, l3 in selected:
                    table[rank_slice(l2), :, col : col + 2 * l3 + 1] = coupling_table(l1, l2, l3).transpose(0, 1)
                    blocks.append((l3, col, col + 2 * l3 + 1))
                    col += 2 * l3 + 1
                self.register_buffer(f"table_{i}_{l1}", table.flatten(1), persistent=False)
                # The same table with rows (a, b), for the outer product A^l1 (x) A: [d1 D_e, C].
                outer = table.transpose(0, 1).reshape(-1, width)
                self.register_buffer(f"outer_{i}_{l1}", outer, persistent=False)
                groups.append((l1, blocks))
            self.groups.append(groups)
        self.weights = nn.ParameterList()
        # Initial std of each weight (spec §2.5, §2.9), keyed by parameter name relative to this
        # module: N(0, 1) / mult_k(l), and / (mult_k(l) sqrt(P)) for channel-coupled weights.
        self.init_scales: Dict[str, float] = {}
        for k, m in enumerate(mult):
            for l in range(l_out + 1):
                shape = (n_species, n_channels * m[l], n_channels) if coupled else (n_species, n_channels, m[l])
                scale = 1.0 / (max(m[l], 1) * (n_channels**0.5 if coupled else 1.0))
                self.init_scales[f"weights.{len(self.weights)}"] = scale
                self.weights.append(nn.Parameter(torch.empty(shape)))

    def forward(self, a: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        # Nodes are independent: chunks keep the intermediates cache-sized (cost linear in N).
        chunk = max(64, (1 << 16) // self.n_channels)
        if a.shape[0] > chunk:
            return torch.cat([self._forward(*parts) for parts in zip(a.split(chunk), species.split(chunk))])
        return self._forward(a, species)

    def _forward(self, a: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        n_nodes, P = a.shape[0], self.n_channels
        a = a.transpose(1, 2)  # [N, P, D_e]
        a_flat = a.reshape(n_nodes * P, -1)
        # Splits, not slices: the backward of each slice would zero-fill a tensor of the full size.
        parts = {l: x.unsqueeze(2) for l, x in enumerate(rank_split(a, self.l_edge))}  # [N, P, s, d]
        out = [self._weigh(0, l, parts[l], species) for l in range(self.l_out + 1)]
        for i, groups in enumerate(self.groups):
            new: Dict[int, List[torch.Tensor]] = {}
            for l1, blocks in groups:
                if l1 not in parts:
                    continue
                if l1 > 0 and parts[l1].shape[2] == 1:
                    # One sub-path (the first step): the outer product A^l1 (x) A [N P, d1 D_e] times
                    # one table; cheaper than a batched [1, d1] @ [d1, C] product per node and channel.
                    outer = (parts[l1].transpose(2, 3) * a.unsqueeze(2)).reshape(n_nodes * P, -1)
                    q = (outer @ getattr(self, f"outer_{i}_{l1}")).view(n_nodes, P, 1, -1)  # [N, P, 1, C]
                else:
                    t = (a_flat @ getattr(self, f"table_{i}_{l1}")).view(n_nodes, P, 2 * l1 + 1, -1)  # [N, P, d1, C]
                    # [N, P, s, C]; for l1 = 0 the product is an outer one, cheaper broadcast than batched.
                    q = parts[l1] * t if l1 == 0 else _small_matmul(parts[l1], t)
                for (l3, _, _), q3 in zip(blocks, q.split([last - first for _, first, last in blocks], dim=-1)):
                    new.setdefault(l3, []).append(q3)
            parts = {l: torch.cat(v, dim=2) for l, v in new.items()}
            for l in range(self.l_out + 1):
                if l in parts:
                    out[l] = out[l] + self._weigh(i + 1, l, parts[l], species)
        return torch.cat(out, dim=-1).transpose(1, 2)

    def _weigh(self, k: int, l: int, q: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        """Contract the sub-paths ``q [N, P, s, d]`` with the weights of step ``k`` -> ``[N, P, d]``."""
        weight = self.weights[k * (self.l_out + 1) + l]
        if not self.coupled:
            if torch.compiler.is_compiling():  # see _small_matmul
                return (q * weight[species].unsqueeze(-1)).sum(2)
            return torch.einsum("nusc,nus->nuc", q, weight[species])
        all_species = torch.einsum("nxc,zxw->nzwc", q.flatten(1, 2), weight)  # [N, S, P, d]
        index = species.view(-1, 1, 1, 1).expand(-1, 1, self.n_channels, q.shape[-1])
        return all_species.gather(1, index).squeeze(1)
