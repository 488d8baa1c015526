"""Bad input gets a typed error from Python and, from ``ictp-md``, a message and a non-zero exit code
(never a traceback): data files for train and eval, devices, structures for run, model files."""

import math
import os
import sys
import time

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write
from cli_helpers import write_config, write_emt_data
from click.testing import CliRunner

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "md"))  # the MD tests' helpers
from md_helpers import BPA_START, tiny_model  # noqa: E402

from ictp_calc.calculator import ICTPCalculator  # noqa: E402
from ictp_calc.cli import main  # noqa: E402
from ictp_calc.data.checks import DegenerateCellError  # noqa: E402
from ictp_calc.data.dataset import DatasetError, read_labelled  # noqa: E402
from ictp_calc.devices import DeviceError, resolve_device  # noqa: E402
from ictp_calc.io import ModelFileError, load_model  # noqa: E402
from ictp_calc.md import InputError, MDSettings, read_structure  # noqa: E402
from ictp_calc.training import evaluate_file, load_run_config, train  # noqa: E402
from ictp_calc.training.loop import NonFiniteLossError  # noqa: E402


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _assert_clean_failure(result, code, *texts):
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output and not isinstance(result.exception, (TypeError, AttributeError))
    for text in texts:
        assert text in result.output, (text, result.output)


def _labelled(atoms, energy=-1.0):
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=np.zeros((len(atoms), 3)))
    return atoms


def _bad_frames(tmp_path, kind):
    """EMT data (10 frames) with frame 3 made bad in one way; returns the file."""
    path = write_emt_data(tmp_path / "emt.xyz")
    frames = read(path, ":")
    bad = frames[3].copy()
    if kind == "coincident":
        bad.positions[1] = bad.positions[0]
    elif kind == "nan_position":
        bad.positions[2, 0] = np.nan
    elif kind == "zero_cell":
        bad.pbc = True  # the cell is all zero
    elif kind == "empty":
        bad = Atoms()
    frames[3] = _labelled(bad)
    write(path, frames, format="extxyz")
    return path


@pytest.mark.parametrize("kind,message", [
    ("coincident", "closer than the minimum distance"),
    ("nan_position", "non-finite positions"),
    ("zero_cell", "pbc is True along cell vector 0 but that vector is zero"),
    ("empty", "the structure has no atoms"),
])
def test_unusable_training_frame_names_file_and_index(tmp_path, kind, message):
    path = _bad_frames(tmp_path, kind)
    with pytest.raises(DatasetError, match=f"structure 3 .*{message}"):
        read_labelled(str(path))
    config = write_config(tmp_path, epochs=1)
    result = _invoke("train", config, "--no-progress")
    _assert_clean_failure(result, 5, str(path), "structure 3", message)
    assert not (tmp_path / "run").exists(), "a run that fails on its inputs leaves no output directory"
    model = tiny_model(tmp_path / "m.pt")
    _assert_clean_failure(_invoke("eval", model, path), 5, "structure 3", message)


def test_non_finite_loss_stops_training_with_exit_code_3(tmp_path):
    config = write_config(tmp_path, epochs=3)
    result = _invoke("train", config, "--set", "training.lr=1e30", "--no-progress")
    _assert_clean_failure(result, 3, "loss became non-finite", "lower the learning rate")
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
    run = load_run_config(str(config)).with_overrides(["training.lr=1e30"], output_dir=str(tmp_path / "py"))
    with pytest.raises(NonFiniteLossError, match="epoch 1"):
        train(run)


@pytest.mark.parametrize("content,message", [
    ("3\nLattice=\"1 0 0 0 1 0 0 0 1\" Properties=species:S:1:pos:R:3\nH 0 0\n", "not a readable extxyz file"),
    ("2\nenergy=abc Properties=species:S:1:pos:R:3\nH 0 0 0\nH 0 0 0.74\n", "non-numeric energy label ('abc')"),
    ("two\nhello\n", "not a readable extxyz file"),
])
def test_malformed_data_files(tmp_path, content, message):
    path = tmp_path / "bad.xyz"
    path.write_text(content)
    with pytest.raises(DatasetError, match="bad.xyz"):
        read_labelled(str(path))
    _assert_clean_failure(_invoke("eval", tiny_model(tmp_path / "m.pt"), path), 5, message)
    config = write_config(tmp_path, epochs=1)
    config.write_text(config.read_text().replace((tmp_path / "emt.xyz").as_posix(), path.as_posix()))
    _assert_clean_failure(_invoke("train", config, "--no-progress"), 5, "bad.xyz", message)
    assert not (tmp_path / "run").exists()


