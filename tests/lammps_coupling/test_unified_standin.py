"""The ML-IAP unified adapter against a stand-in for LAMMPS's data object: equal to ICTPCalculator."""

import pickle

import numpy as np
import pytest
from lammps_helpers import CUTOFF, bpa_atoms, methanol_liquid
from standin import molecule_data, rank_data

from ictp_calc.calculator import ICTPCalculator
from ictp_calc.data.graph import species_indices
from ictp_calc.lammps import GhostSettingsError, ICTPUnified, UnknownTypeError
from ictp_calc.lammps.ghosts import prune_pairs

SKIN = 1.0
COMM = 2 * CUTOFF + SKIN  # two layers
TOLERANCE = {"float64": dict(rtol=1e-10, atol=1e-10), "float32": dict(rtol=2e-5, atol=2e-4)}


def _reference(model_file, atoms, dtype):
    calc = ICTPCalculator(model_file, device="cpu", dtype=dtype)
    atoms = atoms.copy()
    atoms.calc = calc
    virial = -atoms.get_stress(voigt=False) * atoms.get_volume() if atoms.pbc.all() else None
    return atoms.get_potential_energy(), atoms.get_potential_energies(), atoms.get_forces(), virial


def _run_ranks(unified, atoms, n_ranks, **kwargs):
    """Energy, per-atom energies, forces and virial summed over the ranks, as LAMMPS reduces them."""
    species = species_indices(atoms.numbers, (1, 6, 7, 8))
    energy, energies, forces, virial = 0.0, np.full(len(atoms), np.nan), np.zeros((len(atoms), 3)), np.zeros((3, 3))
    for rank in range(n_ranks):
        data = rank_data(atoms, species, CUTOFF, COMM, n_ranks, rank, **kwargs)
        unified.compute_forces(data)
        energy += data.energy
        energies[data.owner[: data.nlocal]] = data.eatoms
        forces += data.owner_forces(len(atoms))
        virial += data.virial
    return energy, energies, forces, virial


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n_ranks", [1, 2, 3])
def test_periodic_liquid_equals_calculator(model_file, dtype, n_ranks):
    atoms = methanol_liquid((2, 2, 3), seed=1)
    energy, energies, forces, virial = _run_ranks(ICTPUnified(model_file, dtype=dtype), atoms, n_ranks)
    ref_energy, ref_energies, ref_forces, ref_virial = _reference(model_file, atoms, dtype)
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(energy, ref_energy, **tol)
    np.testing.assert_allclose(energies, ref_energies, **tol)
    np.testing.assert_allclose(forces, ref_forces, **tol)
    np.testing.assert_allclose(virial, ref_virial, **tol)
    assert np.abs(ref_forces).max() > 0.1  # a test that could fail


