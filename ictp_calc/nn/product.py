"""Product basis of correlation order nu (spec §2.5), channel-wise, in compressed storage.

``Q^(1) = A``; ``Q^(k),l3[u, (s, path)] = (Q^(k-1),l1[u, s] (x) A^l2[u])_l3`` for every even path;
``B^l = sum_k sum_s W^(k),l[z, u, s] Q^(k),l[u, s]`` (or channel-coupled weights). Sub-path
multiplicities multiply with k; nothing is reduced to independent couplings, as in ICTP.
"""

from __future__ import annotations

from typing import Dict, List

import torch
from torch import nn

from ..tensors import Path, coupling_table, even_paths, rank_slice

__all__ = ["ProductBasis", "product_paths"]


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
        for i, paths in enumerate(self.steps):
            for j, (l1, l2, l3) in enumerate(paths):
                self.register_buffer(f"table_{i}_{j}", coupling_table(l1, l2, l3), persistent=False)
        self.weights = nn.ParameterList()
        self.init_scales: Dict[str, float] = {}
        for k, m in enumerate(mult):
            for l in range(l_out + 1):
                shape = (n_species, n_channels * m[l], n_channels) if coupled else (n_species, n_channels, m[l])
                self.init_scales[str(len(self.weights))] = 1.0 / (m[l] * (n_channels**0.5 if coupled else 1.0))
                self.weights.append(nn.Parameter(torch.empty(shape)))

    def forward(self, a: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        a = a.transpose(1, 2)  # [N, P, D]
        parts = {l: a[..., rank_slice(l)].unsqueeze(2) for l in range(self.l_edge + 1)}  # [N, P, s, d]
        out = [self._weigh(0, l, parts[l], species) for l in range(self.l_out + 1)]
        for i, paths in enumerate(self.steps):
            new: Dict[int, List[torch.Tensor]] = {}
            for j, (l1, l2, l3) in enumerate(paths):
                if l1 not in parts:
                    continue
                table = getattr(self, f"table_{i}_{j}")
                t = torch.einsum("nub,abc->nuac", a[..., rank_slice(l2)], table)  # [N, P, d1, d3]
                new.setdefault(l3, []).append(torch.matmul(parts[l1], t))  # [N, P, s, d3]
            parts = {l: torch.cat(v, dim=2) for l, v in new.items()}
            for l in range(self.l_out + 1):
                if l in parts:
                    out[l] = out[l] + self._weigh(i + 1, l, parts[l], species)
        return torch.cat(out, dim=-1).transpose(1, 2)

    def _weigh(self, k: int, l: int, q: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        """Contract the sub-paths ``q [N, P, s, d]`` with the weights of step ``k`` -> ``[N, P, d]``."""
        weight = self.weights[k * (self.l_out + 1) + l]
        if not self.coupled:
            return torch.einsum("nusc,nus->nuc", q, weight[species])
        all_species = torch.einsum("nxc,zxw->nzwc", q.flatten(1, 2), weight)  # [N, S, P, d]
        index = species.view(-1, 1, 1, 1).expand(-1, 1, self.n_channels, q.shape[-1])
        return all_species.gather(1, index).squeeze(1)