def test_out_of_range_index_and_unavailable_device(tmp_path):
    model_path = tiny_model(tmp_path / "m.pt")
    model, _ = load_model(model_path)
    frames = [_labelled(Atoms("CH", positions=[[0, 0, 0], [0, 0, 1.1]]), energy=-float(k)) for k in range(3)]
    write(tmp_path / "d.xyz", frames, format="extxyz")
    data = f"{tmp_path / 'd.xyz'}@7"
    with pytest.raises(DatasetError, match="index 7 is out of range for 3 structures"):
        evaluate_file(model, data)
    _assert_clean_failure(_invoke("eval", model_path, data), 5, "index 7 is out of range")
    # A CUDA device that does not exist (no CUDA at all, or not that many GPUs): one resolver for all.
    bad = "cuda:99"
    with pytest.raises(DeviceError, match="cuda:99"):
        resolve_device(bad)
    with pytest.raises(DeviceError):
        evaluate_file(model, str(tmp_path / "d.xyz"), device=bad)
    with pytest.raises(DeviceError):
        ICTPCalculator(model_path, device=bad)
    _assert_clean_failure(_invoke("eval", model_path, tmp_path / "d.xyz", "--device", bad), 5, "cuda:99")
    config = write_config(tmp_path, epochs=1)
    _assert_clean_failure(_invoke("train", config, "--device", bad, "--no-progress"), 5, "training.device", "cuda:99")
    with pytest.raises(DeviceError, match="invalid device"):
        resolve_device("gpu please")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_nan_predictions_are_an_error_not_missing_labels(tmp_path):
    model_path = tiny_model(tmp_path / "m.pt")
    model, _ = load_model(model_path)
    with torch.no_grad():
        next(model.parameters()).fill_(math.nan)
    write(tmp_path / "d.xyz", [_labelled(Atoms("CH", positions=[[0, 0, 0], [0, 0, 1.1]]))], format="extxyz")
    from ictp_calc.data.checks import NonFiniteOutputError
    from ictp_calc.io import save_model

    with pytest.raises(NonFiniteOutputError, match="non-finite energies or forces for 1 structure"):
        evaluate_file(model, str(tmp_path / "d.xyz"))
    save_model(model, tmp_path / "nan.pt")
    result = _invoke("eval", tmp_path / "nan.pt", tmp_path / "d.xyz")
    _assert_clean_failure(result, 5, "non-finite energies or forces")
    assert "n/a" not in result.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error when CUDA is absent")
def test_cuda_without_cuda_is_an_input_error(tmp_path):
    model_path = tiny_model(tmp_path / "m.pt")
    write(tmp_path / "d.xyz", [_labelled(Atoms("CH", positions=[[0, 0, 0], [0, 0, 1.1]]))], format="extxyz")
    with pytest.raises(DeviceError, match="CUDA"):
        resolve_device("cuda")
    _assert_clean_failure(_invoke("eval", model_path, tmp_path / "d.xyz", "--device", "cuda"), 5, "CUDA")
    config = write_config(tmp_path, epochs=1)
    _assert_clean_failure(_invoke("train", config, "--device", "cuda", "--no-progress"), 5, "training.device", "CUDA")


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root writes anywhere")
def test_unwritable_training_output_is_an_input_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        config = write_config(tmp_path, epochs=1)
        result = _invoke("train", config, "--output-dir", locked / "run", "--no-progress")
        _assert_clean_failure(result, 5, "cannot write", "Permission denied")
    finally:
        locked.chmod(0o700)


def test_training_output_that_is_a_file_is_an_input_error(tmp_path):
    config = write_config(tmp_path, epochs=1)
    (tmp_path / "taken").write_text("a file, not a directory")
    result = _invoke("train", config, "--output-dir", tmp_path / "taken" / "run", "--no-progress")
    _assert_clean_failure(result, 5, "cannot write")
    model_path = tiny_model(tmp_path / "m.pt")
    write(tmp_path / "d.xyz", [_labelled(Atoms("CH", positions=[[0, 0, 0], [0, 0, 1.1]]))], format="extxyz")
    result = _invoke("eval", model_path, tmp_path / "d.xyz", "--parity", tmp_path / "taken" / "p.png")
    _assert_clean_failure(result, 5, "cannot write")


def test_run_with_a_nan_position_is_an_input_error(tmp_path):
    atoms = read(BPA_START)
    atoms.positions[4, 1] = np.nan
    write(tmp_path / "nan.xyz", atoms, format="extxyz")
    with pytest.raises(InputError, match="non-finite positions"):
        read_structure(str(tmp_path / "nan.xyz"))
    out = tmp_path / "out"
    result = _invoke("run", tmp_path / "nan.xyz", "--model", tiny_model(tmp_path / "m.pt"), "--output-dir", out,
                     "--device", "cpu")
    _assert_clean_failure(result, 5, "non-finite positions")


def test_nearly_flat_periodic_cell_is_rejected_at_once(tmp_path):
    atoms = read(BPA_START)
    atoms.cell = [[12.0, 0, 0], [11.99, 0.01, 0], [0, 0, 12.0]]  # the planes along b are 0.01 Å apart
    atoms.pbc = True
    model_path = tiny_model(tmp_path / "m.pt")
    start = time.perf_counter()
    with pytest.raises(DegenerateCellError, match="nearly flat"):
        atoms.calc = ICTPCalculator(model_path, device="cpu")
        atoms.get_potential_energy()
    assert time.perf_counter() - start < 30  # it used to hang in the neighbor list for minutes
    write(tmp_path / "flat.xyz", atoms, format="extxyz")
    result = _invoke("run", tmp_path / "flat.xyz", "--model", model_path, "--output-dir", tmp_path / "o",
                     "--device", "cpu")
    _assert_clean_failure(result, 5, "nearly flat")


def test_text_file_as_model_says_so(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("my model, version 2\n")
    with pytest.raises(ModelFileError, match="it is a text file"):
        load_model(text)
    _assert_clean_failure(_invoke("info", text), 5, "text file")
    result = _invoke("run", BPA_START, "--model", text, "--output-dir", tmp_path / "o", "--device", "cpu")
    _assert_clean_failure(result, 5, "text file")


def test_md_settings_from_dict_rejects_unknown_keys():
    settings = MDSettings(structure="x.xyz")
    assert MDSettings.from_dict(settings.to_dict()) == settings
    with pytest.raises(InputError, match=r"unknown MD setting\(s\) \['temprature_K'\]"):
        MDSettings.from_dict({**settings.to_dict(), "temprature_K": 500.0})


