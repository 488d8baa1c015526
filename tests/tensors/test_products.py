"""Irreducible Cartesian tensor product (spec §1.3): reference, compressed, constants and paths.

Expected values are the spec's table of C, its explicit per-path formulas and closed-form special
cases, the harmonic-normalization property, path counts, and random O(3) transformations.
"""

import math
from fractions import Fraction

import pytest
import torch
from stf_checks import F64, assert_symmetric, assert_traceless, dfact, unit_vectors

from ictp_calc.tensors import compressed, even_paths, reference
from ictp_calc.tensors.rotations import random_orthogonal, rotate_cartesian, wigner_compressed

EYE = torch.eye(3, dtype=torch.float64)


def brute_force_paths(l_max: int):
    """Even paths ``(l1, l2, l3)`` with all ranks ``<= l_max``, enumerated from the definition."""
    return [
        (l1, l2, l3)
        for l1 in range(l_max + 1)
        for l2 in range(l_max + 1)
        for l3 in range(l_max + 1)
        if (l1 + l2 + l3) % 2 == 0 and abs(l1 - l2) <= l3 <= l1 + l2
    ]


PATHS_4 = brute_force_paths(4)
PATHS_5 = brute_force_paths(5)


def path_id(path):
    return "{}x{}->{}".format(*path)


def random_compressed(batch: int, l: int, generator, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(batch, 2 * l + 1, generator=generator, dtype=torch.float64).to(dtype)


def full(x: torch.Tensor, l: int) -> torch.Tensor:
    return compressed.to_cartesian(x, l)


def random_stf(batch: int, l: int, generator) -> torch.Tensor:
    """Random full symmetric traceless tensors ``[batch, 3^l]`` (float64)."""
    return full(random_compressed(batch, l, generator), l)


# ---------------------------------------------------------------------------------------------
# Reference product: irreducibility and equivariance
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS_4, ids=path_id)
def test_reference_product_symmetric_traceless(path, generator):
    l1, l2, l3 = path
    out = reference.irreducible_product(random_stf(3, l1, generator), l1, random_stf(3, l2, generator), l2, l3)
    assert out.shape == (3,) + (3,) * l3
    assert out.norm() > 1e-3
    assert_symmetric(out, l3)
    assert_traceless(out, l3)


@pytest.mark.parametrize("reflect", [False, True], ids=["rotation", "reflection"])
@pytest.mark.parametrize("path", PATHS_4, ids=path_id)
def test_reference_product_equivariance(path, reflect, generator):
    l1, l2, l3 = path
    q = random_orthogonal(generator, reflect=reflect)
    x, y = random_stf(2, l1, generator), random_stf(2, l2, generator)
    rotated = reference.irreducible_product(rotate_cartesian(x, l1, q), l1, rotate_cartesian(y, l2, q), l2, l3)
    expected = rotate_cartesian(reference.irreducible_product(x, l1, y, l2, l3), l3, q)
    torch.testing.assert_close(rotated, expected, **F64)


@pytest.mark.parametrize("path", PATHS_4, ids=path_id)
def test_product_swap_symmetry(path, generator):
    """``(x (x) y)_l3 == (y (x) x)_l3`` for both implementations."""
    l1, l2, l3 = path
    xc, yc = random_compressed(2, l1, generator), random_compressed(2, l2, generator)
    x, y = full(xc, l1), full(yc, l2)
    torch.testing.assert_close(
        reference.irreducible_product(x, l1, y, l2, l3), reference.irreducible_product(y, l2, x, l1, l3), **F64
    )
    torch.testing.assert_close(
        compressed.irreducible_product(xc, l1, yc, l2, l3), compressed.irreducible_product(yc, l2, xc, l1, l3), **F64
    )


# ---------------------------------------------------------------------------------------------
# Compressed product
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS_4, ids=path_id)
def test_compressed_product_matches_reference(path, dtype, tol, generator):
    l1, l2, l3 = path
    xc, yc = random_compressed(4, l1, generator), random_compressed(4, l2, generator)
    fast = compressed.irreducible_product(xc.to(dtype), l1, yc.to(dtype), l2, l3)
    assert fast.shape == (4, 2 * l3 + 1) and fast.dtype == dtype
    expected = reference.irreducible_product(full(xc, l1), l1, full(yc, l2), l2, l3)
    torch.testing.assert_close(full(fast, l3), expected.to(dtype), **tol)


