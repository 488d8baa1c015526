"""Per-layer energy readouts (spec §2.7): linear for inner layers, a small MLP for the last."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .linear import Linear
from .radial import RadialMLP

__all__ = ["LinearReadout", "MLPReadout"]


class LinearReadout(nn.Module):
    """``E_i = w . h_i^0 / sqrt(F)``; ``scalars [N, F] -> [N]``."""

    def __init__(self, n_channels: int):
        super().__init__()
        self.linear = Linear(n_channels, 1)

    def forward(self, scalars: torch.Tensor) -> torch.Tensor:
        return self.linear(scalars).squeeze(-1)


class MLPReadout(nn.Module):
    """MLP ``[F, *hidden, 1]`` with normalized SiLU; ``scalars [N, F] -> [N]``."""

    def __init__(self, n_channels: int, hidden: Sequence[int]):
        super().__init__()
        self.mlp = RadialMLP([n_channels, *hidden, 1])

    def forward(self, scalars: torch.Tensor) -> torch.Tensor:
        return self.mlp(scalars).squeeze(-1)
