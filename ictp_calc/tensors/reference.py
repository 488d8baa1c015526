"""Slow, obviously-correct irreducible Cartesian tensor math (spec §1), for tests.

Tensors are full Cartesian arrays: a rank-l tensor has shape ``[..., 3, ..., 3]`` with ``l``
trailing axes of size 3. Nothing here is used by the model; :mod:`ictp_calc.tensors.compressed`
is the fast implementation, and the tests check it against these definitions.
"""

from __future__ import annotations

import itertools
import math

import torch

__all__ = [
    "double_factorial",
    "coupling_constant",
    "symmetrize",
    "detrace",
    "contract",
    "harmonic",
    "harmonic_recursive",
    "irreducible_product",
    "legendre",
]

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def double_factorial(n: int) -> int:
    """``n!!`` with the convention ``(-1)!! = 0!! = 1``."""
    if n <= 0:
        return 1
    return n * double_factorial(n - 2)


def coupling_constant(l1: int, l2: int, l3: int) -> float:
    """Closed-form normalization ``C(l1, l2, l3)`` of spec §1.3 (averaged ``Sym``).

    Fixed so that ``C * Pi_l3(T^l1(n) ._k T^l2(n)) = T^l3(n)``.
    """
    if (l1 + l2 + l3) % 2 or not abs(l1 - l2) <= l3 <= l1 + l2:
        raise ValueError(f"({l1}, {l2}) -> {l3} is not an even path")
    k = (l1 + l2 - l3) // 2
    df, f = double_factorial, math.factorial
    num = f(l1) * f(l2) * df(2 * l3 - 1) * f((l2 + l3 - l1) // 2) * f((l1 + l3 - l2) // 2)
    den = (
        f(l3)
        * df(l2 + l3 - l1 - 1)
        * df(l1 + l3 - l2 - 1)
        * df(l1 + l2 - l3 - 1)
        * f((l1 + l2 + l3) // 2)
    )
    return num / den * math.comb(l3, l1 - k)


def symmetrize(t: torch.Tensor, rank: int) -> torch.Tensor:
    """Average of ``t`` over all permutations of its last ``rank`` axes."""
    if rank < 2:
        return t
    lead = t.dim() - rank
    perms = list(itertools.permutations(range(lead, lead + rank)))
    out = sum(t.permute(*range(lead), *p) for p in perms)
    return out / len(perms)


def _delta_placements(rank: int, m: int):
    """All distinct ways to put ``m`` Kronecker deltas on ``rank`` output slots (spec §1.1).

    Yields ``(pairs, rest)``: the slot pairs carrying deltas and the remaining slots in order.
    There are ``rank! / (2^m m! (rank - 2m)!)`` of them.
    """
    all_pairs = list(itertools.combinations(range(rank), 2))
    for pairs in itertools.combinations(all_pairs, m):
        used = [s for pair in pairs for s in pair]
        if len(set(used)) == 2 * m:
            yield pairs, [s for s in range(rank) if s not in used]


def detrace(s: torch.Tensor, rank: int) -> torch.Tensor:
    """Symmetric-traceless projector ``Pi_rank`` of a *symmetric* tensor (Applequist formula).

    ``Pi_n(S) = sum_m (-1)^m (2n-2m-1)!!/(2n-1)!! sum_placements delta^m (x) Tr^m(S)``.
    """
    if rank < 2:
        return s
    eye = torch.eye(3, dtype=s.dtype, device=s.device)
    out = torch.zeros_like(s)
    for m in range(rank // 2 + 1):
        trace = s
        for _ in range(m):  # contract the last two axes m times
            trace = torch.diagonal(trace, dim1=-2, dim2=-1).sum(-1)
        coef = (-1) ** m * double_factorial(2 * rank - 2 * m - 1) / double_factorial(2 * rank - 1)
        for pairs, rest in _delta_placements(rank, m):
            out_idx = _LETTERS[:rank]
            operands, subs = [trace], ["..." + "".join(out_idx[r] for r in rest)]
            for a, b in pairs:
                operands.append(eye)
                subs.append(out_idx[a] + out_idx[b])
            expr = ",".join(subs) + "->..." + out_idx
            out = out + coef * torch.einsum(expr, *operands)
    return out


def contract(x: torch.Tensor, l1: int, y: torch.Tensor, l2: int, k: int) -> torch.Tensor:
    """``x ._k y``: the last ``k`` axes of ``x`` with the first ``k`` (Cartesian) axes of ``y``.

    Leading batch axes of ``x`` and ``y`` must broadcast. Output rank is ``l1 + l2 - 2k``.
    """
    xs = _LETTERS[:l1]
    ys = xs[l1 - k :] + _LETTERS[l1 : l1 + l2 - k]
    out = xs[: l1 - k] + ys[k:]
    return torch.einsum(f"...{xs},...{ys}->...{out}", x, y)


def harmonic(n: torch.Tensor, l: int) -> torch.Tensor:
    """Cartesian harmonic ``T^l(n) = (2l-1)!!/l! Pi_l(n^{(x)l})`` of unit vectors ``n [..., 3]``."""
    t = torch.ones(n.shape[:-1], dtype=n.dtype, device=n.device)
    for r in range(l):
        t = t[..., None] * n.reshape(n.shape[:-1] + (1,) * r + (3,))
    return double_factorial(2 * l - 1) / math.factorial(l) * detrace(t, l)


def harmonic_recursive(n: torch.Tensor, l: int) -> torch.Tensor:
    """``T^l`` from the tensor Bonnet recursion of spec §1.2 (an independent route to ``T^l``)."""
    eye = torch.eye(3, dtype=n.dtype, device=n.device)
    prev, cur = None, torch.ones(n.shape[:-1], dtype=n.dtype, device=n.device)
    for r in range(1, l + 1):
        nxt = (2 * r - 1) / r * symmetrize(contract(n, 1, cur, r - 1, 0), r)
        if r >= 2:
            nxt = nxt - (r - 1) / r * symmetrize(contract(eye.expand(n.shape[:-1] + (3, 3)), 2, prev, r - 2, 0), r)
        prev, cur = cur, nxt
    return cur


def irreducible_product(x: torch.Tensor, l1: int, y: torch.Tensor, l2: int, l3: int) -> torch.Tensor:
    """``(x (x) y)_l3 = C(l1,l2,l3) Pi_l3(Sym(x ._k y))`` with ``k = (l1 + l2 - l3)/2``."""
    k = (l1 + l2 - l3) // 2
    return coupling_constant(l1, l2, l3) * detrace(symmetrize(contract(x, l1, y, l2, k), l3), l3)


def legendre(l: int, x: torch.Tensor) -> torch.Tensor:
    """Legendre polynomial ``P_l(x)`` by Bonnet's recursion."""
    p0, p1 = torch.ones_like(x), x
    if l == 0:
        return p0
    for n in range(1, l):
        p0, p1 = p1, ((2 * n + 1) * x * p1 - n * p0) / (n + 1)
    return p1
