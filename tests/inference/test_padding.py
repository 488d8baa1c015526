"""The padded, bucketed-layout graph: same numbers as the eager model, no compilation involved."""

import numpy as np
import pytest
import torch
from inference_helpers import CUTOFF, assert_close, batch_of, eager, structures, tiny_model

from ictp_calc import keys
from ictp_calc.inference import Capacities, grow_capacity, in_degrees, pad_graph, plan_buckets
from ictp_calc.inference.padding import unpad_outputs
from ictp_calc.nn.convolution import bucket_slots, edge_layout, edge_pairs


# In-degrees within 5 Å of the hand-built 3BPA of benchmarks/bench_model.py, sorted: an input with a
# molecule's spread of degrees (heavy atoms 17-23, hydrogens 10-15).
BPA_DEGREES = [23, 22, 22, 22, 20, 20, 19, 18, 18, 18, 18, 17, 17, 16, 15, 15, 15, 15, 14, 14, 14]
BPA_DEGREES += [12, 12, 12, 10, 10, 10]


def test_grow_capacity_holds_the_need_in_steps():
    assert grow_capacity(10, 16) == 16  # fits: unchanged
    assert grow_capacity(17, 16, multiple=8) == 24  # 1.25 * 16 = 20, rounded up to 24
    assert grow_capacity(100, 16, multiple=8) == 104  # the need dominates
    for needed in range(1, 200, 7):
        cap = grow_capacity(needed, 0, multiple=8)
        assert cap >= needed and cap % 8 == 0 and cap - needed < 8


def test_buckets_follow_the_degrees_and_grow_in_steps():
    # 23 -> atoms down to 17.25 (11), 17 -> down to 12.75 (10), 12 -> the rest (6); widths: the
    # degree + max(2, 10 %), rounded up to even (23 + 3 = 26, 17 + 2 = 19 -> 20, 12 + 2 = 14).
    assert plan_buckets(BPA_DEGREES) == ((11, 26), (10, 20), (6, 14))
    caps = Capacities(0, 0).grown(27, 438, BPA_DEGREES)
    assert caps == Capacities(27, 448, ((11, 26), (10, 20), (6, 14))) and caps.n_slots == 570  # not 27 x 26
    assert caps.grown(27, 440, BPA_DEGREES) is caps and caps.holds(BPA_DEGREES)
    # Two neighbors more for the second bucket's widest atom: within the headroom.
    assert caps.grown(27, 440, BPA_DEGREES[:11] + [19] + BPA_DEGREES[12:]) is caps
    # Four more: that bucket alone widens, by 25 % (20 -> 25 -> 26).
    wider = BPA_DEGREES[:11] + [21] + BPA_DEGREES[12:]
    assert not caps.holds(wider) and caps.grown(27, 440, wider).buckets == ((11, 26), (10, 26), (6, 14))
    # More atoms: planned again; padding atoms (no edges) share the last bucket.
    assert Capacities(0, 0).grown(5, 9, [3, 3, 2]).buckets == ((2, 6), (1, 4), (2, 2))
    grown = caps.grown(28, 450, BPA_DEGREES + [5])
    assert grown.n_atoms == 34 and sum(c for c, _ in grown.buckets) == 34  # 1.25 x 27, not rounded
    # At most MAX_BUCKETS: the last takes the rest.
    assert plan_buckets([64, 32, 16, 8, 4, 2, 1]) == ((1, 72), (1, 36), (1, 18), (4, 10))
    assert plan_buckets([0, 0, 0]) == ((3, 2),)  # no edges at all
    # Pairs of edges grow like the edges, in multiples of 32.
    assert Capacities(0, 0).grown(27, 438, BPA_DEGREES, 219).n_pairs == 224
    with_pairs = caps.grown(27, 438, BPA_DEGREES, 219)
    assert with_pairs.grown(27, 438, BPA_DEGREES, 230).n_pairs == 288  # 1.25 x 224 = 280 -> 288


