"""Every example runs in its ``--short`` mode, with a tiny random model in place of the shipped one."""

import runpy
import sys

import numpy as np
import pytest
from ase.io import read
from md_helpers import EXAMPLES, tiny_model

SCRIPTS = sorted(p.name for p in EXAMPLES.glob("[0-9][0-9]_*.py"))


def test_examples_are_numbered():
    assert SCRIPTS == ["01_md_3bpa_temperatures.py", "02_optimize_3bpa.py", "03_dihedral_scan.py"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs_in_short_mode(script, tmp_path, monkeypatch, capsys):
    model = tiny_model(tmp_path / "tiny.pt")
    monkeypatch.chdir(tmp_path)  # the examples write their outputs into the working directory
    monkeypatch.syspath_prepend(str(EXAMPLES))  # as `python examples/NN_x.py` would: bpa_dihedrals
    extra = ["--seeds", "0", "1"] if script.startswith("01") else []
    monkeypatch.setattr(sys, "argv", [script, "--short", "--model", model, "--device", "cpu"] + extra)
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    output = capsys.readouterr().out
    written = {p.name for p in tmp_path.rglob("*") if p.is_file()}
    if script.startswith("01"):
        assert "1200 K, seed 1:" in output and "mean T" in output
        assert all(f"{t} K: " in output and "/2 runs intact" in output for t in (300, 600, 1200))
        assert {"summary.png", "summary.json", "trajectory.extxyz"} <= written
        runs = sorted(p.name for p in (tmp_path / "01_md_3bpa_output").iterdir() if p.is_dir())
        assert runs == ["1200K_seed0", "1200K_seed1", "300K_seed0", "300K_seed1", "600K_seed0", "600K_seed1"]
        last = [read(tmp_path / "01_md_3bpa_output" / f"300K_seed{s}" / "trajectory.extxyz", -1) for s in (0, 1)]
        assert np.abs(last[0].positions - last[1].positions).max() > 1e-6  # the seeds differ
    elif script.startswith("02"):
        assert "energy" in output and (tmp_path / "02_optimize_3bpa_output" / "3bpa_optimized.xyz").is_file()
    else:
        assert output.count("deg: E =") == 3 and {"scan.csv", "scan.png"} <= written


def test_temperature_example_reuses_runs_of_other_processes(tmp_path, monkeypatch, capsys):
    """Seeds split over two calls, then one --reuse call summarizes all without running them again."""
    model = tiny_model(tmp_path / "tiny.pt")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    script = str(EXAMPLES / "01_md_3bpa_temperatures.py")
    base = [script, "--short", "--model", model, "--device", "cpu", "--temperatures", "300"]
    for seeds in (["0"], ["1"]):
        monkeypatch.setattr(sys, "argv", base + ["--seeds", *seeds])
        runpy.run_path(script, run_name="__main__")
    trajectory = tmp_path / "01_md_3bpa_output" / "300K_seed0" / "trajectory.extxyz"
    before = trajectory.stat().st_mtime_ns
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", base + ["--seeds", "0", "1", "--reuse"])
    runpy.run_path(script, run_name="__main__")
    assert "300 K: " in capsys.readouterr().out
    assert trajectory.stat().st_mtime_ns == before  # read, not run again
    summary = __import__("json").loads((tmp_path / "01_md_3bpa_output" / "summary.json").read_text())
    assert sorted(r["seed"] for r in summary["runs"]) == [0, 1] and summary["temperatures"][0]["runs"] == 2
    monkeypatch.setattr(sys, "argv", base + ["--seeds", "0", "--reuse", "--model", str(tmp_path / "other.pt")])
    with pytest.raises(SystemExit, match="remove it or drop --reuse"):  # another model's runs are not mixed in
        runpy.run_path(script, run_name="__main__")

