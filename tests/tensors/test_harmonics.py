"""Cartesian harmonics (spec §1.2), the symmetric-traceless projector (§1.1) and the compressed basis.

Expected values come from independent math: Legendre polynomials, the explicit formulas of the
spec, norms from double factorials, and random orthogonal matrices.
"""

import math

import pytest
import torch
from stf_checks import (
    F64,
    assert_symmetric,
    assert_traceless,
    contract_power,
    dfact,
    inner,
    random_symmetric,
    unit_vectors,
)

from ictp_calc.tensors import compressed, reference
from ictp_calc.tensors.rotations import random_orthogonal, rotate_cartesian, wigner_compressed

RANKS = range(6)
L_MAX = 4  # compressed harmonics are tested up to this rank
EYE = torch.eye(3, dtype=torch.float64)

LEGENDRE = [
    lambda x: torch.ones_like(x),
    lambda x: x,
    lambda x: (3 * x**2 - 1) / 2,
    lambda x: (5 * x**3 - 3 * x) / 2,
    lambda x: (35 * x**4 - 30 * x**2 + 3) / 8,
    lambda x: (63 * x**5 - 70 * x**3 + 15 * x) / 8,
]


def compressed_rank(h: torch.Tensor, l: int) -> torch.Tensor:
    return h[..., compressed.rank_slice(l)]


# ---------------------------------------------------------------------------------------------
# Reference harmonics
# ---------------------------------------------------------------------------------------------


def test_legendre_closed_forms():
    x = torch.linspace(-1, 1, 41, dtype=torch.float64)
    for l, p in enumerate(LEGENDRE):
        torch.testing.assert_close(reference.legendre(l, x), p(x), **F64)


@pytest.mark.parametrize("l", RANKS)
def test_harmonic_symmetric_traceless(l, generator):
    t = reference.harmonic(unit_vectors(4, generator), l)
    assert t.shape == (4,) + (3,) * l
    assert_symmetric(t, l)
    assert_traceless(t, l)


@pytest.mark.parametrize("l", RANKS)
def test_harmonic_contractions(l, generator):
    """``T^l(n) . n^l = 1``, ``T^l(n) . m^l = P_l(n.m)`` and ``T^l(n) . T^l(m) = (2l-1)!!/l! P_l``."""
    n, m = unit_vectors(6, generator), unit_vectors(6, generator)
    cos = (n * m).sum(-1)
    tn = reference.harmonic(n, l)
    torch.testing.assert_close(contract_power(tn, l, n), torch.ones(6, dtype=torch.float64), **F64)
    torch.testing.assert_close(contract_power(tn, l, m), LEGENDRE[l](cos), **F64)
    torch.testing.assert_close(contract_power(tn, l, m), reference.legendre(l, cos), **F64)
    expected = dfact(2 * l - 1) / math.factorial(l) * LEGENDRE[l](cos)
    torch.testing.assert_close(inner(tn, reference.harmonic(m, l), l), expected, **F64)


@pytest.mark.parametrize("l", RANKS)
def test_harmonic_parity(l, generator):
    n = unit_vectors(4, generator)
    torch.testing.assert_close(reference.harmonic(-n, l), (-1) ** l * reference.harmonic(n, l), **F64)


@pytest.mark.parametrize("l", RANKS)
def test_harmonic_norm(l, generator):
    """Squared Frobenius norm ``(2l-1)!!/l!``: 1, 1, 1.5, 2.5, 4.375, 7.875."""
    t = reference.harmonic(unit_vectors(4, generator), l)
    expected = torch.full((4,), dfact(2 * l - 1) / math.factorial(l), dtype=torch.float64)
    torch.testing.assert_close(inner(t, t, l), expected, **F64)


def test_harmonic_explicit_forms(generator):
    n = unit_vectors(5, generator)
    t2 = 1.5 * (torch.einsum("bi,bj->bij", n, n) - EYE / 3)
    deltas = sum(torch.einsum(f"b{s[0]},{s[1:]}->bijk", n, EYE) for s in ("ijk", "jik", "kij"))
    t3 = 2.5 * (torch.einsum("bi,bj,bk->bijk", n, n, n) - deltas / 5)
    torch.testing.assert_close(reference.harmonic(n, 0), torch.ones(5, dtype=torch.float64), **F64)
    torch.testing.assert_close(reference.harmonic(n, 1), n, **F64)
    torch.testing.assert_close(reference.harmonic(n, 2), t2, **F64)
    torch.testing.assert_close(reference.harmonic(n, 3), t3, **F64)