@pytest.mark.parametrize("path", PATHS_4, ids=path_id)
def test_compressed_product_equivariance(path, dtype, tol, generator):
    l1, l2, l3 = path
    q = random_orthogonal(generator, dtype=dtype, reflect=True)
    d1, d2, d3 = (wigner_compressed(l, q) for l in path)
    xc, yc = random_compressed(3, l1, generator, dtype), random_compressed(3, l2, generator, dtype)
    rotated = compressed.irreducible_product(xc @ d1.T, l1, yc @ d2.T, l2, l3)
    torch.testing.assert_close(rotated, compressed.irreducible_product(xc, l1, yc, l2, l3) @ d3.T, **tol)


# ---------------------------------------------------------------------------------------------
# Normalization: products of harmonics of one direction are harmonics
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS_4, ids=path_id)
def test_reference_product_of_harmonics(path, generator):
    l1, l2, l3 = path
    n = unit_vectors(4, generator)
    out = reference.irreducible_product(reference.harmonic(n, l1), l1, reference.harmonic(n, l2), l2, l3)
    torch.testing.assert_close(out, reference.harmonic(n, l3), **F64)


@pytest.mark.parametrize("path", PATHS_4, ids=path_id)
def test_compressed_product_of_harmonics(path, dtype, tol, generator):
    l1, l2, l3 = path
    h = compressed.harmonics(unit_vectors(4, generator, dtype), l_max=4)
    ranks = [h[..., compressed.rank_slice(l)] for l in range(5)]
    torch.testing.assert_close(compressed.irreducible_product(ranks[l1], l1, ranks[l2], l2, l3), ranks[l3], **tol)


# ---------------------------------------------------------------------------------------------
# Coupling constants
# ---------------------------------------------------------------------------------------------

# Spec §1.3: table for ranks <= 3 (l1 >= l2) and the four values beyond rank 3.
SPEC_C = {
    (0, 0, 0): 1, (1, 1, 0): 1, (2, 2, 0): Fraction(2, 3), (3, 3, 0): Fraction(2, 5),
    (1, 0, 1): 1, (2, 1, 1): 1, (3, 2, 1): Fraction(2, 3),
    (2, 0, 2): 1, (1, 1, 2): Fraction(3, 2), (2, 2, 2): 2, (3, 3, 2): Fraction(3, 2), (3, 1, 2): 1,
    (3, 0, 3): 1, (2, 1, 3): Fraction(5, 3), (3, 2, 3): Fraction(5, 2),
    (3, 1, 4): Fraction(7, 4), (2, 2, 4): Fraction(35, 18), (3, 3, 4): Fraction(7, 2), (4, 4, 0): Fraction(8, 35),
}  # fmt: skip


@pytest.mark.parametrize("path,value", SPEC_C.items(), ids=[path_id(p) for p in SPEC_C])
def test_coupling_constant_spec_table(path, value):
    l1, l2, l3 = path
    assert reference.coupling_constant(l1, l2, l3) == pytest.approx(float(value), rel=1e-14)
    assert reference.coupling_constant(l2, l1, l3) == pytest.approx(float(value), rel=1e-14)


def test_spec_table_covers_all_paths_up_to_rank_3():
    assert {p for p in brute_force_paths(3) if p[0] >= p[1]} <= set(SPEC_C)


@pytest.mark.parametrize("path", PATHS_5, ids=path_id)
def test_coupling_constant_special_cases(path):
    """Symmetry ``l1 <-> l2`` and the closed forms of the spec's special-case table."""
    l1, l2, l3 = path
    c = reference.coupling_constant(l1, l2, l3)
    f = math.factorial
    assert c == pytest.approx(reference.coupling_constant(l2, l1, l3), rel=1e-14)
    if l3 == l1 + l2:
        assert c == pytest.approx(dfact(2 * l3 - 1) * f(l1) * f(l2) / (f(l3) * dfact(2 * l1 - 1) * dfact(2 * l2 - 1)))
    if l3 == abs(l1 - l2):  # includes the full contraction l1 = l2, l3 = 0
        ls = min(l1, l2)
        assert c == pytest.approx(f(ls) / dfact(2 * ls - 1))


def test_double_factorial():
    assert [reference.double_factorial(n) for n in range(-1, 10)] == [1, 1, 1, 2, 3, 8, 15, 48, 105, 384, 945]


# ---------------------------------------------------------------------------------------------
# Explicit per-path formulas (spec §1.3), ranks <= 3
# ---------------------------------------------------------------------------------------------


def _stf2(m):
    """``(M + M^T)/2 - delta tr(M)/3``."""
    sym = (m + m.transpose(-1, -2)) / 2
    return sym - torch.einsum("bmm,ij->bij", m, EYE) / 3


def _stf3(t, v):
    """``(T_ijk + T_jki + T_kij)/3 - (2/15)(delta_ij v_k + delta_jk v_i + delta_ki v_j)``."""
    cyclic = (t + torch.einsum("bjki->bijk", t) + torch.einsum("bkij->bijk", t)) / 3
    deltas = sum(torch.einsum(f"{s[:2]},b{s[2]}->bijk", EYE, v) for s in ("ijk", "jki", "kij"))
    return cyclic - 2 / 15 * deltas


