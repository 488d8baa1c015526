"""``ictp-md eval``: table, JSON, parity plot, validation split; 3BPA structures from ../shared."""

import json

import numpy as np
import pytest
from ase.io import read
from cli_helpers import SHARED_3BPA, write_config, write_emt_data
from click.testing import CliRunner

from ictp_calc.cli import main
from ictp_calc.data import atoms_to_graph
from ictp_calc.io import save_model
from ictp_calc.model import ModelConfig, build_model, compute_properties


def _tiny_model(path, elements, cutoff=3.5):
    config = ModelConfig(
        atomic_numbers=elements, cutoff=cutoff, n_basis=4, radial_mlp=(8,), readout_mlp=(4,), n_hidden_feats=4,
        n_product_feats=4, l_max_hidden_feats=1, l_max_edge_attrs=1, correlation=2, avg_n_neighbors=4.0,
    )
    model = build_model(config, seed=2)
    save_model(model, path)
    return model


def _expected_metrics(model, structures):
    """The metrics computed independently: one structure at a time, numpy arithmetic, meV."""
    d_e, n_atoms, d_f = [], [], []
    for atoms in structures:
        graph = atoms_to_graph(atoms, model.config.atomic_numbers, model.config.cutoff, dtype=model.dtype)
        out = compute_properties(model, graph, forces=True)
        d_e.append(float(out["energy"].detach()) - atoms.get_potential_energy())
        n_atoms.append(len(atoms))
        d_f.append(out["forces"].detach().numpy() - atoms.get_forces())
    d_e, n_atoms, d_f = np.array(d_e), np.array(n_atoms), np.concatenate(d_f)
    return {
        "energy_rmse": 1000 * np.sqrt(np.mean(d_e**2)),
        "energy_mae": 1000 * np.mean(np.abs(d_e)),
        "energy_per_atom_rmse": 1000 * np.sqrt(np.mean((d_e / n_atoms) ** 2)),
        "energy_per_atom_mae": 1000 * np.mean(np.abs(d_e / n_atoms)),
        "forces_rmse": 1000 * np.sqrt(np.mean(d_f**2)),
        "forces_mae": 1000 * np.mean(np.abs(d_f)),
    }


def test_eval_json_table_and_parity(tmp_path):
    data = write_emt_data(tmp_path / "emt.xyz", n=7, seed=5)
    model = _tiny_model(tmp_path / "model.pt", (13, 29))
    runner = CliRunner()
    result = runner.invoke(main, ["eval", str(tmp_path / "model.pt"), str(data), f"{data}@:3", "--json",
                                  "--batch-size", "3", "--parity", str(tmp_path / "parity.png")])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    whole, head = payload["files"]
    assert (whole["n_structures"], head["n_structures"]) == (7, 3)
    structures = read(data, ":")
    for entry, subset in ((whole, structures), (head, structures[:3])):
        expected = _expected_metrics(model, subset)
        assert {k: entry[k] for k in expected} == pytest.approx(expected, rel=1e-8)
    assert payload["units"]["forces_rmse"] == "meV/Å"
    assert (tmp_path / "parity.png").stat().st_size > 1000
    table = runner.invoke(main, ["eval", str(tmp_path / "model.pt"), str(data)])
    assert table.exit_code == 0 and "meV/atom" in table.output
    assert f"{whole['forces_rmse']:.3f}" in table.output


def test_eval_of_a_trained_model_reproduces_its_validation_errors(tmp_path):
    config = write_config(tmp_path, epochs=1)
    assert CliRunner().invoke(main, ["train", str(config)]).exit_code == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    result = CliRunner().invoke(
        main, ["eval", str(tmp_path / "run" / "best_model.pt"), str(tmp_path / "emt.xyz"), "--valid-split", "--json"]
    )
    assert result.exit_code == 0, result.output
    entry = json.loads(result.output)["files"][0]
    assert entry["n_structures"] == 3
    assert {k: entry[k] for k in summary["validation"]} == pytest.approx(summary["validation"], rel=1e-9)


def test_eval_errors(tmp_path):
    _tiny_model(tmp_path / "model.pt", (29,))
    data = write_emt_data(tmp_path / "emt.xyz", n=3)  # has Al, which the model does not know
    result = CliRunner().invoke(main, ["eval", str(tmp_path / "model.pt"), str(data)])
    assert result.exit_code == 5 and "Al" in result.output and "Traceback" not in result.output
    missing = CliRunner().invoke(main, ["eval", str(tmp_path / "model.pt"), str(tmp_path / "nope.xyz")])
    assert missing.exit_code == 5 and "does not exist" in missing.output


@pytest.mark.skipif(
    not SHARED_3BPA.is_dir(), reason="../shared/data/3bpa is absent (the 3BPA data is not in this repo)"
)
def test_eval_on_five_3bpa_configurations(tmp_path):
    model = _tiny_model(tmp_path / "model.pt", (1, 6, 7, 8), cutoff=4.0)
    data = SHARED_3BPA / "train_300K.xyz"
    result = CliRunner().invoke(main, ["eval", str(tmp_path / "model.pt"), f"{data}@:5", "--json"])
    assert result.exit_code == 0, result.output
    entry = json.loads(result.output)["files"][0]
    assert (entry["n_structures"], entry["n_atoms"]) == (5, 135)
    expected = _expected_metrics(model, read(data, ":5"))
    assert {k: entry[k] for k in expected} == pytest.approx(expected, rel=1e-8)
