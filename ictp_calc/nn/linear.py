"""Linear maps (spec §2.9: weights N(0, 1), scaled by 1/sqrt(fan_in) in the forward pass).

Equivariant features are channels-last, ``[n_nodes, (l_max+1)^2, n_channels]`` (compressed
storage, see :mod:`ictp_calc.tensors.compressed`); linear maps mix channels, never components.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..tensors import rank_split

__all__ = ["Linear", "NormalizedSiLU", "RankLinear", "SpeciesLinear"]


class NormalizedSiLU(nn.Module):
    """``phi(x) = 1.6765324703310907 SiLU(x)``: unit second moment for ``x ~ N(0, 1)``."""

    gain = 1.6765324703310907

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gain * torch.nn.functional.silu(x)


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

    ``x [N, (l_max+1)^2, n_in] -> [N, (l_max+1)^2, n_out]``.
    """

    def __init__(self, n_in: int, n_out: int, l_max: int):
        super().__init__()
        self.l_max = l_max
        self.weight = nn.Parameter(torch.empty(l_max + 1, n_out, n_in))
        self.scale = 1.0 / math.sqrt(n_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.scale
        # F.linear folds the leading axes into one matrix product; ``x @ w.T`` on a 3-D ``x`` would
        # broadcast ``w`` to ``[N, F, F]`` and autograd would keep that copy.
        if self.l_max == 0:
            return torch.nn.functional.linear(x, w[0])
        ranks = rank_split(x, math.isqrt(x.shape[1]) - 1, dim=1)
        return torch.cat([torch.nn.functional.linear(xl, wl) for xl, wl in zip(ranks, w.unbind(0))], 1)


class SpeciesLinear(nn.Module):
    """Species-dependent channel mixing (the skip connection of spec §2.4), ranks ``0..l_max``.

    ``sc_i[w] = (F S)^(-1/2) sum_u W^l[u, z_i, w] h_i[u]``; ``[N, D, F] -> [N, D, F_out]``.
    All species are mapped and the right one gathered: no data-dependent shapes, no host sync.
    """

    def __init__(self, n_in: int, n_out: int, n_species: int, l_max: int):
        super().__init__()
        self.l_max, self.n_out, self.n_species = l_max, n_out, n_species
        self.weight = nn.Parameter(torch.empty(l_max + 1, n_in, n_species, n_out))
        self.scale = 1.0 / math.sqrt(n_in * n_species)

    def forward(self, x: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.scale
        out = []
        # Ranks above those of x (scalars only, as for an isolated atom) give nothing.
        for xl, wl in zip(rank_split(x, math.isqrt(x.shape[1]) - 1, dim=1), w.unbind(0)):  # xl: [N, d, F]
            all_species = torch.nn.functional.linear(xl, wl.flatten(1).T)
            all_species = all_species.view(xl.shape[0], xl.shape[1], self.n_species, self.n_out)
            index = species.view(-1, 1, 1, 1).expand(-1, xl.shape[1], 1, self.n_out)
            out.append(all_species.gather(2, index).squeeze(2))
        return torch.cat(out, dim=1)
