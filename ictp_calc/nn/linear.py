"""Linear maps (spec §2.9: weights N(0, 1), scaled by 1/sqrt(fan_in) in the forward pass).

Equivariant features are ``[n_nodes, n_channels, (l_max+1)^2]`` (compressed storage, see
:mod:`ictp_calc.tensors.compressed`); linear maps mix channels and never components.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..tensors import rank_slice

__all__ = ["Linear", "NormalizedSiLU", "RankLinear", "SpeciesLinear"]


class NormalizedSiLU(nn.Module):
    """``phi(x) = 1.6765324703310907 SiLU(x)``: unit second moment for ``x ~ N(0, 1)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.6765324703310907 * torch.nn.functional.silu(x)


class Linear(nn.Module):
    """``y = x W^T / sqrt(fan_in)`` on the last axis, no bias; ``[..., n_in] -> [..., n_out]``."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_out, n_in))
        self.scale = 1.0 / math.sqrt(n_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.linear(x, self.weight * self.scale)


class RankLinear(nn.Module):
    """Channel mixing, one ``[n_out, n_in]`` weight per rank ``0..l_max``.

    ``x [N, n_in, (l_max+1)^2] -> [N, n_out, (l_max+1)^2]``.
    """

    def __init__(self, n_in: int, n_out: int, l_max: int):
        super().__init__()
        self.l_max = l_max
        self.weight = nn.Parameter(torch.empty(l_max + 1, n_out, n_in))
        self.scale = 1.0 / math.sqrt(n_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.scale
        if self.l_max == 0:
            return torch.einsum("wc,ncd->nwd", w[0], x)
        return torch.cat(
            [torch.einsum("wc,ncd->nwd", w[l], x[..., rank_slice(l)]) for l in range(self.l_max + 1)], dim=-1
        )


class SpeciesLinear(nn.Module):
    """Species-dependent channel mixing (the skip connection of spec §2.4), ranks ``0..l_max``.

    ``sc_i[w] = (F S)^(-1/2) sum_u W^l[u, z_i, w] h_i[u]``; ``[N, F, D] -> [N, F_out, D]``.
    All species are mapped and the right one gathered: no data-dependent shapes, no host sync.
    """

    def __init__(self, n_in: int, n_out: int, n_species: int, l_max: int):
        super().__init__()
        self.l_max, self.n_out = l_max, n_out
        self.weight = nn.Parameter(torch.empty(l_max + 1, n_in, n_species, n_out))
        self.scale = 1.0 / math.sqrt(n_in * n_species)

    def forward(self, x: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.scale
        out = []
        for l in range(self.l_max + 1):
            xl = x[..., rank_slice(l)]  # [N, F, d]
            all_species = torch.einsum("nud,usw->nswd", xl, w[l])  # [N, S, F_out, d]
            index = species.view(-1, 1, 1, 1).expand(-1, 1, self.n_out, xl.shape[-1])
            out.append(all_species.gather(1, index).squeeze(1))
        return torch.cat(out, dim=-1)
