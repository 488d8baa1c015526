"""The health monitor: each trigger, the files it writes, and the typed stop."""

import json

import numpy as np
import pytest
from ase.io import read
from md_helpers import BPA_START, tiny_model

from ictp_calc.data.checks import CloseAtomsError, NonFiniteOutputError
from ictp_calc.md import HealthStop, MDSettings, run_md
from ictp_calc.md.health import HealthMonitor, covalent_bonds, stop_from_calculator_error
from ictp_calc.md.inputs import make_calculator


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("model") / "tiny.pt")


def test_a_huge_timestep_blows_up_and_the_last_good_frame_is_written(tmp_path, model):
    settings = MDSettings(structure=str(BPA_START), model=model, ensemble="nve", temperature_K=600.0,
                          timestep_fs=20.0, steps=500, interval=50, device="cpu", output_dir=str(tmp_path))
    with pytest.raises(HealthStop) as info:
        run_md(settings, progress=None)
    stop = info.value
    assert stop.exit_code == 3 and stop.reason in ("bond_stretch", "close_atoms", "temperature")
    frame = read(stop.frame_path)
    report = json.loads(open(stop.report_path).read())
    assert report["reason"] == stop.reason and report["step"] == stop.step
    assert frame.info["step"] == report["last_good_step"] == stop.step - 1
    assert np.isfinite(frame.positions).all() and frame.get_momenta().any()
    # The last good frame passes the checks that the next step failed.
    HealthMonitor(read(BPA_START), 600.0, timestep_fs=20.0).check(frame, frame.info["step"])


def _molecule(temperature_K=300.0):
    atoms = read(BPA_START)
    atoms.set_momenta(np.zeros((len(atoms), 3)))
    return atoms, HealthMonitor(atoms, temperature_K, max_temperature_factor=3.0, bond_stretch_factor=1.5)


def test_bonds_of_3bpa():
    bonds = covalent_bonds(read(BPA_START))
    # C12H12N2O: 12 X-H bonds, 6 + 6 ring bonds, C-NH2, C-O, O-CH2, CH2-C.
    assert len(bonds) == 28
    numbers = read(BPA_START).numbers
    assert sum(1 in (numbers[i], numbers[j]) for i, j in bonds) == 12
    assert [1, 6] in bonds.tolist() and [2, 12] in bonds.tolist() and [12, 13] in bonds.tolist()


def test_temperature_trigger():
    atoms, monitor = _molecule()
    atoms.set_momenta(np.random.default_rng(0).normal(size=(len(atoms), 3)) * 3.0)
    assert atoms.get_temperature() > 900.0
    with pytest.raises(HealthStop, match="temperature") as info:
        monitor.check(atoms, 7)
    assert info.value.reason == "temperature" and info.value.step == 7


def test_bond_trigger_names_the_bond():
    atoms, monitor = _molecule()
    monitor.check(atoms, 1)
    atoms.positions[7] += [1.0, 0.0, 0.0]  # an amine H pulled 1 Å away from its N
    with pytest.raises(HealthStop, match="6N-7H") as info:
        monitor.check(atoms, 2)
    assert info.value.details["atoms"] == [6, 7]


def test_non_finite_trigger_even_when_disabled():
    atoms, _ = _molecule()
    monitor = HealthMonitor(atoms, 300.0, enabled=False)
    atoms.positions[3] += [10.0, 0.0, 0.0]
    monitor.check(atoms, 1)  # disabled: a broken bond passes
    atoms.positions[0, 0] = np.nan
    with pytest.raises(HealthStop, match="non-finite"):
        monitor.check(atoms, 2)


def test_calculator_errors_become_stops():
    assert stop_from_calculator_error(CloseAtomsError("atoms 1 and 2"), 5).reason == "close_atoms"
    assert stop_from_calculator_error(NonFiniteOutputError("nan"), 5).reason == "non_finite"
    assert stop_from_calculator_error(ValueError("other"), 5) is None


def test_calculator_error_mid_run_stops_with_the_last_good_frame(tmp_path, model):
    # The calculator measures every edge (min_distance_A) and checks its outputs; its typed errors
    # raised inside a step become stops. Here it reports close atoms at its 6th evaluation (step 5).
    settings = MDSettings(structure=str(BPA_START), model=model, ensemble="nvt-langevin", steps=20, interval=2,
                          device="cpu", output_dir=str(tmp_path))
    calc = make_calculator(model, device="cpu", min_distance=settings.min_distance_A)
    original = calc.calculate

    def calculate(*args, **kwargs):
        if calc.n_evaluations == 5:
            raise CloseAtomsError("atoms 3 (C) and 9 (H) are 0.3 Å apart")
        original(*args, **kwargs)

    calc.calculate = calculate
    with pytest.raises(HealthStop, match="0.3 Å apart") as info:
        run_md(settings, calculator=calc, progress=None)
    assert (info.value.reason, info.value.step) == ("close_atoms", 5)
    assert read(info.value.frame_path).info["step"] == 4
    assert json.loads(open(info.value.report_path).read())["thresholds"]["min_distance_A"] == 0.5
