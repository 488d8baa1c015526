"""Random orthogonal matrices and their action on Cartesian tensors (for tests and checks)."""

from __future__ import annotations

import torch

from .compressed import stf_basis

__all__ = ["random_orthogonal", "rotate_cartesian", "wigner_compressed"]


def random_orthogonal(generator: torch.Generator | None = None, dtype=torch.float64, reflect=None) -> torch.Tensor:
    """Haar-random ``[3, 3]`` orthogonal matrix; ``reflect`` forces ``det = -1`` (True) or ``+1`` (False)."""
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if reflect is not None and (torch.det(q) < 0) != reflect:
        q = -q
    return q.to(dtype)


def rotate_cartesian(t: torch.Tensor, rank: int, q: torch.Tensor) -> torch.Tensor:
    """Apply ``q^{(x)rank}`` to the last ``rank`` axes of a full Cartesian tensor."""
    for axis in range(t.dim() - rank, t.dim()):
        t = torch.movedim(torch.tensordot(t, q, dims=([axis], [1])), -1, axis)
    return t


def wigner_compressed(l: int, q: torch.Tensor) -> torch.Tensor:
    """``[2l+1, 2l+1]`` matrix ``D`` with ``compressed(q . x) = D @ compressed(x)``."""
    basis = stf_basis(l, q.dtype, q.device)
    rotated = rotate_cartesian(basis.T.reshape((2 * l + 1,) + (3,) * l), l, q)
    return (rotated.reshape(2 * l + 1, -1) @ basis).T
