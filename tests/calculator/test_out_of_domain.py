"""Out of domain: model files record the shortest training distance per element pair; the calculator
warns once per structure below it, and ``ictp-md info`` shows those distances and the energy reference."""

import warnings

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from click.testing import CliRunner

from ictp_calc.calculator import ICTPCalculator, OutOfDomainWarning
from ictp_calc.cli import main
from ictp_calc.data import compute_statistics
from ictp_calc.data.statistics import pair_key
from ictp_calc.io import save_model
from ictp_calc.model import ModelConfig, build_model

CONFIG = ModelConfig(atomic_numbers=(1, 6, 8), cutoff=4.0, n_basis=4, radial_mlp=(8,), readout_mlp=(4,),
                     n_hidden_feats=4, n_product_feats=4, l_max_hidden_feats=1, l_max_edge_attrs=1, correlation=2,
                     dtype="float64")


def test_statistics_record_the_shortest_distance_per_pair():
    water = molecule("H2O")
    box = Atoms("OH", positions=[[0, 0, 0], [0.9, 0, 0]], cell=[3.0, 3.0, 3.0], pbc=True)
    stats = compute_statistics([water, box], CONFIG.atomic_numbers, CONFIG.cutoff)
    d_oh = np.linalg.norm(water.positions[0] - water.positions[1])
    d_hh = np.linalg.norm(water.positions[1] - water.positions[2])
    assert pair_key(8, 1) == "H-O" and pair_key(1, 8) == "H-O"
    assert stats.shortest_distances_A["H-O"] == pytest.approx(min(d_oh, 0.9), abs=1e-12)
    assert stats.shortest_distances_A["H-H"] == pytest.approx(min(d_hh, 3.0), abs=1e-12)  # the box's H images
    assert stats.shortest_distances_A["O-O"] == pytest.approx(3.0, abs=1e-12)
    assert "C-H" not in stats.shortest_distances_A


def _model_file(tmp_path, shortest):
    metadata = {"training": {"statistics": {"energy_shift": [-1.0, -2.0, -3.0], "shortest_distances_A": shortest}}}
    path = tmp_path / "m.pt"
    save_model(build_model(CONFIG, seed=0), path, metadata)
    return path


def test_calculator_warns_once_per_structure_below_the_training_distances(tmp_path):
    calc = ICTPCalculator(_model_file(tmp_path, {"H-O": 0.9, "H-H": 1.4}), device="cpu")
    water = molecule("H2O")  # O-H 0.97 Å, H-H 1.53 Å: inside
    water.calc = calc
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutOfDomainWarning)
        water.get_potential_energy()
    squeezed = water.copy()
    squeezed.positions[1] = squeezed.positions[0] + 0.8 * (water.positions[1] - water.positions[0]) / 0.97
    squeezed.calc = calc
    with pytest.warns(OutOfDomainWarning, match=r"atoms 0 \(O\) and 1 \(H\) are 0.79\d Å apart.*\(0.900 Å\)") as record:
        squeezed.get_potential_energy()
    assert len(record) == 1
    with warnings.catch_warnings():  # the same structure moving on: no second warning
        warnings.simplefilter("error", OutOfDomainWarning)
        squeezed.positions[1] += 0.01
        squeezed.get_forces()
    other = squeezed.copy()  # another structure (ASE would return cached results for an identical one)
    other.positions[2] += 0.01
    other.calc = calc
    with pytest.warns(OutOfDomainWarning):
        other.get_potential_energy()


def test_info_shows_distances_and_energy_reference(tmp_path):
    path = _model_file(tmp_path, {"H-O": 0.9, "H-H": 1.4})
    result = CliRunner().invoke(main, ["info", str(path)])
    assert result.exit_code == 0, result.output
    assert "closest      H-O 0.900, H-H 1.400 Å" in result.output
    assert "shifts       H -1.0000, C -2.0000, O -3.0000 eV" in result.output


def test_trained_model_files_record_the_distances(tmp_path):
    import os
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "cli"))
    from cli_helpers import write_config

    from ictp_calc.io import load_model
    from ictp_calc.training import load_run_config, train

    train(load_run_config(str(write_config(tmp_path, epochs=1))))
    _, metadata = load_model(tmp_path / "run" / "best_model.pt")
    shortest = metadata["training"]["statistics"]["shortest_distances_A"]
    assert set(shortest) <= {"Al-Al", "Al-Cu", "Cu-Cu"} and shortest
    assert all(1.5 < d < 3.5 for d in shortest.values())  # rattled fcc neighbors (2.55 Å) within the 3.5 Å cutoff


@pytest.mark.parametrize("command", ["run", "optimize", "predict"])
def test_ictp_md_writes_the_warning_as_a_line_of_its_output(tmp_path, monkeypatch, command):
    """Once per structure, as ``Warning: ...`` on stderr (not a Python warning with a source line)."""
    model = _model_file(tmp_path, {"H-O": 1.2, "H-H": 1.4})
    water = molecule("H2O")  # O-H 0.97 Å < 1.2 Å
    water.center(vacuum=3.0)
    water.write(tmp_path / "water.xyz", format="extxyz")
    out = tmp_path / "out"
    args = {
        "run": ["run", "water.xyz", "--model", model, "--steps", 2, "--output-dir", out, "--no-health",
                "--no-progress"],
        "optimize": ["optimize", "water.xyz", "--model", model, "--steps", 2, "--output", out / "opt.xyz", "--quiet"],
        "predict": ["predict", model, "water.xyz", "water.xyz", "--output", tmp_path / "p.extxyz"],
    }[command]
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [str(a) for a in args] + ["--device", "cpu"])
    assert result.exit_code in (0, 4), result.output  # 4: two steps do not converge an optimization
    lines = [line for line in result.output.splitlines() if "out of the training domain" in line]
    expected = 2 if command == "predict" else 1  # predict: two structures; run/optimize: one
    assert len(lines) == expected, result.output
    assert lines[0].startswith("Warning: out of the training domain: ") and "(1.200 Å)" in lines[0]
    assert "OutOfDomainWarning" not in result.output and "warnings.warn" not in result.output
    if command == "predict":
        assert lines[0].split(": ", 2)[2].startswith("structure 0: atoms") and "structure 1: atoms" in lines[1]
