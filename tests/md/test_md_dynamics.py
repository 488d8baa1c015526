"""Physics of the runs: NVE energy conservation, thermostat temperatures, initial velocities, units."""

import numpy as np
import pytest
from ase import units
from ase.io import read
from md_helpers import BPA_START, PairLJ, argon_cluster, tiny_model

from ictp_calc.md import MDSettings, run_md
from ictp_calc.md.ensembles import build_dynamics
from ictp_calc.md.outputs import read_log
from ictp_calc.md.velocities import initialize_velocities


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("model") / "tiny.pt")


def test_nve_conserves_energy_with_the_tiny_model(tmp_path, model):
    # 300 steps of 0.5 fs (0.15 ps) of 3BPA at 300 K in float64, health off: the random model does
    # not hold the molecule together, which makes the test harder, not easier.
    settings = MDSettings(structure=str(BPA_START), model=model, ensemble="nve", temperature_K=300.0, steps=300,
                          interval=5, device="cpu", health=False, output_dir=str(tmp_path))
    result = run_md(settings, progress=None)
    log = read_log(result.paths["log"])
    assert np.ptp(log["epot_eV"]) > 0.05  # energy really flows between potential and kinetic
    # Stated bounds: drift below 0.01 meV/atom/ps, largest deviation below 0.01 meV/atom.
    assert abs(result.drift_meV_per_atom_ps) < 0.01
    assert 1000 * np.abs(log["conserved_eV"] - log["conserved_eV"][0]).max() / result.n_atoms < 0.01


def _mean_and_error(temperature: np.ndarray, n_blocks: int = 10):
    """Mean and its standard error from block averages (the samples are correlated)."""
    blocks = temperature[: len(temperature) // n_blocks * n_blocks].reshape(n_blocks, -1).mean(1)
    return temperature.mean(), blocks.std(ddof=1) / np.sqrt(n_blocks)


@pytest.mark.parametrize("ensemble", ["nvt-langevin", "nvt-bussi"])
def test_thermostats_hold_the_target_temperature(tmp_path, ensemble):
    # Ar13 with a NumPy Lennard-Jones (microseconds per call), 20 K (solid cluster), 40 ps.
    structure = argon_cluster(tmp_path / "ar13.xyz")
    settings = MDSettings(structure=structure, ensemble=ensemble, temperature_K=20.0, timestep_fs=10.0, steps=4000,
                          interval=10, friction_per_ps=1.0, tau_fs=200.0, output_dir=str(tmp_path / "md"), seed=3)
    run_md(settings, calculator=PairLJ(), progress=None)
    log = read_log(str(tmp_path / "md" / "log.csv"))
    mean, error = _mean_and_error(log["temperature_K"][40:])  # 4 ps of equilibration dropped
    assert abs(mean - 20.0) < max(4 * error, 0.5), (mean, error)
    # The instantaneous temperature of 13 atoms fluctuates by sqrt(2 / 3N) = 23 % around the mean.
    assert 0.15 < log["temperature_K"][40:].std() / mean < 0.32


def test_initial_velocities(tmp_path):
    atoms = read(BPA_START)
    initialize_velocities(atoms, 450.0, np.random.default_rng(1))
    assert atoms.get_temperature() == pytest.approx(450.0, rel=1e-12)
    np.testing.assert_allclose(atoms.get_momenta().sum(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(atoms.get_angular_momentum(), 0.0, atol=1e-9)
    again = read(BPA_START)
    initialize_velocities(again, 450.0, np.random.default_rng(1))
    np.testing.assert_array_equal(atoms.get_momenta(), again.get_momenta())
    periodic = read(BPA_START)
    periodic.cell, periodic.pbc = [12.0] * 3, True  # a crystal may rotate nothing: only the drift goes
    initialize_velocities(periodic, 450.0, np.random.default_rng(1))
    assert np.abs(periodic.get_angular_momentum()).max() > 1e-3
    initialize_velocities(periodic, 0.0, np.random.default_rng(1))
    assert not periodic.get_momenta().any()


def test_units_reach_ase(tmp_path):
    atoms = read(BPA_START)
    atoms.set_momenta(np.ones((len(atoms), 3)))
    s = MDSettings(structure="x", timestep_fs=2.0, friction_per_ps=5.0, tau_fs=50.0)
    langevin = build_dynamics(atoms, s, np.random.default_rng(0))
    assert langevin.dt == pytest.approx(2.0 * units.fs)
    assert langevin.fr == pytest.approx(0.005 / units.fs)  # 5/ps = 0.005/fs
    bussi = build_dynamics(atoms, s.replace(ensemble="nvt-bussi"), np.random.default_rng(0))
    assert bussi.taut == pytest.approx(50.0 * units.fs)
    atoms.cell, atoms.pbc = [12.0] * 3, True
    mtk = build_dynamics(atoms, s.replace(ensemble="npt", pressure_bar=1000.0), np.random.default_rng(0))
    assert mtk._pressure_au == pytest.approx(1000.0 * units.bar)
    berendsen = build_dynamics(atoms, s.replace(ensemble="npt", barostat="berendsen"), np.random.default_rng(0))
    assert berendsen.compressibility == pytest.approx(4.57e-5 / units.bar)