def _scalar_factor(l):
    return lambda x, y: x * y.reshape(y.shape + (1,) * l)


# Formulas for l1 >= l2; the mirrored paths use the same formula with x and y swapped.
EXPLICIT = {
    (0, 0, 0): lambda x, y: x * y,
    (1, 1, 0): lambda x, y: torch.einsum("bi,bi->b", x, y),
    (2, 2, 0): lambda x, y: 2 / 3 * torch.einsum("bij,bij->b", x, y),
    (3, 3, 0): lambda x, y: 2 / 5 * torch.einsum("bijk,bijk->b", x, y),
    (1, 0, 1): _scalar_factor(1),
    (2, 1, 1): lambda x, y: torch.einsum("bij,bj->bi", x, y),
    (3, 2, 1): lambda x, y: 2 / 3 * torch.einsum("bijk,bjk->bi", x, y),
    (2, 0, 2): _scalar_factor(2),
    (1, 1, 2): lambda x, y: 1.5 * _stf2(torch.einsum("bi,bj->bij", x, y)),
    (2, 2, 2): lambda x, y: 2 * _stf2(x @ y),
    (3, 1, 2): lambda x, y: torch.einsum("bijk,bk->bij", x, y),
    (3, 3, 2): lambda x, y: 1.5 * _stf2(torch.einsum("bikl,bjkl->bij", x, y)),
    (3, 0, 3): _scalar_factor(3),
    (2, 1, 3): lambda x, y: 5 / 3 * _stf3(torch.einsum("bij,bk->bijk", x, y), torch.einsum("bim,bm->bi", x, y)),
    (3, 2, 3): lambda x, y: 5 / 2 * _stf3(torch.einsum("bijm,bmk->bijk", x, y), torch.einsum("bimn,bmn->bi", x, y)),
}


def explicit_product(x, l1, y, l2, l3):
    if l1 >= l2:
        return EXPLICIT[(l1, l2, l3)](x, y)
    return EXPLICIT[(l2, l1, l3)](y, x)


@pytest.mark.parametrize("path", brute_force_paths(3), ids=path_id)
def test_explicit_formulas(path, generator):
    l1, l2, l3 = path
    xc, yc = random_compressed(3, l1, generator), random_compressed(3, l2, generator)
    x, y = full(xc, l1), full(yc, l2)
    expected = explicit_product(x, l1, y, l2, l3)
    torch.testing.assert_close(reference.irreducible_product(x, l1, y, l2, l3), expected, **F64)
    torch.testing.assert_close(full(compressed.irreducible_product(xc, l1, yc, l2, l3), l3), expected, **F64)


# ---------------------------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "symmetric,total,per_l3,width", [(False, 23, [4, 6, 7, 6], 247), (True, 15, [4, 3, 5, 3], 139)], ids=["full", "sym"]
)
def test_path_counts(symmetric, total, per_l3, width):
    paths = even_paths(3, 3, 3, symmetric=symmetric)
    assert len(paths) == len(set(paths)) == total
    assert [sum(p[2] == l3 for p in paths) for l3 in range(4)] == per_l3
    assert sum(3 ** p[2] for p in paths) == width
    expected = {p for p in brute_force_paths(3) if not symmetric or p[0] >= p[1]}
    assert set(paths) == expected
    assert paths == sorted(paths, key=lambda p: (p[2], p[0], p[1]))


def test_even_paths_unequal_limits():
    paths = even_paths(2, 1, 3)
    assert set(paths) == {p for p in brute_force_paths(3) if p[0] <= 2 and p[1] <= 1}


INVALID = [(1, 1, 1), (2, 1, 2), (2, 2, 1), (3, 2, 2), (3, 3, 3), (1, 0, 0), (2, 0, 0), (1, 1, 4), (3, 0, 1), (0, 0, 2)]


@pytest.mark.parametrize("path", INVALID, ids=path_id)
def test_invalid_paths_raise(path):
    l1, l2, l3 = path
    with pytest.raises(ValueError):
        reference.coupling_constant(l1, l2, l3)
    with pytest.raises(ValueError):
        reference.irreducible_product(torch.zeros((2,) + (3,) * l1), l1, torch.zeros((2,) + (3,) * l2), l2, l3)
    with pytest.raises(ValueError):
        compressed.coupling_table(l1, l2, l3)
    with pytest.raises(ValueError):
        compressed.irreducible_product(torch.zeros(2, 2 * l1 + 1), l1, torch.zeros(2, 2 * l2 + 1), l2, l3)
