"""Independent helpers shared by the tensor tests (plain loops and einsum, nothing from the package)."""

from __future__ import annotations

import itertools
import math

import torch

F64 = dict(rtol=1e-10, atol=1e-11)


def dfact(n: int) -> int:
    """Double factorial with ``(-1)!! = 0!! = 1``."""
    return math.prod(range(n, 0, -2))


def unit_vectors(count: int, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    v = torch.randn(count, 3, generator=generator, dtype=torch.float64)
    return (v / v.norm(dim=-1, keepdim=True)).to(dtype)


def outer_power(v: torch.Tensor, rank: int) -> torch.Tensor:
    """``v^{(x)rank}`` of vectors ``[..., 3]`` -> ``[..., 3, ..., 3]``."""
    t = torch.ones(v.shape[:-1], dtype=v.dtype)
    for r in range(rank):
        t = t[..., None] * v.reshape(v.shape[:-1] + (1,) * r + (3,))
    return t


def contract_power(t: torch.Tensor, rank: int, v: torch.Tensor) -> torch.Tensor:
    """Full contraction ``t ._rank v^{(x)rank}`` of ``t [..., 3^rank]`` with vectors ``v [..., 3]``."""
    for r in range(rank, 0, -1):
        t = (t * v.reshape(v.shape[:-1] + (1,) * (r - 1) + (3,))).sum(-1)
    return t


def random_symmetric(batch: int, rank: int, generator: torch.Generator) -> torch.Tensor:
    """Generic symmetric tensors as random sums of outer powers (no symmetrizer involved)."""
    terms = math.comb(rank + 2, 2) + 1  # more terms than the symmetric dimension
    v = torch.randn(batch, terms, 3, generator=generator, dtype=torch.float64)
    c = torch.randn(batch, terms, generator=generator, dtype=torch.float64)
    return (c.reshape(batch, terms, *(1,) * rank) * outer_power(v, rank)).sum(1)


def assert_symmetric(t: torch.Tensor, rank: int, **tol) -> None:
    """``t`` is unchanged by every permutation of its last ``rank`` axes."""
    lead = t.dim() - rank
    for perm in itertools.permutations(range(lead, lead + rank)):
        torch.testing.assert_close(t.permute(*range(lead), *perm), t, **(tol or F64))


def assert_traceless(t: torch.Tensor, rank: int, **tol) -> None:
    """Contracting any pair of the last ``rank`` axes gives zero."""
    lead = t.dim() - rank
    for a, b in itertools.combinations(range(lead, lead + rank), 2):
        trace = torch.diagonal(t, dim1=a, dim2=b).sum(-1)
        torch.testing.assert_close(trace, torch.zeros_like(trace), **(tol or F64))


def inner(a: torch.Tensor, b: torch.Tensor, rank: int) -> torch.Tensor:
    """Frobenius inner product over the last ``rank`` axes."""
    prod = a * b
    return prod.reshape(prod.shape[: prod.dim() - rank] + (-1,)).sum(-1)
