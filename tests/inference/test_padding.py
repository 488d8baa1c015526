"""The padded, dense-layout graph: same numbers as the eager model, no compilation involved."""

import numpy as np
import pytest
import torch
from inference_helpers import CUTOFF, assert_close, batch_of, eager, max_in_degree, structures, tiny_model

from ictp_calc import keys
from ictp_calc.inference import Capacities, grow_capacity, pad_graph
from ictp_calc.inference.padding import unpad_outputs
from ictp_calc.nn.convolution import dense_slots, edge_layout


def test_grow_capacity_holds_the_need_in_steps():
    assert grow_capacity(10, 16) == 16  # fits: unchanged
    assert grow_capacity(17, 16, multiple=8) == 24  # 1.25 * 16 = 20, rounded up to 24
    assert grow_capacity(100, 16, multiple=8) == 104  # the need dominates
    for needed in range(1, 200, 7):
        cap = grow_capacity(needed, 0, multiple=8)
        assert cap >= needed and cap % 8 == 0 and cap - needed < 8
    caps = Capacities(8, 64, 4)
    assert caps.grown(8, 64, 4) is not None and caps.grown(8, 64, 4) == caps
    assert caps.grown(9, 10, 4) == Capacities(10, 64, 4)  # atoms: 1.25 * 8, not rounded up
    assert Capacities(0, 0, 0).grown(27, 438, 23) == Capacities(27, 448, 24)  # 3BPA: atoms exact


def test_dense_slots_place_each_edge_in_its_receivers_block():
    rng = np.random.default_rng(0)
    n, k = 7, 6
    receiver = np.concatenate([np.full(d, i) for i, d in enumerate(rng.integers(0, k + 1, n))])
    rng.shuffle(receiver)
    sender = rng.integers(0, n, receiver.size)
    slot, senders = dense_slots(torch.from_numpy(receiver), torch.from_numpy(sender), n, k)
    slot = slot.numpy()
    assert len(set(slot.tolist())) == receiver.size  # distinct slots
    assert np.array_equal(slot // k, receiver)  # inside the receiver's block
    flat = senders.reshape(-1).numpy()
    assert np.array_equal(flat[slot], sender)
    empty = np.setdiff1d(np.arange(n * k), slot)
    assert np.all(flat[empty] == n)


def test_chunked_layout_bounds_padding_and_slots():
    """The eager layout: every edge in its own slot, chunks within max_slots and min_fill."""
    rng = np.random.default_rng(3)
    receiver = torch.from_numpy(rng.integers(0, 300, 4000))
    edge_index = torch.stack([receiver, torch.from_numpy(rng.integers(0, 300, 4000))])
    layout = edge_layout(edge_index, 300, max_slots=256, min_fill=0.75)
    assert len(set(layout.slot_of_edge.tolist())) == 4000
    degree = torch.bincount(receiver, minlength=300)
    covered = 0
    for chunk in layout.chunks:
        nodes_degree = degree[chunk.nodes]
        assert chunk.s1 - chunk.s0 <= max(256, chunk.max_neighbors)
        assert int(nodes_degree.max()) <= chunk.max_neighbors
        assert float(nodes_degree.min()) >= 0.75 * chunk.max_neighbors or chunk.nodes.numel() == 1
        covered += chunk.nodes.numel()
    assert covered == 300


@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-10), ("float32", 1e-5)])
def test_padded_graph_equals_the_eager_model(dtype, rtol):
    model = tiny_model(dtype)
    atoms = structures()
    graph = batch_of(model, atoms, CUTOFF + 0.7)  # with a skin: edges beyond the cutoff are masked
    n_atoms, n_edges = graph[keys.SPECIES].shape[0], graph[keys.EDGE_INDEX].shape[1]
    caps = Capacities(n_atoms + 5, n_edges + 37, max_in_degree(graph) + 3)
    padded = unpad_outputs(eager(model, pad_graph(graph, caps)), n_atoms, len(atoms))
    reference = eager(model, graph)
    assert_close(padded, reference, rtol)
    periodic = 1  # the box: stress only where the cell has a volume
    assert torch.allclose(padded[keys.STRESS][periodic], reference[keys.STRESS][periodic], rtol=rtol, atol=0)


def test_capacities_too_small_raise():
    model = tiny_model()
    graph = batch_of(model, structures()[:1])
    with pytest.raises(ValueError, match="too small"):
        pad_graph(graph, Capacities(4, 8, 2))
