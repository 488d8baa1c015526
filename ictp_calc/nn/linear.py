"""Linear maps (spec §2.9: weights N(0, 1), scaled by 1/sqrt(fan_in) in the forward pass).

Equivariant features are channels-last, ``[n_nodes, (l_max+1)^2, n_channels]`` (compressed
storage, see :mod:`ictp_calc.tensors.compressed`); linear maps mix channels, never components.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["Linear", "RankLinear", "SpeciesLinear"]


def _component_ranks(l_max: int) -> torch.Tensor:
    """The rank of each of the ``(l_max+1)^2`` components, ``[0, 1, 1, 1, 2, ...]``."""
    return torch.tensor([l for l in range(l_max + 1) for _ in range(2 * l + 1)], dtype=torch.long)


def _componentwise(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``y[n, i] = x[n, i] @ weight[i]``: one batched product over components ``i``.

    ``x [N, D, n_in]``, ``weight [D, n_in, n_out]`` -> ``[N, D, n_out]``. A product per rank on a
    slice of ``x`` would not be one matrix product: the slice is strided, so torch would broadcast
    the weight to ``[N, n_in, n_out]``.
    """
    return torch.bmm(x.transpose(0, 1), weight).transpose(0, 1)


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
        self.register_buffer("component_ranks", _component_ranks(l_max), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.scale
        # F.linear folds the leading axes of a contiguous ``x`` into one matrix product; ``x @ w.T``
        # on a 3-D ``x`` would broadcast ``w`` to ``[N, F, F]`` and autograd would keep that copy.
        if x.shape[1] == 1:
            return torch.nn.functional.linear(x, w[0])
        return _componentwise(x, w.transpose(1, 2).index_select(0, self.component_ranks))


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
        self.register_buffer("component_ranks", _component_ranks(l_max), persistent=False)

    def forward(self, x: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        w = (self.weight * self.scale).flatten(2)  # [l_max+1, n_in, S n_out]
        # Only the ranks of both x and the map: ranks of x above l_max have no skip connection,
        # and ranks above those of x (scalars only, as for an isolated atom) give nothing.
        n_nodes, n_components = x.shape[0], min(x.shape[1], self.component_ranks.shape[0])
        if n_components == 1:
            all_species = x[:, :1] @ w[0]  # [N, 1, S n_out]
        else:
            x = x if x.shape[1] == n_components else x[:, :n_components]
            all_species = _componentwise(x, w.index_select(0, self.component_ranks[:n_components]))
        all_species = all_species.view(n_nodes, n_components, self.n_species, self.n_out)
        index = species.view(-1, 1, 1, 1).expand(-1, n_components, 1, self.n_out)
        return all_species.gather(2, index).squeeze(2)
