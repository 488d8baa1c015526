"""``ictp-md export-lammps``: the exported file and the printed LAMMPS lines."""

import pickle

from click.testing import CliRunner
from lammps_helpers import CUTOFF

from ictp_calc.cli import main
from ictp_calc.lammps import ICTPUnified, export_lammps


def test_export_prints_the_lines_that_make_it_right(model_file, tmp_path):
    out = tmp_path / "ictp.pkl"
    result = CliRunner().invoke(main, ["export-lammps", str(model_file), str(out), "--skin", "1.5"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"pair_style mliap unified {out} 1" in lines  # ghost neighbor lists on
    assert "pair_coeff * * H C N O" in lines  # the model's species order
    assert f"comm_modify cutoff {2 * CUTOFF + 1.5:g}" in lines  # two layers: 2 x cutoff + skin
    assert "neighbor 1.5 bin" in lines and "units metal" in lines
    with open(out, "rb") as handle:
        loaded = pickle.load(handle)
    assert isinstance(loaded, ICTPUnified) and loaded.check_ghost_shell


def test_export_options_reach_the_model(model_file, tmp_path):
    settings = export_lammps(model_file, tmp_path / "m.pkl", dtype="float32", check_ghost_shell=False)
    assert settings.comm_cutoff == 2 * CUTOFF + 2.0  # LAMMPS's default skin for units metal
    with open(settings.path, "rb") as handle:
        loaded = pickle.load(handle)
    assert loaded.model.dtype.is_floating_point and str(loaded.model.dtype) == "torch.float32"
    assert not loaded.check_ghost_shell


def test_export_errors_are_clear(model_file, tmp_path):
    runner = CliRunner()
    not_a_model = tmp_path / "junk.pt"
    not_a_model.write_bytes(b"not a model")
    result = runner.invoke(main, ["export-lammps", str(not_a_model), str(tmp_path / "a.pkl")])
    assert result.exit_code == 5 and "Error:" in result.output and "Traceback" not in result.output
    result = runner.invoke(main, ["export-lammps", str(model_file), str(tmp_path / "a.pt")])
    assert result.exit_code == 5 and "torch.load" in result.output
    assert not (tmp_path / "a.pt").exists()
    result = runner.invoke(main, ["export-lammps", str(model_file), str(tmp_path / "a.pkl"), "--skin", "-1"])
    assert result.exit_code == 5 and "skin" in result.output
