"""``ictp-md predict`` and :func:`ictp_calc.predict.predict`: batched predictions equal the calculator's."""

import os
import sys

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.io import read, write
from click.testing import CliRunner

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "md"))  # the MD tests' helpers
from md_helpers import BPA_START, tiny_model  # noqa: E402

from ictp_calc.calculator import ICTPCalculator  # noqa: E402
from ictp_calc.cli import main  # noqa: E402
from ictp_calc.data.checks import NonFinitePositionsError, UnknownElementError  # noqa: E402
from ictp_calc.io import load_model  # noqa: E402
from ictp_calc.predict import predict  # noqa: E402


def _structures():
    rng = np.random.default_rng(0)
    box = read(BPA_START)
    box.cell, box.pbc = [9.0, 9.5, 10.0], True
    box.center()
    water = molecule("H2O")
    water.positions += rng.normal(0, 0.05, water.positions.shape)
    methane_slab = molecule("CH4", vacuum=4.0)
    methane_slab.pbc = [True, True, False]
    return [water, box, read(BPA_START), methane_slab]


def test_batched_predictions_equal_the_calculator(tmp_path):
    path = tiny_model(tmp_path / "m.pt")
    model, _ = load_model(path)
    structures = _structures()
    predicted = predict(model, structures, batch_size=2)
    assert len(predicted) == len(structures)
    calc = ICTPCalculator(path, device="cpu")
    for atoms, result in zip(structures, predicted):
        assert result is not atoms and np.array_equal(result.numbers, atoms.numbers)
        reference = atoms.copy()
        reference.calc = calc
        np.testing.assert_allclose(result.get_potential_energy(), reference.get_potential_energy(), rtol=1e-12)
        np.testing.assert_allclose(result.get_forces(), reference.get_forces(), rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(result.calc.results["energies"], reference.get_potential_energies(), atol=1e-10)
        if atoms.pbc.all():
            np.testing.assert_allclose(result.get_stress(), reference.get_stress(), rtol=1e-9, atol=1e-12)
        else:
            assert "stress" not in result.calc.results


def test_bad_structures_raise_typed_errors(tmp_path):
    model, _ = load_model(tiny_model(tmp_path / "m.pt"))
    structures = _structures()
    structures[2].positions[0, 0] = np.nan
    with pytest.raises(NonFinitePositionsError, match="structure 2"):
        predict(model, structures)
    with pytest.raises(UnknownElementError):
        predict(model, [Atoms("Cu", positions=[[0, 0, 0]])])
    with pytest.raises(ValueError, match="no structures"):
        predict(model, [])


def test_predict_command(tmp_path):
    path = tiny_model(tmp_path / "m.pt")
    data = tmp_path / "in.extxyz"
    structures = _structures()
    write(data, structures, format="extxyz")
    out = tmp_path / "out.extxyz"
    result = CliRunner().invoke(main, ["predict", path, f"{data}@1:3", str(BPA_START), "-o", str(out),
                                       "--batch-size", "2", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "3 structures predicted" in result.output
    frames = read(out, ":")
    assert len(frames) == 3 and frames[0].get_stress().shape == (6,)
    expected = predict(load_model(path)[0], [structures[1], structures[2], read(BPA_START)])
    for frame, ref in zip(frames, expected):  # extxyz stores 8 decimals
        np.testing.assert_allclose(frame.get_forces(), ref.get_forces(), rtol=0, atol=1e-8)
        np.testing.assert_allclose(frame.calc.results["energies"], ref.calc.results["energies"], rtol=0, atol=1e-8)
        assert frame.get_potential_energy() == pytest.approx(ref.get_potential_energy(), abs=1e-8)
    missing = CliRunner().invoke(main, ["predict", path, str(tmp_path / "none.xyz"), "-o", str(out)])
    assert missing.exit_code == 5 and "does not exist" in missing.output and "Traceback" not in missing.output
    unknown = CliRunner().invoke(main, ["predict", "no-such-model", str(data), "-o", str(out)])
    assert unknown.exit_code == 5 and "shipped models" in unknown.output
    usage = CliRunner().invoke(main, ["predict", path, str(data)])
    assert usage.exit_code == 2 and "--output" in usage.output