@pytest.mark.parametrize("l", RANKS)
def test_harmonic_recursion_matches_projector(l, generator):
    n = unit_vectors(4, generator)
    torch.testing.assert_close(reference.harmonic_recursive(n, l), reference.harmonic(n, l), **F64)


@pytest.mark.parametrize("reflect", [False, True], ids=["rotation", "reflection"])
@pytest.mark.parametrize("l", RANKS)
def test_harmonic_equivariance(l, reflect, generator):
    q = random_orthogonal(generator, reflect=reflect)
    assert torch.allclose(q @ q.T, EYE, atol=1e-12)
    assert torch.det(q).item() == pytest.approx(-1.0 if reflect else 1.0)
    n = unit_vectors(4, generator)
    torch.testing.assert_close(
        reference.harmonic(n @ q.T, l), rotate_cartesian(reference.harmonic(n, l), l, q), **F64
    )


def test_rotate_cartesian_matches_explicit_action(generator):
    """``rotate_cartesian`` is ``Q^{(x)3}``, written out with einsum."""
    q = random_orthogonal(generator)
    t = torch.randn(2, 3, 3, 3, generator=generator, dtype=torch.float64)
    expected = torch.einsum("ia,jb,kc,nabc->nijk", q, q, q, t)
    torch.testing.assert_close(rotate_cartesian(t, 3, q), expected, **F64)


# ---------------------------------------------------------------------------------------------
# Compressed harmonics
# ---------------------------------------------------------------------------------------------


def test_compressed_harmonics_match_reference(dtype, tol, generator):
    r = 3.0 * torch.randn(2, 5, 3, generator=generator, dtype=torch.float64)
    n = r / r.norm(dim=-1, keepdim=True)
    h = compressed.harmonics(r.to(dtype), l_max=L_MAX)
    assert h.shape == (2, 5, (L_MAX + 1) ** 2) and h.dtype == dtype
    for l in range(L_MAX + 1):
        full = compressed.to_cartesian(compressed_rank(h, l), l)
        torch.testing.assert_close(full, reference.harmonic(n, l).to(dtype), **tol)


def test_compressed_harmonics_normalize(dtype, tol, generator):
    """Any positive rescaling of the input leaves the harmonics unchanged; without normalization
    rank l scales as ``|r|^l`` (T^l is a homogeneous polynomial)."""
    n = unit_vectors(6, generator)
    scale = torch.tensor([1e-3, 0.1, 0.7, 1.0, 5.0, 1e3], dtype=torch.float64)[:, None]
    h_unit = compressed.harmonics(n.to(dtype), l_max=L_MAX)
    torch.testing.assert_close(compressed.harmonics((scale * n).to(dtype), l_max=L_MAX), h_unit, **tol)
    r = torch.tensor([0.5, 0.8, 1.0, 1.3, 1.7, 2.0], dtype=torch.float64)[:, None]
    raw = compressed.harmonics((r * n).to(dtype), l_max=L_MAX, normalize=False)
    for l in range(L_MAX + 1):
        torch.testing.assert_close(compressed_rank(raw, l), (r**l).to(dtype) * compressed_rank(h_unit, l), **tol)


@pytest.mark.parametrize("reflect", [False, True], ids=["rotation", "reflection"])
def test_compressed_harmonics_equivariance(dtype, tol, reflect, generator):
    q = random_orthogonal(generator, dtype=dtype, reflect=reflect)
    n = unit_vectors(5, generator, dtype)
    h, h_rot = compressed.harmonics(n, l_max=L_MAX), compressed.harmonics(n @ q.T, l_max=L_MAX)
    for l in range(L_MAX + 1):
        d = wigner_compressed(l, q)
        assert d.shape == (2 * l + 1, 2 * l + 1)
        torch.testing.assert_close(d @ d.T, torch.eye(2 * l + 1, dtype=dtype), **tol)
        torch.testing.assert_close(compressed_rank(h_rot, l), compressed_rank(h, l) @ d.T, **tol)


# ---------------------------------------------------------------------------------------------
# Projector Pi_n o Sym
# ---------------------------------------------------------------------------------------------


def project(t: torch.Tensor, rank: int) -> torch.Tensor:
    return reference.detrace(reference.symmetrize(t, rank), rank)


