"""Reading labelled extxyz (both conventions), E0 handling, splits and batching."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from training_helpers import emt_structures, write_dataset, write_e0

from ictp_calc import keys
from ictp_calc.data.dataset import (
    DatasetError,
    GraphDataset,
    MissingE0Error,
    MissingLabelsError,
    fit_atomic_energies,
    read_atomic_energies,
    read_labelled,
    split_indices,
)
from ictp_calc.training import DataConfig
from ictp_calc.training.data_setup import prepare_data


def test_both_extxyz_conventions_give_the_same_labels(tmp_path):
    structures = emt_structures(4, seed=11)
    by_calc = read_labelled(str(write_dataset(tmp_path / "calc.xyz", structures, "calculator")))
    by_keys = read_labelled(
        str(write_dataset(tmp_path / "keys.xyz", structures, "keys")), energy_key="REF_energy", forces_key="REF_forces"
    )
    for original, a, b in zip(structures, by_calc, by_keys):
        assert a.calc.results["energy"] == pytest.approx(original.calc.results["energy"], rel=1e-12)
        assert b.calc.results["energy"] == pytest.approx(original.calc.results["energy"], rel=1e-12)
        np.testing.assert_allclose(a.calc.results["forces"], original.calc.results["forces"], rtol=1e-7, atol=1e-8)
        np.testing.assert_array_equal(a.calc.results["forces"], b.calc.results["forces"])


def test_file_without_labels_is_a_clear_error(tmp_path):
    path = tmp_path / "bare.xyz"
    write(path, [Atoms("CuAl", positions=[[0, 0, 0], [0, 0, 2.5]])], format="extxyz")
    with pytest.raises(MissingLabelsError, match="no structure has an energy"):
        read_labelled(str(path))
    # Named keys that are absent: the message lists what the file does have.
    labelled = write_dataset(tmp_path / "keys.xyz", emt_structures(2), "keys")
    with pytest.raises(MissingLabelsError, match="REF_forces"):
        read_labelled(str(labelled))


def test_partially_labelled_structures_get_nan(tmp_path):
    structures = emt_structures(2, seed=4)
    bare = Atoms(numbers=structures[1].numbers, positions=structures[1].positions)
    path = tmp_path / "mixed.xyz"
    write(path, [structures[0], bare], format="extxyz")
    dataset = GraphDataset(read_labelled(str(path)), (13, 29), 3.5, torch.float64)
    assert torch.isfinite(dataset.graphs[0][keys.REF_ENERGY]).all()
    assert torch.isnan(dataset.graphs[1][keys.REF_ENERGY]).all()
    assert torch.isnan(dataset.graphs[1][keys.REF_FORCES]).all()


def test_e0_from_file_and_missing_elements(tmp_path):
    e0_file = write_e0(tmp_path / "e0.xyz", {29: -0.5, 13: -0.25})
    assert read_atomic_energies(str(e0_file)) == {29: -0.5, 13: -0.25}
    data = write_dataset(tmp_path / "data.xyz", emt_structures(10))
    prepared = prepare_data(DataConfig(train_file=str(data), e0_file=str(e0_file), n_valid=2))
    assert prepared.atomic_numbers == (13, 29) and prepared.e0 == (-0.25, -0.5)
    only_cu = write_e0(tmp_path / "cu.xyz", {29: -0.5})
    with pytest.raises(MissingE0Error, match="Al"):
        prepare_data(DataConfig(train_file=str(data), e0_file=str(only_cu), n_valid=2))


def test_e0_by_regression_recovers_per_element_energies():
    rng = np.random.default_rng(0)
    true = {1: -13.6, 8: -2042.0, 6: -1029.5}
    structures = []
    for _ in range(12):
        numbers = rng.choice(list(true), size=rng.integers(2, 7))
        atoms = Atoms(numbers=numbers, positions=rng.normal(size=(len(numbers), 3)))
        atoms.calc = SinglePointCalculator(atoms, energy=sum(true[int(z)] for z in numbers))
        structures.append(atoms)
    fitted = fit_atomic_energies(structures, (1, 6, 8))
    assert fitted == pytest.approx((true[1], true[6], true[8]), abs=1e-8)


def test_e0_regression_or_zero_without_file(tmp_path):
    data = write_dataset(tmp_path / "data.xyz", emt_structures(10))
    fitted = prepare_data(DataConfig(train_file=str(data), n_valid=2))
    assert "least-squares" in fitted.e0_source and any(v != 0 for v in fitted.e0)
    zero = prepare_data(DataConfig(train_file=str(data), n_valid=2, e0_regression=False))
    assert zero.e0 == (0.0, 0.0)


def test_split_is_reproducible_disjoint_and_seed_dependent():
    train, valid = split_indices(100, 45, 5, seed=3)
    assert (train, valid) == split_indices(100, 45, 5, seed=3)
    assert len(train) == 45 and len(valid) == 5 and not set(train) & set(valid)
    assert split_indices(100, 45, 5, seed=4) != (train, valid)
    assert len(split_indices(100, None, 10, seed=0)[0]) == 90
    with pytest.raises(DatasetError, match="cannot split"):
        split_indices(10, 8, 5, seed=0)


def test_prepared_split_uses_the_seed(tmp_path):
    data = write_dataset(tmp_path / "data.xyz", emt_structures(12))
    a = prepare_data(DataConfig(train_file=str(data), n_train=8, n_valid=4, seed=2))
    b = prepare_data(DataConfig(train_file=str(data), n_train=8, n_valid=4, seed=2))
    assert a.summary["valid_indices"] == b.summary["valid_indices"]
    assert [x.positions.tolist() for x in a.valid] == [x.positions.tolist() for x in b.valid]
    c = prepare_data(DataConfig(train_file=str(data), n_train=8, n_valid=4, seed=5))
    assert c.summary["valid_indices"] != a.summary["valid_indices"]


def test_separate_validation_file(tmp_path):
    train = write_dataset(tmp_path / "train.xyz", emt_structures(6, seed=1))
    valid = write_dataset(tmp_path / "valid.xyz", emt_structures(3, seed=2))
    prepared = prepare_data(DataConfig(train_file=str(train), valid_file=str(valid)))
    assert len(prepared.train) == 6 and len(prepared.valid) == 3
    assert prepared.summary["valid_file"] == "valid.xyz"


def test_batches_shuffle_from_the_generator_only(tmp_path):
    dataset = GraphDataset(emt_structures(7, seed=9), (13, 29), 3.5, torch.float64)

    def energies(seed):
        generator = torch.Generator().manual_seed(seed)
        batches = dataset.batches(2, shuffle=True, generator=generator, drop_last=True)
        return [b[keys.REF_ENERGY].tolist() for b in batches]

    assert energies(0) == energies(0) and energies(0) != energies(1)
    assert len(energies(0)) == 3 == dataset.n_batches(2, drop_last=True)
    batch = next(dataset.batches(3))
    assert batch[keys.REF_FORCES].shape == (int(batch[keys.N_ATOMS].sum()), 3)
    assert batch[keys.REF_ENERGY].shape == (3,) and batch[keys.REF_STRESS].shape == (3, 3, 3)
