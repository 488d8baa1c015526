"""``ictp-md optimize``, ``info`` and ``plot`` through click's CliRunner with a tiny random model."""

import json
import os
import sys

import numpy as np
import pytest
from ase.build import molecule
from ase.io import read, write
from click.testing import CliRunner

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "md"))  # the MD tests' helpers
from md_helpers import BPA_START, TINY_CONFIG, tiny_model  # noqa: E402

from ictp_calc.cli import main  # noqa: E402
from ictp_calc.io import save_model  # noqa: E402
from ictp_calc.model import build_model  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("model") / "tiny.pt")


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_optimize_reaches_fmax_and_keeps_fixed_atoms(tmp_path, model):
    # The random tiny model has a minimum near a distorted ammonia (found by trial: the N-H distances
    # stay bonded); any minimum will do for a test of the command.
    start = molecule("NH3")
    start.rattle(0.1, seed=0)
    write(tmp_path / "nh3.xyz", start)
    result = _invoke("optimize", tmp_path / "nh3.xyz", "--model", model, "--fmax", 0.01, "--steps", 300,
                     "--fix", "1", "--device", "cpu", "--optimizer", "lbfgs")
    assert result.exit_code == 0, result.output
    assert "converged in" in result.output and "LBFGS:" in result.output  # ASE's per-step log
    final = read(tmp_path / "nh3_opt.extxyz")
    assert np.linalg.norm(final.get_forces(), axis=1).max() < 0.01
    np.testing.assert_array_equal(final.positions[1], read(tmp_path / "nh3.xyz").positions[1])
    frames = read(tmp_path / "nh3_opt_traj.extxyz", ":")
    assert len(frames) == final.info["optimizer_steps"] + 1


def test_optimize_not_converged_and_errors(tmp_path, model):
    out = tmp_path / "o.extxyz"
    result = _invoke("optimize", BPA_START, "--model", model, "--fmax", 1e-6, "--steps", 2, "--output", out,
                     "--trajectory", tmp_path / "t.traj", "--device", "cpu", "--quiet")
    assert result.exit_code == 4, result.output
    assert "did not converge in 2 steps" in result.output and out.exists()
    assert len(read(tmp_path / "t.traj", ":")) == 3
    assert _invoke("optimize", BPA_START, "--model", model, "--fix", "99", "--output", out).exit_code == 5
    assert _invoke("optimize", BPA_START, "--model", model, "--relax-cell", "--output", out).exit_code == 5


def test_info_shows_the_card(tmp_path):
    metadata = {"training": {
        "data": {"train_file": "train_300K.xyz", "n_train": 450, "n_valid": 50, "split_seed": 0,
                 "e0_source": "file iso_atoms.xyz"},
        "seed": 0, "best_epoch": 7, "epochs_done": 9,
        "validation": {"energy_rmse": 12.5, "energy_per_atom_rmse": 0.46, "forces_rmse": 31.25},
    }}
    path = tmp_path / "trained.pt"
    save_model(build_model(TINY_CONFIG, seed=0), path, metadata)
    result = _invoke("info", path)
    assert result.exit_code == 0, result.output
    for text in ("H, C, N, O", "4.0 Å", "float64", "train_300K.xyz (450 train / 50 valid", "best epoch 7",
                 "forces_rmse", "31.250 meV/Å", "0.460 meV/atom"):
        assert text in result.output, text
    card = json.loads(_invoke("info", path, "--json").output)
    assert card["validation"]["energy_rmse"] == 12.5 and card["n_parameters"] > 0 and len(card["sha256"]) == 64
    assert "none recorded" in _invoke("info", tiny_model(tmp_path / "untrained.pt")).output
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    assert _invoke("info", bad).exit_code == 5


def test_plot_of_a_run_log(tmp_path, model):
    out = tmp_path / "run"
    assert _invoke("run", BPA_START, "--model", model, "--steps", 10, "--interval", 2, "--output-dir", out,
                   "--device", "cpu").exit_code == 0
    result = _invoke("plot", out / "log.csv")
    assert result.exit_code == 0, result.output
    assert (out / "log.png").stat().st_size > 1000
    not_a_log = _invoke("plot", out / "manifest.json")
    assert not_a_log.exit_code == 5 and "cannot plot" in not_a_log.output and "Traceback" not in not_a_log.output
