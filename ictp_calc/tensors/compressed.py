"""Fast irreducible Cartesian tensors in compressed (independent-component) storage.

A rank-l irreducible (symmetric, traceless) Cartesian tensor has ``2l+1`` independent components.
We store it as coordinates ``x_c [..., 2l+1]`` in a fixed orthonormal basis ``B_l [3^l, 2l+1]`` of
the symmetric-traceless subspace, with the full tensor ``x = B_l x_c`` (Frobenius inner products
are preserved, so every norm of spec §1.2 holds unchanged). The irreducible product of spec §1.3
then becomes one bilinear coupling table per path, precomputed once in float64 from the Cartesian
definition: ``(x (x) y)_l3 = einsum('...a,...b,abc->...c', x_c, y_c, K_{l1 l2 l3})``.

This is the same model as the full ``3^l`` storage (the model only mixes channels, never
components, so the choice of basis cannot change an energy) at ``(2l+1)/3^l`` of the memory:
7 instead of 27 floats at l = 3. Features of several ranks are concatenated along the last axis in
rank order, ``[..., (l_max+1)^2]``; :func:`rank_slice` gives the slice of one rank.
"""

from __future__ import annotations

import functools
import math
from typing import Optional

import torch

from . import reference

__all__ = [
    "rank_dim",
    "rank_slice",
    "rank_split",
    "stf_basis",
    "to_cartesian",
    "from_cartesian",
    "harmonics",
    "harmonic_matrix",
    "coupling_table",
    "irreducible_product",
]


def rank_dim(l_max: int) -> int:
    """Width ``(l_max+1)^2`` of the concatenation of ranks ``0..l_max``."""
    return (l_max + 1) ** 2


def rank_slice(l: int) -> slice:
    """Slice of rank ``l`` in a concatenation of ranks ``0, 1, ...``."""
    return slice(l * l, (l + 1) * (l + 1))


def rank_split(x: torch.Tensor, l_max: int, dim: int = -1):
    """The ranks ``0..l_max`` of a concatenation along ``dim``, as a tuple of views.

    Prefer it to one :func:`rank_slice` per rank where autograd is involved: the backward of a
    split is one concatenation, that of each slice a zero-filled tensor of the full size.
    """
    return x.split([2 * l + 1 for l in range(l_max + 1)], dim)


@functools.lru_cache(maxsize=None)
def _stf_basis64(l: int) -> torch.Tensor:
    if l == 0:
        return torch.ones(1, 1, dtype=torch.float64)
    eye = torch.eye(3**l, dtype=torch.float64).reshape((3**l,) + (3,) * l)
    # Columns of the orthogonal projector Pi_l o Sym onto the symmetric-traceless subspace.
    proj = reference.detrace(reference.symmetrize(eye, l), l).reshape(3**l, 3**l)
    evals, evecs = torch.linalg.eigh((proj + proj.T) / 2)
    basis = evecs[:, evals > 0.5]
    assert basis.shape[1] == 2 * l + 1
    # Fix each column's sign (largest-magnitude entry positive) so that the basis is reproducible.
    pivot = basis.abs().argmax(0)
    basis = basis * torch.sign(basis[pivot, torch.arange(2 * l + 1)])
    return basis


