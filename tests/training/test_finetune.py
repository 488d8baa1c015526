"""Fine-tuning (``init_from``): a run starts from a model file's weights, keeps its architecture and
energy reference, and lowers the model's error on the new data."""

import dataclasses

import pytest
import torch
from training_helpers import TINY_MODEL, emt_structures, tiny_run, write_dataset, write_e0

from ictp_calc.data import compute_statistics
from ictp_calc.io import file_checksum, load_model, save_model
from ictp_calc.model import ModelConfig, build_model
from ictp_calc.training import ArchitectureMismatchError, evaluate_file, train

E0 = {13: -0.1, 29: -0.2}


@pytest.fixture(scope="module")
def base_model(tmp_path_factory):
    """A seeded tiny Cu/Al model fitted to nothing: its statistics come from other EMT clusters."""
    root = tmp_path_factory.mktemp("base")
    config = ModelConfig(atomic_numbers=(13, 29), atomic_energies=(0.3, 0.4), **TINY_MODEL)
    statistics = compute_statistics(emt_structures(6, seed=11), config.atomic_numbers, config.cutoff,
                                    config.atomic_energies)
    model = build_model(config, statistics, seed=2)
    path = root / "base.pt"
    save_model(model, path, metadata={"training": {"statistics": {"shortest_distances_A": {"Al-Al": 0.5}}}})
    return path


def _fine_tune_run(tmp_path, base_model, **training):
    run = tiny_run(tmp_path, **training)  # new data: 12 EMT clusters (seed 3), 8 train / 4 valid
    return dataclasses.replace(run, model={}, init_from=str(base_model))


def _errors(model, data):
    return evaluate_file(model, str(data)).metrics


def test_fine_tuning_lowers_the_error_on_new_data(tmp_path, base_model):
    run = _fine_tune_run(tmp_path, base_model, max_epoch=6, lr=0.05)
    result = train(run)
    base, _ = load_model(base_model)
    tuned, metadata = load_model(result.model_path)
    before, after = _errors(base, tmp_path / "emt.xyz"), _errors(tuned, tmp_path / "emt.xyz")
    assert after["forces_rmse"] < 0.6 * before["forces_rmse"], (before, after)  # 1194 -> 487 meV/Å
    assert after["energy_rmse"] < 0.8 * before["energy_rmse"], (before, after)  # 846 -> 504 meV
    # Same architecture and energy reference: only the weights moved.
    assert tuned.config == base.config
    assert torch.equal(tuned.energy_shift, base.energy_shift) and torch.equal(tuned.energy_scale, base.energy_scale)
    record = metadata["training"]["init_from"]
    assert record == {"model": str(base_model), "file": "base.pt", "sha256": file_checksum(base_model)}
    assert "the fine-tuned model" in metadata["training"]["data"]["e0_source"]
    # The out-of-domain distances keep the shorter of the model's and the new data's.
    distances = metadata["training"]["statistics"]["shortest_distances_A"]
    assert distances["Al-Al"] == 0.5 and 1.0 < distances["Cu-Cu"] < 3.5


def test_fine_tuning_starts_from_the_model_weights(tmp_path, base_model):
    """At a negligible learning rate the fine-tuned model is the model it started from."""
    result = train(_fine_tune_run(tmp_path, base_model, max_epoch=1, lr=1e-12, lr_min=0.0, ema=False))
    base, _ = load_model(base_model)
    tuned, _ = load_model(result.model_path)
    for name, value in base.state_dict().items():
        torch.testing.assert_close(tuned.state_dict()[name], value, rtol=1e-9, atol=1e-9, msg=name)


def test_an_e0_file_gives_new_e0s_and_dtype_may_change(tmp_path, base_model):
    run = _fine_tune_run(tmp_path, base_model, max_epoch=1)
    data = dataclasses.replace(run.data, e0_file=str(write_e0(tmp_path / "e0.xyz", E0)))
    run = dataclasses.replace(run, data=data, model={"dtype": "float32"})
    tuned, metadata = load_model(train(run).model_path)
    assert tuned.config.atomic_energies == (-0.1, -0.2) and tuned.dtype == torch.float32
    assert metadata["training"]["data"]["e0_source"] == "file e0.xyz"
    base, _ = load_model(base_model)
    assert tuned.config.avg_n_neighbors == base.config.avg_n_neighbors


def test_a_different_architecture_is_a_typed_error(tmp_path, base_model):
    run = dataclasses.replace(_fine_tune_run(tmp_path, base_model), model={"n_hidden_feats": 8, "cutoff": 3.5})
    with pytest.raises(ArchitectureMismatchError, match=r"n_hidden_feats = 8 \(the model has 4\)") as info:
        train(run)
    assert "cutoff" not in str(info.value)  # equal settings are fine
    assert not (tmp_path / "run").exists()


def test_data_with_an_element_the_model_lacks_is_refused(tmp_path, base_model):
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = emt_structures(12, seed=3)
    odd = Atoms("CuO", positions=[[0, 0, 0], [0, 0, 1.9]])
    odd.calc = SinglePointCalculator(odd, energy=-1.0, forces=torch.zeros(2, 3).numpy())
    frames[0] = odd
    write_dataset(tmp_path / "emt.xyz", frames)
    from ictp_calc.data.graph import UnknownElementError

    with pytest.raises(UnknownElementError, match="O"):
        train(_fine_tune_run(tmp_path, base_model))
