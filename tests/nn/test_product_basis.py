"""The product basis equals a textbook evaluation on full Cartesian tensors (spec §2.5)."""

import pytest
import torch

from ictp_calc.nn import ProductBasis
from ictp_calc.tensors import from_cartesian, rank_slice, reference, to_cartesian


def textbook_product_basis(module: ProductBasis, a: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
    """``Q^(1) = A``, ``Q^(k),l3 = [(Q^(k-1),l1[s] (x) A^l2)_l3 for l1, path, s]`` with the irreducible
    products of :mod:`ictp_calc.tensors.reference`; ``B^l = sum_k sum_s W[z, u, s] Q^(k),l[u, s]``.

    Sub-paths are ordered as the module orders its weights: by l1, then path, then sub-path.
    ``a [N, D_e, P]`` -> ``[N, (l_out+1)^2, P]``.
    """
    a = a.double().transpose(1, 2)  # [N, P, D_e]
    full = {l: to_cartesian(a[..., rank_slice(l)], l) for l in range(module.l_edge + 1)}  # [N, P, 3, ...]
    q = {l: [t] for l, t in full.items()}  # rank -> list of sub-path tensors
    steps = [q]
    for paths in module.steps:
        new = {}
        for l1 in sorted({p[0] for p in paths}):
            for _, l2, l3 in [p for p in paths if p[0] == l1]:
                for x in q.get(l1, []):
                    new.setdefault(l3, []).append(reference.irreducible_product(x, l1, full[l2], l2, l3))
        q = new
        steps.append(q)
    out = []
    for l in range(module.l_out + 1):
        total = 0.0
        for k, q in enumerate(steps):
            if not q.get(l):
                continue
            stacked = torch.stack([from_cartesian(x, l) for x in q[l]], dim=2)  # [N, P, s, 2l+1]
            weight = module.weights[k * (module.l_out + 1) + l].double()[species]  # [N, P, s]
            total = total + torch.einsum("nusc,nus->nuc", stacked, weight)
        out.append(total)
    return torch.cat(out, dim=-1).transpose(1, 2)


@pytest.mark.parametrize("l_edge, l_out, correlation", [(2, 1, 3), (2, 0, 3), (3, 2, 3), (1, 1, 4)])
def test_product_basis_equals_textbook_evaluation(dtype, tol, l_edge, l_out, correlation):
    gen = torch.Generator().manual_seed(l_edge * 10 + l_out)
    module = ProductBasis(5, 3, l_edge, l_out, correlation).to(dtype)
    with torch.no_grad():
        for w in module.weights:
            w.copy_(torch.randn(w.shape, generator=gen, dtype=torch.float64))
    a = torch.randn(7, (l_edge + 1) ** 2, 5, generator=gen, dtype=dtype, requires_grad=True)
    species = torch.randint(0, 3, (7,), generator=gen)
    out = module(a, species)
    expected = textbook_product_basis(module, a, species)
    torch.testing.assert_close(out, expected.to(dtype), **tol)
    # Derivatives (forces go through them): against the textbook evaluation's, by autograd.
    probe = torch.randn(out.shape, generator=gen, dtype=dtype)
    (grad,) = torch.autograd.grad((out * probe).sum(), a)
    (expected_grad,) = torch.autograd.grad((expected * probe.double()).sum(), a)
    torch.testing.assert_close(grad, expected_grad.to(dtype), **tol)