def stf_basis(l: int, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """Orthonormal basis ``[3^l, 2l+1]`` of rank-l symmetric traceless tensors (flattened)."""
    return _stf_basis64(l).to(dtype=dtype, device=device)


def to_cartesian(x: torch.Tensor, l: int) -> torch.Tensor:
    """Compressed ``[..., 2l+1]`` -> full Cartesian ``[..., 3, ..., 3]`` (l axes)."""
    full = x @ stf_basis(l, x.dtype, x.device).T
    return full.reshape(x.shape[:-1] + (3,) * l)


def from_cartesian(t: torch.Tensor, l: int) -> torch.Tensor:
    """Full Cartesian ``[..., 3, ..., 3]`` -> compressed ``[..., 2l+1]`` (orthogonal projection)."""
    flat = t.reshape(t.shape[: t.dim() - l] + (3**l,))
    return flat @ stf_basis(l, t.dtype, t.device)


@functools.lru_cache(maxsize=None)
def _harmonic_matrix64(l_max: int) -> torch.Tensor:
    """Block-diagonal ``[sum_l 3^l, (l_max+1)^2]`` mapping ``n^{(x)l}`` to compressed ``T^l``."""
    rows = sum(3**l for l in range(l_max + 1))
    out = torch.zeros(rows, rank_dim(l_max), dtype=torch.float64)
    r = 0
    for l in range(l_max + 1):
        scale = reference.double_factorial(2 * l - 1) / math.factorial(l)
        # n^{(x)l} is already symmetric and Pi_l is the orthogonal projector, so B_l^T Pi_l = B_l^T.
        out[r : r + 3**l, rank_slice(l)] = scale * _stf_basis64(l)
        r += 3**l
    return out


def harmonic_matrix(l_max: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """The constant matrix ``[sum_l 3^l, (l_max+1)^2]`` that :func:`harmonics` applies to the powers."""
    return _harmonic_matrix64(l_max).to(dtype=dtype, device=device)


def harmonics(
    vectors: torch.Tensor, l_max: int, normalize: bool = True, matrix: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """Cartesian harmonics ``T^0..T^l_max`` of ``vectors [..., 3]``, compressed, ``[..., (l_max+1)^2]``.

    With ``normalize`` the vectors are divided by their norm first (they must be non-zero).
    ``matrix``: :func:`harmonic_matrix` of ``l_max`` precomputed in the vectors' dtype and device
    (a model keeps it as a buffer, so a compiled graph holds it as a constant).
    """
    n = vectors / vectors.norm(dim=-1, keepdim=True) if normalize else vectors
    powers = [torch.ones_like(n[..., :1])]
    for _ in range(l_max):
        powers.append((powers[-1][..., :, None] * n[..., None, :]).flatten(-2))
    if matrix is None:
        matrix = harmonic_matrix(l_max, n.dtype, n.device)
    return torch.cat(powers, dim=-1) @ matrix


@functools.lru_cache(maxsize=None)
def _coupling_table64(l1: int, l2: int, l3: int) -> torch.Tensor:
    k = (l1 + l2 - l3) // 2
    b1 = _stf_basis64(l1).reshape(3 ** (l1 - k), 3**k, 2 * l1 + 1)
    b2 = _stf_basis64(l2).reshape(3**k, 3 ** (l2 - k), 2 * l2 + 1)
    raw = torch.einsum("xka,kyb->xyab", b1, b2).reshape(3**l3, 2 * l1 + 1, 2 * l2 + 1)
    # Pi_l3 o Sym is the orthogonal projector onto span(B_l3): projecting is a dot with B_l3.
    table = torch.einsum("pab,pc->abc", raw, _stf_basis64(l3))
    return reference.coupling_constant(l1, l2, l3) * table


def coupling_table(l1: int, l2: int, l3: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """Table ``K [2l1+1, 2l2+1, 2l3+1]`` of the irreducible product ``(l1, l2) -> l3``.

    Includes the normalization constant ``C(l1, l2, l3)``; the path must be even.
    """
    reference.coupling_constant(l1, l2, l3)  # validates the path
    return _coupling_table64(l1, l2, l3).to(dtype=dtype, device=device)


def irreducible_product(x: torch.Tensor, l1: int, y: torch.Tensor, l2: int, l3: int) -> torch.Tensor:
    """Irreducible product of compressed ``x [..., 2l1+1]`` and ``y [..., 2l2+1]`` -> ``[..., 2l3+1]``."""
    table = coupling_table(l1, l2, l3, x.dtype, x.device)
    return torch.einsum("...a,...b,abc->...c", x, y, table)
