"""Inputs, settings and small parts: the default model, structure files, settings checks, progress, logs."""

import io

import numpy as np
import pytest
from ase.io import read
from md_helpers import BPA_START, REPO, bpa_box, tiny_model

from ictp_calc.md import InputError, MDSettings, default_model_path, read_structure, run_md, steps_for_time
from ictp_calc.io import shipped
from ictp_calc.md.analysis import energy_drift
from ictp_calc.md.outputs import read_log, truncate_outputs
from ictp_calc.md.plot import plot_log
from ictp_calc.md.progress import Progress, ns_per_day


def test_default_model_path_and_its_error(tmp_path, monkeypatch):
    assert default_model_path() == str(REPO / "models" / "ictp-3bpa.pt")
    monkeypatch.setattr(shipped, "shipped_model_dirs", lambda: [tmp_path])
    with pytest.raises(InputError) as info:
        default_model_path()
    assert str(tmp_path) in str(info.value) and "--model" in str(info.value)
    (tmp_path / "ictp-3bpa.pt").write_bytes(b"")
    assert default_model_path() == str(tmp_path / "ictp-3bpa.pt")


def test_structure_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_structure(str(tmp_path / "none.xyz"))
    (tmp_path / "bad.xyz").write_text("3\n\nX 0 0\n")
    with pytest.raises(InputError, match="cannot read"):
        read_structure(str(tmp_path / "bad.xyz"))
    labelled = read(BPA_START)
    assert read_structure(str(BPA_START)).calc is None and len(labelled) == 27


@pytest.mark.parametrize("change,message", [
    ({"ensemble": "nvt"}, "ensemble must be one of"),
    ({"timestep_fs": 0.0}, "timestep_fs"),
    ({"steps": -1}, "steps"),
    ({"interval": 0}, "interval"),
    ({"temperature_K": 0.0, "ensemble": "nvt-bussi"}, "needs temperature_K > 0"),
    ({"trajectory_format": "pdb"}, "trajectory_format"),
])
def test_settings_are_validated(change, message):
    with pytest.raises(InputError, match=message):
        MDSettings(structure="x.xyz", **change)
    assert MDSettings(structure="x", ensemble="nve", temperature_K=0.0).steps == 1000


def test_steps_for_time_and_throughput():
    assert steps_for_time(1.0, 0.5) == 2000 and steps_for_time(0.0101, 1.0) == 10
    assert ns_per_day(100.0, 1.0) == pytest.approx(8.64)  # 100 fs/s = 8.64 ns/day
    clock = iter([0.0, 1.0, 2.0, 2.0, 2.0]).__next__
    stream = io.StringIO()
    bar = Progress(0, 400, 1.0, stream=stream, every_s=0.5, clock=clock)  # not a tty: every 30 s
    bar.update(100)  # t = 1 s: not due yet
    bar.close(200)  # t = 2 s: 100 steps/s, ETA 2 s
    assert stream.getvalue() == "step 200/400 ( 50.0%) |   100.00 steps/s |    8.640 ns/day | ETA 0:00:02\n"


def test_drift_of_a_linear_log_and_plots(tmp_path, monkeypatch):
    log = {"time_ps": np.linspace(0, 2, 21), "conserved_eV": 0.027 * np.linspace(0, 2, 21)}
    assert energy_drift(log, n_atoms=27) == pytest.approx(1.0)  # 27 meV/ps over 27 atoms
    assert energy_drift({"time_ps": np.zeros(2)}, 3) is None
    model = tiny_model(tmp_path / "tiny.pt")
    settings = MDSettings(structure=bpa_box(tmp_path / "box.xyz"), model=model, ensemble="npt", steps=4, interval=1,
                          device="cpu", output_dir=str(tmp_path / "npt"))
    result = run_md(settings, progress=None)
    assert plot_log(result.paths["log"], str(tmp_path / "npt.png"), 300.0)
    assert (tmp_path / "npt.png").stat().st_size > 1000
    # Truncation keeps whole frames and rows up to the step, byte for byte.
    before = (tmp_path / "npt" / "trajectory.extxyz").read_text()
    truncate_outputs(str(tmp_path / "npt"), "extxyz", 2)
    after = (tmp_path / "npt" / "trajectory.extxyz").read_text()
    assert before.startswith(after) and len(read(tmp_path / "npt" / "trajectory.extxyz", ":")) == 3
    assert list(read_log(result.paths["log"])["step"]) == [0, 1, 2]