def test_edge_pairs_join_each_edge_with_its_reverse():
    model = tiny_model()
    graph = batch_of(model, structures(), CUTOFF + 0.7)  # molecule, periodic box, mixed pbc
    edge_index, shifts = graph[keys.EDGE_INDEX], graph[keys.CELL_SHIFTS]
    pair, edge = edge_pairs(edge_index, shifts)
    n_edges = edge_index.shape[1]
    assert 2 * edge.shape[0] == n_edges  # a full neighbor list: every pair holds two edges
    assert torch.equal(torch.bincount(pair), torch.full((edge.shape[0],), 2))
    assert torch.equal(pair[edge], torch.arange(edge.shape[0]))  # each pair's edge belongs to it
    # The two edges of a pair: i <- j with shift S and j <- i with -S.
    first = torch.full((edge.shape[0],), -1).scatter_reduce(0, pair, torch.arange(n_edges), "amax")
    second = torch.full((edge.shape[0],), n_edges).scatter_reduce(0, pair, torch.arange(n_edges), "amin")
    assert torch.equal(edge_index[:, first], edge_index[:, second].flip(0))
    assert torch.equal(shifts[first], -shifts[second])
    assert bool((shifts[first] != 0).any()) and bool((edge_index[0, first] == edge_index[1, first]).any())
    # Shifts too large to key a row by one int64: the row-wise unique pairs the edges alike.
    wide = edge_pairs(edge_index, shifts * 2**21)
    assert torch.equal(wide[0], pair) and torch.equal(wide[1], edge)
    # A half list: no edge has its reverse, so each forms a pair alone.
    half = (edge_index[0] < edge_index[1]).nonzero().squeeze(1)
    pair, edge = edge_pairs(edge_index[:, half], shifts[half])
    assert torch.equal(torch.sort(pair).values, torch.arange(half.numel())) and edge.shape[0] == half.numel()


def test_bucket_slots_place_each_edge_in_its_receivers_block():
    rng = np.random.default_rng(0)
    n = 9
    degree = rng.integers(0, 8, n)
    receiver = np.concatenate([np.full(d, i) for i, d in enumerate(degree)])
    rng.shuffle(receiver)
    sender = rng.integers(0, n, receiver.size)
    buckets = plan_buckets(sorted(degree.tolist(), reverse=True))
    slot, order, tables = bucket_slots(torch.from_numpy(receiver), torch.from_numpy(sender), n, buckets)
    slot, order = slot.numpy(), order.numpy()
    assert sorted(order.tolist()) == list(range(n)) and np.all(np.diff(degree[order]) <= 0)  # by degree
    # Expected block of each node: buckets in turn, nodes in sorted order, width slots each.
    first, width, s = np.empty(n, int), np.empty(n, int), 0
    for (c, k), nodes in zip(buckets, np.split(order, np.cumsum([c for c, _ in buckets])[:-1])):
        for node in nodes:
            first[node], width[node], s = s, k, s + k
    assert [tuple(t.shape) for t in tables] == list(buckets)
    assert len(set(slot.tolist())) == receiver.size  # distinct slots
    assert np.all((slot >= first[receiver]) & (slot < first[receiver] + width[receiver]))
    flat = torch.cat([t.reshape(-1) for t in tables]).numpy()
    assert np.array_equal(flat[slot], sender)
    empty = np.setdiff1d(np.arange(s), slot)
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
    degrees = in_degrees(graph, n_atoms) + [0] * 5
    n_pairs = edge_pairs(graph[keys.EDGE_INDEX], graph[keys.CELL_SHIFTS])[1].shape[0]
    caps = Capacities(n_atoms + 5, n_edges + 37, tuple((c, k + 3) for c, k in plan_buckets(degrees)), n_pairs + 11)
    padded = unpad_outputs(eager(model, pad_graph(graph, caps)), n_atoms, len(atoms))
    reference = eager(model, graph)
    assert_close(padded, reference, rtol)
    periodic = 1  # the box: stress only where the cell has a volume
    assert torch.allclose(padded[keys.STRESS][periodic], reference[keys.STRESS][periodic], rtol=rtol, atol=0)


def test_capacities_too_small_raise():
    model = tiny_model()
    graph = batch_of(model, structures()[:1])
    with pytest.raises(ValueError, match="too small"):
        pad_graph(graph, Capacities(4, 8, ((4, 2),)))
