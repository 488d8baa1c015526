"""Radial features of edges: Bessel basis, polynomial envelope and the radial MLP (spec §2.2-2.3)."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from .linear import Linear

__all__ = ["SILU_GAIN", "BesselBasis", "PolynomialEnvelope", "RadialEmbedding", "RadialMLP"]

SILU_GAIN = 1.6765324703310907
"""The normalized SiLU is ``SILU_GAIN * SiLU(x)``: unit second moment for ``x ~ N(0, 1)``."""


class BesselBasis(nn.Module):
    """``b_n(r) = sqrt(2/r_c) sin(n pi r / r_c) / r`` for ``n = 1..n_basis``; ``[E, 1] -> [E, n_basis]``."""

    def __init__(self, cutoff: float, n_basis: int = 8):
        super().__init__()
        self.cutoff = float(cutoff)
        self.register_buffer("frequencies", math.pi / cutoff * torch.arange(1, n_basis + 1, dtype=torch.float64))

    def forward(self, lengths: torch.Tensor) -> torch.Tensor:
        return math.sqrt(2.0 / self.cutoff) * torch.sin(self.frequencies * lengths) / lengths


class PolynomialEnvelope(nn.Module):
    """Smooth cutoff ``u(r/r_c)`` with ``p`` continuous derivatives at the cutoff, 0 beyond it."""

    def __init__(self, cutoff: float, p: int = 5):
        super().__init__()
        self.cutoff, self.p = float(cutoff), p

    def forward(self, lengths: torch.Tensor) -> torch.Tensor:
        p, x = self.p, lengths / self.cutoff
        u = 1.0 - (p + 1) * (p + 2) / 2 * x**p + p * (p + 2) * x ** (p + 1) - p * (p + 1) / 2 * x ** (p + 2)
        return torch.where(x < 1.0, u, torch.zeros_like(u))


class RadialEmbedding(nn.Module):
    """Edge feature ``e_ij = b(r_ij) u(r_ij)``: ``lengths [E, 1]`` (Å) -> ``[E, n_basis]``."""

    def __init__(self, cutoff: float, n_basis: int, p: int):
        super().__init__()
        self.basis = BesselBasis(cutoff, n_basis)
        self.envelope = PolynomialEnvelope(cutoff, p)

    def forward(self, lengths: torch.Tensor) -> torch.Tensor:
        return self.basis(lengths) * self.envelope(lengths)


class RadialMLP(nn.Module):
    """Bias-free MLP with normalized SiLU between layers and none after the last one.

    ``phi(x) = 1.6765... SiLU(x)``: the constant is folded into the following layer's scale, which
    is the same function with one elementwise pass less per layer.
    """

    def __init__(self, widths: Sequence[int]):
        super().__init__()
        self.layers = nn.ModuleList(Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        for layer in list(self.layers)[1:]:
            layer.scale *= SILU_GAIN

    def hidden(self, x: torch.Tensor, chunk: int = 1 << 14) -> torch.Tensor:
        """The input of the output layer (activated last hidden features), ``[E, widths[-2]]``.

        Runs ``chunk`` rows at a time, which keeps the activations cache-sized and the cost linear.
        """
        *hidden, _ = self.layers
        parts = []
        for part in x.split(chunk) if x.shape[0] > chunk else [x]:
            for i, layer in enumerate(hidden):
                part = layer(torch.nn.functional.silu(part) if i else part)
            parts.append(part)
        x = torch.cat(parts) if len(parts) > 1 else parts[0]
        return torch.nn.functional.silu(x) if hidden else x

    def output_weight(self) -> torch.Tensor:
        """The output layer as one matrix ``[widths[-1], widths[-2]]``, scale included."""
        return self.layers[-1].weight * self.layers[-1].scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [E, widths[0]] -> [E, widths[-1]]``."""
        return self.hidden(x) @ self.output_weight().T
