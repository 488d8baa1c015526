"""The edges the calculator feeds the model, with and without a Verlet skin, and the reuse rules."""

import numpy as np
import pytest
from ase.neighborlist import neighbor_list as ase_neighbor_list
from calc_helpers import CUTOFF, ForwardCounter, geometries, triclinic_atoms

from ictp_calc import keys
from ictp_calc.calculator import ICTPCalculator
from ictp_calc.data.neighbor_cache import NeighborCache

GEOMETRIES = dict(geometries())


def _edge_set(receiver, sender, shifts):
    return {(int(i), int(j), tuple(int(s) for s in shift)) for i, j, shift in zip(receiver, sender, shifts)}


def _model_edges(calc, atoms):
    """Edges of the graph the model received, and their lengths (Å)."""
    counter = ForwardCounter(calc.model)
    atoms.calc = calc
    atoms.get_potential_energy()
    counter.remove()
    graph = counter.graph
    receiver, sender = graph[keys.EDGE_INDEX].numpy()
    shifts = graph[keys.CELL_SHIFTS].numpy()
    assert np.array_equal(shifts, np.round(shifts))
    lengths = np.linalg.norm(atoms.positions[receiver] - atoms.positions[sender] - shifts @ atoms.cell.array, axis=1)
    return _edge_set(receiver, sender, shifts), len(receiver), lengths


@pytest.mark.parametrize("name", list(GEOMETRIES))
def test_edges_equal_ase_neighbor_list(model, name):
    atoms = GEOMETRIES[name].copy()
    edges, n_edges, _ = _model_edges(ICTPCalculator(model, device="cpu"), atoms)
    expected = _edge_set(*ase_neighbor_list("ijS", atoms, CUTOFF))
    assert n_edges == len(edges), "duplicate edges"
    assert edges == expected
    assert (n_edges == 0) == (name == "single_atom")
    if name == "self_images":
        # 2.3 Å cube, 4 Å cutoff: faces (2.3 Å), face diagonals (3.25 Å), body diagonals (3.98 Å)
        assert n_edges == 6 + 12 + 8


@pytest.mark.parametrize("name", ["molecule", "triclinic", "slab", "self_images"])
def test_skin_list_is_the_list_at_cutoff_plus_skin(model, name):
    atoms = GEOMETRIES[name].copy()
    skin = 0.7
    edges, _, lengths = _model_edges(ICTPCalculator(model, device="cpu", skin=skin), atoms)
    assert edges == _edge_set(*ase_neighbor_list("ijS", atoms, CUTOFF + skin))
    if name != "molecule":
        assert lengths.max() > CUTOFF, "the skin should add edges beyond the cutoff here"


def _cache_inputs():
    atoms = triclinic_atoms()
    return atoms.positions.copy(), atoms.cell.array.copy(), atoms.pbc.copy(), atoms.numbers.copy()


def test_cache_reuses_within_half_skin():
    positions, cell, pbc, numbers = _cache_inputs()
    cache = NeighborCache(CUTOFF, skin=0.4)
    first = cache.update(positions, cell, pbc, numbers)
    assert cache.n_builds == 1 and cache.rebuilt
    moved = positions.copy()
    moved[3] += [0.199, 0.0, 0.0]
    moved[5] -= [0.0, 0.1, 0.15]  # |d| = 0.18 < 0.2
    positions[...] = np.nan  # the cache must keep its own copy of the reference positions
    assert cache.update(moved, cell, pbc, numbers) is first
    assert cache.n_builds == 1 and not cache.rebuilt
    moved[3] += [0.002, 0.0, 0.0]  # 0.201 Å from the build position: more than skin / 2
    cache.update(moved, cell, pbc, numbers)
    assert cache.n_builds == 2 and cache.rebuilt


@pytest.mark.parametrize("change", ["cell", "pbc", "numbers", "n_atoms"])
def test_cache_rebuilds_on_structure_change(change):
    positions, cell, pbc, numbers = _cache_inputs()
    cache = NeighborCache(CUTOFF, skin=1.0)
    cache.update(positions, cell, pbc, numbers)
    if change == "cell":
        cell = cell * (1 + 1e-9)
    elif change == "pbc":
        pbc = np.array([True, True, False])
    elif change == "numbers":
        numbers = numbers.copy()
        numbers[0] = 8 if numbers[0] != 8 else 1
    else:
        positions, numbers = positions[:-1], numbers[:-1]
    cache.update(positions, cell, pbc, numbers)
    assert cache.n_builds == 2


def test_cache_without_skin_always_rebuilds():
    positions, cell, pbc, numbers = _cache_inputs()
    cache = NeighborCache(CUTOFF)
    for _ in range(3):
        cache.update(positions, cell, pbc, numbers)
    assert cache.n_builds == 3


@pytest.mark.parametrize("skin", [-0.1, float("nan")])
def test_cache_rejects_bad_skin(skin):
    with pytest.raises(ValueError, match="skin"):
        NeighborCache(CUTOFF, skin=skin)


def test_check_state_reports_what_ase_reports(model):
    """The calculator's exact comparison names the same changes as ASE's ``compare_atoms``."""
    from ase.calculators.calculator import compare_atoms

    atoms = triclinic_atoms()
    calc = ICTPCalculator(model, device="cpu")
    atoms.calc = calc
    atoms.get_potential_energy()
    changes = {
        "nothing": lambda a: None,
        "positions": lambda a: a.positions.__setitem__((2, 1), a.positions[2, 1] + 1e-9),
        "numbers": lambda a: a.numbers.__setitem__(0, 8 if a.numbers[0] != 8 else 7),
        "cell": lambda a: a.set_cell(a.cell.array * 1.001),
        "pbc": lambda a: a.set_pbc([True, False, True]),
        "ignored charges": lambda a: a.set_initial_charges(np.arange(len(a), dtype=float)),
        "new magmoms": lambda a: a.set_initial_magnetic_moments(np.ones(len(a))),
    }
    for name, change in changes.items():
        other = atoms.copy()
        change(other)
        expected = compare_atoms(calc.atoms, other, excluded_properties=set(calc.ignored_changes))
        assert sorted(calc.check_state(other)) == sorted(expected), name
    assert sorted(ICTPCalculator(model, device="cpu").check_state(atoms)) == sorted(compare_atoms(None, atoms))
    # A change takes effect: the energy after moving an atom is recomputed.
    before = atoms.get_potential_energy()
    atoms.positions[0, 0] += 0.05
    assert atoms.get_potential_energy() != before