def test_molecule_equals_calculator(model_file):
    atoms = bpa_atoms()
    if atoms is None:
        from ase.build import molecule

        atoms = molecule("CH3CONH2")
    atoms.rattle(0.02, seed=3)
    species = species_indices(atoms.numbers, (1, 6, 7, 8))
    data = molecule_data(atoms, species, CUTOFF)
    ICTPUnified(model_file).compute_forces(data)
    ref_energy, ref_energies, ref_forces, _ = _reference(model_file, atoms, "float64")
    np.testing.assert_allclose(data.energy, ref_energy, rtol=1e-12)
    np.testing.assert_allclose(data.eatoms, ref_energies, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(data.owner_forces(len(atoms)), ref_forces, rtol=1e-10, atol=1e-11)


def test_far_ghosts_are_pruned_without_changing_results(model_file):
    atoms = methanol_liquid((2, 2, 2), seed=2)
    species = species_indices(atoms.numbers, (1, 6, 7, 8))
    deep = rank_data(atoms, species, CUTOFF, COMM + 4.0)  # a ghost shell deeper than needed
    graph = prune_pairs(deep.nlocal, deep.ntotal, deep.pair_i, deep.pair_j, 2)
    assert graph.atoms.shape[0] < deep.ntotal and graph.pairs.shape[0] < deep.npairs
    assert (graph.depth[: deep.nlocal] == 0).all() and graph.depth.max() == 2
    ICTPUnified(model_file).compute_forces(deep)
    ref_energy, _, ref_forces, _ = _reference(model_file, atoms, "float64")
    np.testing.assert_allclose(deep.energy, ref_energy, rtol=1e-12)
    np.testing.assert_allclose(deep.owner_forces(len(atoms)), ref_forces, rtol=1e-10, atol=1e-10)


def test_skin_pairs_do_not_widen_the_ghost_shells(model_file):
    # LAMMPS lists pairs within cutoff + skin. Hops over the pairs beyond the cutoff would make each
    # layer run on a shell of ghosts one skin deeper; the pruned graph must be that of exact pairs.
    atoms = methanol_liquid((2, 2, 2), seed=6)
    species = species_indices(atoms.numbers, (1, 6, 7, 8))
    exact = rank_data(atoms, species, CUTOFF, COMM)
    listed = rank_data(atoms, species, CUTOFF + SKIN, COMM)  # same atoms, more pairs
    assert np.array_equal(exact.owner, listed.owner) and listed.npairs > exact.npairs
    reference = prune_pairs(exact.nlocal, exact.ntotal, exact.pair_i, exact.pair_j, 2)
    pruned = prune_pairs(listed.nlocal, listed.ntotal, listed.pair_i, listed.pair_j, 2, listed.rij, CUTOFF)
    np.testing.assert_array_equal(pruned.atoms, reference.atoms)
    np.testing.assert_array_equal(pruned.depth, reference.depth)
    assert pruned.pairs.shape == reference.pairs.shape
    assert (np.linalg.norm(listed.rij[pruned.pairs], axis=1) < CUTOFF).all()
    wide = prune_pairs(listed.nlocal, listed.ntotal, listed.pair_i, listed.pair_j, 2)
    assert wide.atoms.shape[0] > pruned.atoms.shape[0]  # what counting skin pairs would cost
    ICTPUnified(model_file).compute_forces(listed)
    ref_energy, _, ref_forces, ref_virial = _reference(model_file, atoms, "float64")
    np.testing.assert_allclose(listed.energy, ref_energy, rtol=1e-12)
    np.testing.assert_allclose(listed.owner_forces(len(atoms)), ref_forces, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(listed.virial, ref_virial, rtol=1e-10, atol=1e-10)


def test_ghosts_without_neighbor_lists_are_refused(model_file):
    atoms = methanol_liquid((2, 2, 2), seed=3)
    species = species_indices(atoms.numbers, (1, 6, 7, 8))
    data = rank_data(atoms, species, CUTOFF, COMM, ghost_neighbors=False)
    with pytest.raises(GhostSettingsError, match=r"pair_style mliap unified FILE 1"):
        ICTPUnified(model_file).compute_forces(data)
    assert data.n_force_calls == 0


def test_short_comm_cutoff_is_refused(model_file):
    atoms = methanol_liquid((3, 3, 3), seed=4)
    species = species_indices(atoms.numbers, (1, 6, 7, 8))
    short = rank_data(atoms, species, CUTOFF, CUTOFF + SKIN)  # LAMMPS's default comm cutoff
    with pytest.raises(GhostSettingsError, match=r"comm_modify cutoff.*at least 8 Å"):
        ICTPUnified(model_file).compute_forces(short)
    # What the check prevents: without it the forces come out wrong, silently.
    ICTPUnified(model_file, check_ghost_shell=False).compute_forces(short)
    _, _, ref_forces, _ = _reference(model_file, atoms, "float64")
    assert np.abs(short.owner_forces(len(atoms)) - ref_forces).max() > 1e-6  # float64 agrees to 1e-10


def test_null_types_are_refused(model_file):
    atoms = methanol_liquid((2, 2, 2), seed=5)
    species = species_indices(atoms.numbers, (1, 6, 7, 8))
    data = rank_data(atoms, species, CUTOFF, COMM)
    data.elems[atoms.numbers[data.owner] == 1] = -1
    with pytest.raises(UnknownTypeError, match="NULL"):
        ICTPUnified(model_file).compute_forces(data)


def test_lammps_attributes_and_pickle_round_trip(model_file, tmp_path):
    unified = ICTPUnified(model_file, dtype="float32")
    assert unified.element_types == ["H", "C", "N", "O"]
    assert unified.rcutfac == pytest.approx(CUTOFF / 2)
    assert unified.ndescriptors == 1 and unified.nparams == 1 and unified.comm_cutoff == 2 * CUTOFF
    path = tmp_path / "ictp.pkl"
    unified.save(path)
    with open(path, "rb") as handle:
        loaded = pickle.load(handle)
    assert loaded.element_types == unified.element_types and loaded.dtype == unified.dtype
    atoms = methanol_liquid((2, 2, 2), seed=6)
    first, second = _run_ranks(unified, atoms, 1), _run_ranks(loaded, atoms, 1)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="torch.load"):
        unified.save(tmp_path / "ictp.pt")


def test_each_layer_runs_on_the_atoms_that_need_it(model_file):
    atoms = methanol_liquid((3, 3, 3), seed=7)
    species = species_indices(atoms.numbers, (1, 6, 7, 8))
    data = rank_data(atoms, species, CUTOFF, COMM)
    unified = ICTPUnified(model_file)
    rows = []
    hooks = [layer.register_forward_hook(lambda m, args, out: rows.append((args[0].shape[0], out.shape[0])))
             for layer in unified.model.layers]
    unified.compute_forces(data)
    for hook in hooks:
        hook.remove()
    graph = prune_pairs(data.nlocal, data.ntotal, data.pair_i, data.pair_j, 2)
    n_first = int((graph.depth <= 1).sum())
    # Layer 1 updates the atoms within one hop, layer 2 only the owned atoms; hop-2 atoms only send.
    assert rows == [(graph.atoms.shape[0], n_first), (n_first, data.nlocal)]
    assert data.nlocal < n_first < graph.atoms.shape[0] < data.ntotal


def test_call_timings_add_up_and_print_only_when_asked(model_file, monkeypatch, capsys):
    atoms = methanol_liquid((2, 2, 2), seed=4)
    species = species_indices(atoms.numbers, (1, 6, 7, 8))
    registered = []
    monkeypatch.setattr("atexit.register", registered.append)
    monkeypatch.delenv("ICTP_LAMMPS_TIMINGS", raising=False)
    quiet = ICTPUnified(model_file)
    quiet.compute_forces(rank_data(atoms, species, CUTOFF, COMM))
    assert registered == []  # no summary at exit unless asked for
    assert quiet.seconds["model"] > 0 and quiet.seconds["prune"] > 0
    assert quiet.seconds["prune"] + quiet.seconds["model"] <= quiet.seconds["total"]
    monkeypatch.setenv("ICTP_LAMMPS_TIMINGS", "1")
    loud = ICTPUnified(model_file)
    assert registered == [loud._print_timings]
    for _ in range(2):
        loud.compute_forces(rank_data(atoms, species, CUTOFF, COMM))
    loud._print_timings()  # what happens at exit
    assert "ICTPUnified: 2 calls; per call prune" in capsys.readouterr().err
