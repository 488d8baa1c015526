"""The fused, chunked convolution equals the direct per-edge sum, in value and derivatives."""

import pytest
import torch

from convolution_reference import reference_convolution

from ictp_calc.nn import convolution
from ictp_calc.nn.convolution import edge_layout, fused_convolution, stack_couplings
from ictp_calc.tensors import coupling_table, even_paths


def _problem(dtype, n_nodes=9, n_edges=40, l_in=2, l_edge=3, n_channels=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    paths = even_paths(l_in, l_edge, l_edge)
    tables = [coupling_table(*p, dtype=dtype) for p in paths]
    # Node n_nodes - 1 receives nothing; degrees differ, so chunks have different widths.
    receiver = torch.randint(0, n_nodes - 1, (n_edges,), generator=gen)
    sender = torch.randint(0, n_nodes, (n_edges,), generator=gen)
    inputs = [
        torch.randn(n_nodes, (l_in + 1) ** 2, n_channels, generator=gen, dtype=dtype),
        torch.randn(n_edges, len(paths), n_channels, generator=gen, dtype=dtype),
        torch.randn(n_edges, (l_edge + 1) ** 2, generator=gen, dtype=dtype),
    ]
    return paths, tables, torch.stack([receiver, sender]), [x.requires_grad_(True) for x in inputs]


def _fused(paths, tables, edge_index, h, radial, attrs, max_slots, min_fill=0.75):
    layout = edge_layout(edge_index, h.shape[0], max_slots=max_slots, min_fill=min_fill)
    zero = torch.zeros((), dtype=h.dtype)
    stacked = stack_couplings(paths, tables, 3)
    return fused_convolution(
        h, layout.to_slots(radial, zero), layout.to_slots(attrs, zero), paths, stacked, layout
    ), layout


@pytest.fixture(params=["fused", "autograd"])
def small_graph(request, monkeypatch):
    """Both evaluations of the chunked convolution: the fused function (every graph counts as
    large) and plain autograd (every graph counts as small)."""
    monkeypatch.setattr(convolution, "SMALL_GRAPH", 0 if request.param == "fused" else 1 << 40)
    return request.param


@pytest.mark.parametrize("max_slots, min_fill", [(1, 0.75), (12, 0.75), (4096, 0.75), (4096, 0.0)])
def test_fused_equals_reference_with_derivatives(dtype, tol, max_slots, min_fill, small_graph):
    paths, tables, edge_index, inputs = _problem(dtype)
    fused, layout = _fused(paths, tables, edge_index, *inputs, max_slots=max_slots, min_fill=min_fill)
    direct = reference_convolution(*inputs, paths, tables, edge_index)
    assert (min_fill == 0.0) == (len(layout.chunks) == 1)  # else split by slot budget or by degree
    torch.testing.assert_close(fused, direct, **tol)
    weight = torch.randn(direct.shape, generator=torch.Generator().manual_seed(3), dtype=dtype)
    grads_fused = torch.autograd.grad((fused * weight).sum(), inputs, create_graph=True)
    grads_direct = torch.autograd.grad((direct * weight).sum(), inputs, create_graph=True)
    for a, b in zip(grads_fused, grads_direct):
        torch.testing.assert_close(a, b, **tol)
    # Second derivatives (training differentiates forces): through the custom backward.
    second_fused = torch.autograd.grad(sum((g**2).sum() for g in grads_fused), inputs)
    second_direct = torch.autograd.grad(sum((g**2).sum() for g in grads_direct), inputs)
    for a, b in zip(second_fused, second_direct):
        torch.testing.assert_close(a, b, rtol=tol["rtol"] * 10, atol=tol["atol"] * 100)


@pytest.mark.parametrize("max_slots", [1, 12, 4096])
def test_fewer_receivers_than_senders_gives_their_rows(dtype, tol, max_slots, small_graph):
    # As in LAMMPS: only the first atoms receive, every atom sends. The output has the receivers'
    # rows only, equal to those of the full convolution, and so are the gradients.
    paths, tables, edge_index, (h, radial, attrs) = _problem(dtype, n_nodes=12, n_edges=60)
    n_receivers = 5
    keep = edge_index[0] < n_receivers
    sub_index, sub_radial, sub_attrs = edge_index[:, keep], radial[keep], attrs[keep]
    layout = edge_layout(sub_index, n_receivers, max_slots=max_slots, n_senders=h.shape[0])
    assert layout.n_nodes == n_receivers and layout.n_senders == h.shape[0]
    assert (layout.sender_of_slot <= h.shape[0]).all()
    zero = torch.zeros((), dtype=dtype)
    stacked = stack_couplings(paths, tables, 3)
    out = fused_convolution(
        h, layout.to_slots(sub_radial, zero), layout.to_slots(sub_attrs, zero), paths, stacked, layout
    )
    direct = reference_convolution(h, radial, attrs, paths, tables, edge_index)
    assert out.shape[0] == n_receivers
    torch.testing.assert_close(out, direct[:n_receivers], **tol)
    weight = torch.randn(out.shape, generator=torch.Generator().manual_seed(3), dtype=dtype)
    (grad_h,) = torch.autograd.grad((out * weight).sum(), h)
    (expected,) = torch.autograd.grad((direct[:n_receivers] * weight).sum(), h)
    torch.testing.assert_close(grad_h, expected, **tol)


def test_layout_places_every_edge_once_and_pads_with_sentinels():
    _, _, edge_index, (h, _, _) = _problem(torch.float64)
    layout = edge_layout(edge_index, h.shape[0], max_slots=12)
    slots = layout.slot_of_edge
    assert slots.unique().numel() == slots.numel() == edge_index.shape[1]
    torch.testing.assert_close(layout.sender_of_slot[slots], edge_index[1])
    padding = torch.ones(layout.n_slots, dtype=torch.bool)
    padding[slots] = False
    assert (layout.sender_of_slot[padding] == h.shape[0]).all()
    # Each receiver's edges fall inside the block of its chunk; padding stays bounded by min_fill.
    for chunk in layout.chunks:
        degrees = torch.bincount(edge_index[0], minlength=h.shape[0])[chunk.nodes]
        if degrees.max() > 0:  # receivers without edges still get one (padding) slot
            assert degrees.max() == chunk.max_neighbors
            assert (degrees >= 0.75 * chunk.max_neighbors).all()
        inside = (slots >= chunk.s0) & (slots < chunk.s1)
        assert set(edge_index[0][inside].tolist()) <= set(chunk.nodes.tolist())
    assert sorted(torch.cat([c.nodes for c in layout.chunks]).tolist()) == list(range(h.shape[0]))


def test_receivers_without_edges_share_chunks():
    """Edgeless receivers (LAMMPS's outer ghosts, isolated atoms) fill chunks up to max_slots.

    Each used to get a chunk of its own: 10,000 chunks for a box of 8,000 atoms in LAMMPS.
    """
    receiver = torch.arange(10).repeat_interleave(3)
    edge_index = torch.stack([receiver, (receiver + 1) % 10])
    layout = edge_layout(edge_index, 5010, max_slots=4096)
    assert len(layout.chunks) == 3  # the 10 receivers with edges, then 5000 without in 2 chunks
    assert [c.nodes.numel() for c in layout.chunks] == [10, 4096, 904]
    assert sorted(torch.cat([c.nodes for c in layout.chunks]).tolist()) == list(range(5010))


def test_no_edges_gives_zeros():
    paths, tables, _, (h, radial, attrs) = _problem(torch.float64)
    empty = torch.zeros(2, 0, dtype=torch.long)
    out, _ = _fused(paths, tables, empty, h, radial[:0], attrs[:0], max_slots=64)
    assert out.shape == (h.shape[0], sum(2 * p[2] + 1 for p in paths), h.shape[-1])
    assert (out == 0).all()


def test_fused_output_layer_equals_explicit_radial_weights(dtype, tol, small_graph):
    """``radial_weight``: the radial MLP's output layer applied inside, chunk by chunk."""
    paths, tables, edge_index, (h, radial, attrs) = _problem(dtype)
    gen = torch.Generator().manual_seed(7)
    hidden = torch.randn(radial.shape[0], 6, generator=gen, dtype=dtype, requires_grad=True)
    weight = torch.randn(radial.shape[1] * radial.shape[2], 6, generator=gen, dtype=dtype, requires_grad=True)
    layout = edge_layout(edge_index, h.shape[0], max_slots=12)
    zero = torch.zeros((), dtype=dtype)
    stacked = stack_couplings(paths, tables, 3)
    fused = fused_convolution(
        h, layout.to_slots(hidden, zero), layout.to_slots(attrs, zero), paths, stacked, layout, weight
    )
    explicit = (hidden @ weight.T).view(radial.shape)
    direct = reference_convolution(h, explicit, attrs, paths, tables, edge_index)
    torch.testing.assert_close(fused, direct, **tol)
    inputs = (h, hidden, weight, attrs)
    probe = torch.randn(direct.shape, generator=gen, dtype=dtype)
    first = [torch.autograd.grad((out * probe).sum(), inputs, create_graph=True) for out in (fused, direct)]
    # Each gradient entry sums products over every output and edge, in a different order in the two
    # implementations: its absolute rounding error grows with that sum (1e-5 was hit in float32).
    for a, b in zip(*first):
        torch.testing.assert_close(a, b, rtol=tol["rtol"], atol=tol["atol"] * 10)
    second = [torch.autograd.grad(sum((g**2).sum() for g in grads), inputs) for grads in first]
    for a, b in zip(*second):
        torch.testing.assert_close(a, b, rtol=tol["rtol"] * 10, atol=tol["atol"] * 100)


def test_force_pass_with_frozen_radial_weights_equals_reference(dtype, tol, small_graph):
    """Frozen radial weights (inference): first derivatives, not differentiated again."""
    paths, tables, edge_index, (h, radial, attrs) = _problem(dtype)
    gen = torch.Generator().manual_seed(5)
    hidden = torch.randn(radial.shape[0], 6, generator=gen, dtype=dtype, requires_grad=True)
    weight = torch.randn(radial.shape[1] * radial.shape[2], 6, generator=gen, dtype=dtype)  # frozen
    layout = edge_layout(edge_index, h.shape[0], max_slots=12)
    zero = torch.zeros((), dtype=dtype)
    fused = fused_convolution(
        h, layout.to_slots(hidden, zero), layout.to_slots(attrs, zero), paths, stack_couplings(paths, tables, 3),
        layout, weight,
    )
    direct = reference_convolution(h, (hidden @ weight.T).view(radial.shape), attrs, paths, tables, edge_index)
    probe = torch.randn(direct.shape, generator=gen, dtype=dtype)
    inputs = (h, hidden, attrs)
    for a, b in zip(*[torch.autograd.grad((out * probe).sum(), inputs) for out in (fused, direct)]):
        torch.testing.assert_close(a, b, rtol=tol["rtol"], atol=tol["atol"] * 10)


def test_large_graphs_keep_no_per_slot_tensors(monkeypatch):
    """Above SMALL_GRAPH elements of per-slot radial weights the fused function runs: autograd
    holds only its inputs (the large-system memory advantage); small graphs use plain autograd."""
    paths, tables, edge_index, (h, radial, attrs) = _problem(torch.float64)
    n_elements = edge_index.shape[1] * radial.shape[1] * radial.shape[2]
    for budget, fused in ((n_elements // 2, True), (100 * n_elements, False)):
        monkeypatch.setattr(convolution, "SMALL_GRAPH", budget)
        out, _ = _fused(paths, tables, edge_index, h, radial, attrs, max_slots=4096, min_fill=0.0)
        assert ("FusedConvolution" in type(out.grad_fn).__name__) == fused
