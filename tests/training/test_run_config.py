"""Run configuration files: validation, overrides, round trip, and the shipped 3BPA example."""

from pathlib import Path

import pytest

from ictp_calc.training import ConfigError, load_run_config
from ictp_calc.training.run_config import parse_assignment

REPO = Path(__file__).resolve().parents[2]

MINIMAL = """
output_dir = "out"
[data]
train_file = "data.xyz"
n_valid = 5
[model]
cutoff = 4.0
radial_mlp = [16, 16]
[training]
lr = 0.005
"""


def _write(tmp_path, text):
    path = tmp_path / "run.toml"
    path.write_text(text)
    return path


def test_minimal_config_and_defaults(tmp_path):
    run = load_run_config(_write(tmp_path, MINIMAL))
    assert run.data.n_valid == 5 and run.data.e0_file is None
    assert run.training.lr == 0.005 and run.training.amsgrad and run.training.ema_decay == 0.99
    config = run.model_config((1, 6))
    assert config.cutoff == 4.0 and config.radial_mlp == (16, 16) and config.atomic_numbers == (1, 6)


@pytest.mark.parametrize(
    "text, match",
    [
        (MINIMAL + "bogus = 1\n", "bogus"),
        (MINIMAL.replace("[training]", "[training]\nlearning_rate = 1.0"), "learning_rate"),
        (MINIMAL.replace("[model]", "[model]\nn_channels = 8"), "n_channels"),
        (MINIMAL.replace("n_valid = 5", "n_valid = 5\nvalid_fraction = 0.1"), "valid_fraction"),
        (MINIMAL + "[extra]\nx = 1\n", "extra"),
        (MINIMAL.replace("lr = 0.005", 'lr = "fast"'), "training.lr"),
        (MINIMAL.replace("[model]", "[model]\navg_n_neighbors = 3.0"), "computed"),
        (MINIMAL.replace("[model]", "[model]\nl_max_hidden_feats = 4\nl_max_edge_attrs = 2"), "l_max_hidden_feats"),
        ("[model]\ncutoff = 4.0\n", "train_file"),
        (MINIMAL + "[data\n", "invalid TOML"),
    ],
)
def test_invalid_configs_are_errors_naming_the_problem(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_run_config(_write(tmp_path, text))


def test_overrides(tmp_path):
    run = load_run_config(_write(tmp_path, MINIMAL)).with_overrides(
        ["model.n_hidden_feats=32", "training.ema=false", "model.dtype=float32", "model.radial_mlp=[8]"],
        epochs=7, device="cpu", seed=3, split_seed=9, output_dir="elsewhere",
    )
    assert run.model["n_hidden_feats"] == 32 and run.model["dtype"] == "float32" and run.model["radial_mlp"] == [8]
    assert run.training.ema is False and run.training.max_epoch == 7 and run.training.seed == 3
    assert run.data.seed == 9 and run.output_dir == "elsewhere"
    with pytest.raises(ConfigError, match="section.key=value"):
        run.with_overrides(["no-equals-sign"])
    with pytest.raises(ConfigError, match="unknown keys in \\[training\\]"):
        run.with_overrides(["training.speed=2"])
    assert parse_assignment("training.lr=1e-3") == ("training", "lr", 1e-3)


def test_resolved_config_round_trips_through_toml(tmp_path):
    run = load_run_config(_write(tmp_path, MINIMAL)).with_overrides(["model.atomic_numbers=[1, 8]"])
    again = load_run_config(_write(tmp_path, run.to_toml()))
    assert again == run


def test_shipped_3bpa_config_follows_the_protocol(monkeypatch):
    monkeypatch.chdir(REPO)  # its paths are relative to the repository root
    run = load_run_config("configs/3bpa.toml")
    assert run.data.train_file == "../shared/data/3bpa/train_300K.xyz"
    assert run.data.e0_file == "../shared/data/3bpa/iso_atoms.xyz"
    assert (run.data.n_train, run.data.n_valid) == (450, 50)
    t = run.training
    assert (t.batch_size, t.lr, t.amsgrad, t.ema_decay) == (5, 0.01, True, 0.99)
    assert (t.energy_weight, t.forces_weight) == (1.0, 10.0)
    assert (t.scheduler_factor, t.scheduler_patience, t.weight_decay) == (0.8, 50, 5e-7)
    assert run.model_config((1, 6, 7, 8)).cutoff == 5.0


def test_shipped_fine_tuning_config_names_the_shipped_model(monkeypatch):
    monkeypatch.chdir(REPO)
    run = load_run_config("configs/3bpa_finetune.toml")
    assert run.init_from == "ictp-3bpa" and run.model == {} and run.data.e0_file is None
    assert load_run_config("configs/3bpa.toml").init_from is None
    assert 'init_from = "ictp-3bpa"' in run.to_toml()
