"""Shipped models by name, the light top-level import, and the units recorded in model files."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.io import read
from click.testing import CliRunner

from ictp_calc.calculator import ICTPCalculator, UnitsMismatchError
from ictp_calc.cli import main
from ictp_calc.io import DEFAULT_MODEL, ModelFileError, load_model, resolve_model, save_model, shipped_models
from ictp_calc.model import ModelConfig, build_model

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "models" / "ictp-3bpa.pt"
BPA_START = REPO / "examples" / "data" / "3bpa_start.xyz"
TINY = ModelConfig(atomic_numbers=(1, 6, 7, 8), cutoff=4.0, n_basis=4, radial_mlp=(8,), readout_mlp=(4,),
                   n_hidden_feats=4, n_product_feats=4, l_max_hidden_feats=1, l_max_edge_attrs=1, correlation=2,
                   dtype="float64")


def test_top_level_import_is_light_and_lazy():
    code = ("import sys, ictp_calc; assert 'torch' not in sys.modules, 'torch imported'; "
            "from ictp_calc import ICTPCalculator; from ictp_calc.calculator import ICTPCalculator as C; "
            "assert ICTPCalculator is C; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
    import ictp_calc

    with pytest.raises(AttributeError, match="no attribute 'Calculator'"):
        ictp_calc.Calculator  # noqa: B018


def test_names_resolve_to_the_shipped_file(tmp_path, monkeypatch):
    assert shipped_models() == {"ictp-3bpa": str(SHIPPED)}
    assert resolve_model(None) == resolve_model(DEFAULT_MODEL) == resolve_model("ictp-3bpa.pt") == str(SHIPPED)
    # An existing file wins over a shipped name.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ictp-3bpa").write_bytes(b"mine")
    assert resolve_model("ictp-3bpa") == str(tmp_path / "ictp-3bpa")
    with pytest.raises(ModelFileError, match=r"'nope' does not exist.*shipped models: ictp-3bpa"):
        resolve_model("nope")
    with pytest.raises(ModelFileError, match="is a directory"):
        resolve_model(str(tmp_path))


def test_calculator_and_cli_take_a_shipped_name(tmp_path):
    calc = ICTPCalculator("ictp-3bpa", device="cpu")
    assert calc.model_path == str(SHIPPED)
    atoms = read(BPA_START)
    atoms.calc = calc
    by_path = read(BPA_START)
    by_path.calc = ICTPCalculator(str(SHIPPED), device="cpu")
    assert atoms.get_potential_energy() == by_path.get_potential_energy()
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(BPA_START), "--model", "ictp-3bpa", "--steps", "2", "--device", "cpu",
                                       "--no-progress", "--output-dir", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "manifest.json").read_text())["model_path"] == str(SHIPPED)
    result = CliRunner().invoke(main, ["run", str(BPA_START), "--model", "ictp-4bpa",
                                       "--output-dir", str(tmp_path / "x")])
    assert result.exit_code == 5 and "'ictp-4bpa' does not exist" in result.output
    assert "shipped models: ictp-3bpa" in result.output


def test_info_lists_the_shipped_models():
    result = CliRunner().invoke(main, ["info"])
    assert result.exit_code == 0, result.output
    assert "shipped models" in result.output and f"ictp-3bpa  {SHIPPED}" in result.output
    listed = CliRunner().invoke(main, ["info", "--list", "--json"])
    assert json.loads(listed.output) == {"shipped_models": {"ictp-3bpa": str(SHIPPED)}}
    card = json.loads(CliRunner().invoke(main, ["info", "ictp-3bpa", "--json"]).output)
    assert card["file"] == str(SHIPPED) and card["shipped_models"] == {"ictp-3bpa": str(SHIPPED)}
    missing = CliRunner().invoke(main, ["info", "no-such-model"])
    assert missing.exit_code == 5 and "no-such-model" in missing.output


def test_model_files_record_units_and_the_calculator_checks_them(tmp_path):
    model = build_model(TINY, seed=0)
    save_model(model, tmp_path / "ev.pt")
    assert load_model(tmp_path / "ev.pt")[1]["units"] == {"energy": "eV", "length": "Å", "energy_to_eV": 1.0,
                                                          "length_to_A": 1.0}
    with pytest.raises(UnitsMismatchError, match="energy_units_to_eV=27.2114 contradicts the model file"):
        ICTPCalculator(tmp_path / "ev.pt", device="cpu", energy_units_to_eV=27.211386)
    with pytest.raises(UnitsMismatchError, match="length_units_to_A"):
        ICTPCalculator(tmp_path / "ev.pt", device="cpu", length_units_to_A=0.52917721)
    assert ICTPCalculator(tmp_path / "ev.pt", device="cpu", energy_units_to_eV=1.0).energy_units_to_eV == 1.0
    # A model trained on Hartree energies: its file says so, and the calculator converts by default.
    hartree = {"energy": "Hartree", "length": "Å", "energy_to_eV": 27.211386, "length_to_A": 1.0}
    save_model(model, tmp_path / "ha.pt", metadata={"units": hartree})
    atoms = read(BPA_START)
    atoms.calc = ICTPCalculator(tmp_path / "ha.pt", device="cpu")
    reference = read(BPA_START)
    reference.calc = ICTPCalculator(tmp_path / "ev.pt", device="cpu")
    np.testing.assert_allclose(atoms.get_potential_energy(), 27.211386 * reference.get_potential_energy(), rtol=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), 27.211386 * reference.get_forces(), rtol=1e-10, atol=1e-10)
    # A file written before units were recorded is read as eV and Å.
    payload = torch.load(tmp_path / "ev.pt", weights_only=True)
    del payload["metadata"]["units"]
    torch.save(payload, tmp_path / "old.pt")
    with pytest.raises(UnitsMismatchError, match="files that record no units"):
        ICTPCalculator(str(tmp_path / "old.pt"), device="cpu", energy_units_to_eV=0.0433641)
    save_model(model, tmp_path / "bad.pt", metadata={"units": {"energy_to_eV": -1.0}})
    with pytest.raises(ModelFileError, match="invalid unit size energy_to_eV"):
        ICTPCalculator(tmp_path / "bad.pt", device="cpu")
