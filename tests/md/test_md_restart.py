"""Exact restarts: an interrupted and continued run writes the same files as an uninterrupted one."""

import json
import os
import signal

import numpy as np
import pytest
from ase.io import read
from md_helpers import BPA_START, bpa_box, tiny_model

from ictp_calc.md import MDSettings, RestartError, RunInterrupted, run_md
from ictp_calc.md.inputs import make_calculator
from ictp_calc.md.restart import load_checkpoint, merge_settings


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("model") / "tiny.pt")


def _settings(model, out, **changes):
    base = dict(structure=str(BPA_START), model=model, ensemble="nve", temperature_K=300.0, steps=40, interval=5,
                checkpoint_interval=20, device="cpu", health=False, output_dir=str(out))
    base.update(changes)
    return MDSettings(**base)


def _crashing_calculator(settings, after: int):
    """The run's calculator, failing (like a killed process) at its ``after``-th evaluation."""
    calc = make_calculator(settings.model, device="cpu", skin=settings.skin, min_distance=0.0)
    original = calc.calculate

    def calculate(*args, **kwargs):
        if calc.n_evaluations >= after:
            raise RuntimeError("simulated crash")
        original(*args, **kwargs)

    calc.calculate = calculate
    return calc


def _same_files(a, b, fmt="extxyz"):
    for name in (f"trajectory.{fmt}", "log.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


ENSEMBLES = [
    ("nve", {}),
    ("nvt-langevin", {"seed": 7}),
    ("nvt-bussi", {}),
    ("nvt-nose-hoover", {}),
    ("npt", {"barostat": "mtk"}),
]


@pytest.mark.parametrize("ensemble,extra", ENSEMBLES, ids=[e for e, _ in ENSEMBLES])
def test_crashed_and_restarted_run_equals_uninterrupted_run(tmp_path, model, ensemble, extra):
    structure = bpa_box(tmp_path / "box.xyz") if ensemble == "npt" else str(BPA_START)
    straight = _settings(model, tmp_path / "straight", ensemble=ensemble, structure=structure, **extra)
    run_md(straight, progress=None)
    split = straight.replace(output_dir=str(tmp_path / "split"))
    # One evaluation at the start, then one per step: the crash hits step 32, after the checkpoint at
    # step 20 and the frames of steps 25 and 30, which the restart must cut away and write again.
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_md(split, calculator=_crashing_calculator(split, after=32), progress=None)
    assert load_checkpoint(split.output_dir).step == 20
    assert read(tmp_path / "split" / "trajectory.extxyz", ":")[-1].info["step"] == 30
    result = run_md(split, restart=True, progress=None)
    assert (result.first_step, result.last_step) == (20, 40)
    _same_files(tmp_path / "straight", tmp_path / "split")


def test_restart_extends_a_finished_run_and_supports_traj(tmp_path, model):
    straight = _settings(model, tmp_path / "straight", ensemble="nvt-langevin", trajectory_format="traj", steps=30)
    run_md(straight, progress=None)
    split = straight.replace(output_dir=str(tmp_path / "split"), steps=15)
    run_md(split, progress=None)
    run_md(split.replace(steps=30), restart=True, progress=None)
    a, b = read(tmp_path / "straight" / "trajectory.traj", ":"), read(tmp_path / "split" / "trajectory.traj", ":")
    assert [f.info["step"] for f in b] == list(range(0, 31, 5))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.positions, y.positions)
        np.testing.assert_array_equal(x.get_momenta(), y.get_momenta())
    assert (tmp_path / "straight" / "log.csv").read_bytes() == (tmp_path / "split" / "log.csv").read_bytes()
    segments = json.loads((tmp_path / "split" / "manifest.json").read_text())["segments"]
    assert [s["status"] for s in segments] == ["completed", "completed"]


def test_restart_rejects_changed_physics_and_accepts_changed_length(tmp_path, model):
    settings = _settings(model, tmp_path / "run", steps=10)
    run_md(settings, progress=None)
    stored = load_checkpoint(settings.output_dir).settings
    assert merge_settings(stored, {"steps": 20, "device": "cpu", "health": True, "interval": 3}).steps == 20
    # A new interval applies from the checkpoint on; a second restart still cuts by step.
    run_md(settings.replace(steps=16, interval=3, checkpoint_interval=100), restart=True, progress=None)
    run_md(settings.replace(steps=20, interval=3, checkpoint_interval=100), restart=True, progress=None)
    steps = [f.info["step"] for f in read(tmp_path / "run" / "trajectory.extxyz", ":")]
    assert steps == [0, 5, 10, 12, 15, 18]
    for change in ({"timestep_fs": 1.0}, {"ensemble": "nvt-bussi"}, {"seed": 1}, {"trajectory_format": "traj"}):
        with pytest.raises(RestartError, match=next(iter(change))):
            run_md(settings.replace(**change), restart=True, progress=None)
    with pytest.raises(RestartError, match="beyond"):
        run_md(settings.replace(steps=5), restart=True, progress=None)
    other = tiny_model(tmp_path / "other.pt", seed=1)
    with pytest.raises(RestartError, match="model file differs"):
        run_md(settings.replace(model=other, steps=20), restart=True, progress=None)


def test_ctrl_c_checkpoints_the_last_complete_step(tmp_path, model):
    straight = _settings(model, tmp_path / "straight", ensemble="nvt-langevin", steps=20, checkpoint_interval=1000)
    run_md(straight, progress=None)
    split = straight.replace(output_dir=str(tmp_path / "split"))
    calc = make_calculator(model, device="cpu", skin=split.skin, min_distance=0.0)
    original = calc.calculate

    def calculate(*args, **kwargs):
        original(*args, **kwargs)
        if calc.n_evaluations == 8:  # during step 7: the run finishes that step, then stops
            os.kill(os.getpid(), signal.SIGINT)

    calc.calculate = calculate
    previous = signal.getsignal(signal.SIGINT)
    with pytest.raises(RunInterrupted) as info:
        run_md(split, calculator=calc, progress=None)
    assert info.value.exit_code == 130 and load_checkpoint(split.output_dir).step == 7
    assert signal.getsignal(signal.SIGINT) is previous  # the caller's handler is back
    run_md(split, restart=True, progress=None)
    _same_files(tmp_path / "straight", tmp_path / "split")