def explicit_projector(a: torch.Tensor, rank: int) -> torch.Tensor:
    """Explicit ``Pi_2``, ``Pi_3``, ``Pi_4`` of spec §1.1 for symmetric ``a [batch, 3^rank]``."""
    e = EYE
    if rank == 2:
        return a - torch.einsum("bmm,ij->bij", a, e) / 3
    if rank == 3:
        v = torch.einsum("bkmm->bk", a)
        deltas = sum(torch.einsum(f"b{s[2]},{s[:2]}->bijk", v, e) for s in ("ijk", "ikj", "jki"))
        return a - deltas / 5
    if rank == 4:
        b, c = torch.einsum("bklmm->bkl", a), torch.einsum("bmmnn->b", a)
        pairs = ("ijkl", "ikjl", "iljk", "jkil", "jlik", "klij")
        six = sum(torch.einsum(f"b{s[2:]},{s[:2]}->bijkl", b, e) for s in pairs)
        three = sum(torch.einsum(f"{s[:2]},{s[2:]}->ijkl", e, e) for s in ("ijkl", "ikjl", "iljk"))
        return a - six / 7 + c[:, None, None, None, None] * three / 35
    raise ValueError(rank)


@pytest.mark.parametrize("rank", [2, 3, 4, 5])
def test_projector_idempotent_symmetric_traceless(rank, generator):
    a = torch.randn((3,) + (3,) * rank, generator=generator, dtype=torch.float64)
    p = project(a, rank)
    assert_symmetric(p, rank)
    assert_traceless(p, rank)
    torch.testing.assert_close(project(p, rank), p, **F64)
    assert p.norm() > 0.1 * a.norm()  # not the zero map


@pytest.mark.parametrize("rank", [2, 3, 4])
def test_projector_explicit_forms(rank, generator):
    a = random_symmetric(3, rank, generator)
    torch.testing.assert_close(reference.detrace(a, rank), explicit_projector(a, rank), **F64)


@pytest.mark.parametrize("rank", [2, 3, 4, 5])
def test_projector_removes_traces(rank, generator):
    """``Pi_n(Sym(delta (x) B)) = 0``: the projector kills pure-trace tensors."""
    b = random_symmetric(2, rank - 2, generator)
    lead = torch.einsum("ij,b...->bij...", EYE, b)
    p = project(lead, rank)
    torch.testing.assert_close(p, torch.zeros_like(p), **F64)


@pytest.mark.parametrize("rank", range(8))
def test_delta_placements_count(rank):
    for m in range(rank // 2 + 1):
        placements = list(reference._delta_placements(rank, m))
        expected = math.factorial(rank) // (2**m * math.factorial(m) * math.factorial(rank - 2 * m))
        assert len(placements) == expected
        assert len({frozenset(pairs) for pairs, _ in placements}) == expected  # distinct
        for pairs, rest in placements:
            used = [s for pair in pairs for s in pair]
            assert len(set(used)) == 2 * m and sorted(used + list(rest)) == list(range(rank))


# ---------------------------------------------------------------------------------------------
# Compressed storage basis
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("l", RANKS)
def test_stf_basis_orthonormal_and_spanning(l, generator):
    basis = compressed.stf_basis(l)
    assert basis.shape == (3**l, 2 * l + 1)
    torch.testing.assert_close(basis.T @ basis, torch.eye(2 * l + 1, dtype=torch.float64), **F64)
    # Every column is symmetric and traceless: the projector leaves it unchanged.
    columns = basis.T.reshape((2 * l + 1,) + (3,) * l)
    torch.testing.assert_close(project(columns, l), columns, **F64)
    # The harmonics of many directions span a (2l+1)-dimensional space, contained in span(basis).
    t = reference.harmonic(unit_vectors(4 * l + 4, generator), l).reshape(-1, 3**l)
    assert torch.linalg.matrix_rank(t).item() == 2 * l + 1
    torch.testing.assert_close(t @ basis @ basis.T, t, **F64)


def test_stf_basis_dtype_and_roundtrip(dtype, tol, generator):
    for l in range(L_MAX + 1):
        assert compressed.stf_basis(l, dtype).dtype == dtype
        x = torch.randn(3, 2 * l + 1, generator=generator, dtype=torch.float64).to(dtype)
        full = compressed.to_cartesian(x, l)
        assert full.shape == (3,) + (3,) * l
        torch.testing.assert_close(compressed.from_cartesian(full, l), x, **tol)
        # Frobenius inner products are preserved (orthonormal basis).
        torch.testing.assert_close(inner(full, full, l), x.pow(2).sum(-1), **tol)


def test_rank_layout():
    assert [compressed.rank_dim(l) for l in range(5)] == [1, 4, 9, 16, 25]
    slices = [compressed.rank_slice(l) for l in range(5)]
    assert [s.stop - s.start for s in slices] == [2 * l + 1 for l in range(5)]
    assert all(a.stop == b.start for a, b in zip(slices, slices[1:])) and slices[0].start == 0
