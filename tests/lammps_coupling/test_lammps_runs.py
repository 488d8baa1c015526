"""ICTP models inside LAMMPS (``pair_style mliap unified FILE 1``): equal to ICTPCalculator.

Needs the LAMMPS of ``tools/build_lammps.sh`` (``.ci/run`` builds it); skipped with that reason
where it is absent. Float64 throughout; a small random-weight model keeps the runs short.
"""

import re

import numpy as np
import pytest
from ase import units
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary, ZeroRotation
from ase.md.verlet import VelocityVerlet
from lammps_helpers import CUTOFF, bpa_atoms, methanol_liquid
from lammps_runner import (
    REPO, SINGLE_POINT, SKIP_REASON, find_lammps, header, read_single_point, run_lammps, write_data,
)

from ictp_calc.calculator import ICTPCalculator
from ictp_calc.lammps import export_lammps

FOUND = find_lammps()
pytestmark = pytest.mark.skipif(FOUND is None, reason=SKIP_REASON)

SKIN = 1.0
COMM = 2 * CUTOFF + SKIN
RTOL = 1e-8


@pytest.fixture(scope="module")
def exported(model_file, tmp_path_factory):
    return export_lammps(model_file, tmp_path_factory.mktemp("export") / "ictp.pkl", skin=SKIN)


def _reference(model_file, atoms, periodic: bool):
    atoms = atoms.copy()
    atoms.calc = ICTPCalculator(model_file, device="cpu", dtype="float64")
    forces = atoms.get_forces()
    if periodic:
        virial = -atoms.get_stress(voigt=False) * atoms.get_volume()
    else:  # a molecule: sum_i x_i (x) f_i (translation-invariant, the forces sum to zero)
        virial = np.einsum("ia,ib->ab", atoms.positions - atoms.positions.mean(0), forces)
    return atoms.get_potential_energy(), atoms.get_potential_energies(), forces, virial


def _assert_close(result, reference):
    energy, energies, forces, virial = result
    ref_energy, ref_energies, ref_forces, ref_virial = reference
    scale = np.abs(ref_forces).max()
    assert scale > 0.1  # the comparison could fail
    np.testing.assert_allclose(energy, ref_energy, rtol=RTOL)
    np.testing.assert_allclose(energies, ref_energies, rtol=RTOL, atol=RTOL * np.abs(ref_energies).max())
    np.testing.assert_allclose(forces, ref_forces, rtol=RTOL, atol=RTOL * scale)
    np.testing.assert_allclose(virial, ref_virial, rtol=RTOL, atol=RTOL * np.abs(ref_virial).max())


def _single_point(atoms, exported, tmp_path, n_ranks=1):
    write_data(tmp_path / "data.lmp", atoms)
    done = run_lammps(FOUND, tmp_path, header(exported.path, COMM, SKIN) + SINGLE_POINT, n_ranks)
    assert done.returncode == 0, done.stdout[-3000:]
    return read_single_point(tmp_path, len(atoms))


def test_bpa_in_a_large_box_equals_calculator(model_file, exported, tmp_path):
    atoms = bpa_atoms()
    if atoms is None:
        pytest.skip("the 3BPA data set (../shared/data/3bpa) is absent")
    reference = _reference(model_file, atoms, periodic=False)
    atoms.cell = 40.0 * np.eye(3)
    atoms.pbc = True
    atoms.center()
    _assert_close(_single_point(atoms, exported, tmp_path), reference)


@pytest.fixture(scope="module")
def liquid():
    return methanol_liquid((5, 5, 7), seed=7)  # 1,050 atoms, 18.5 x 18.5 x 25.9 Å


@pytest.fixture(scope="module")
def liquid_reference(model_file, liquid):
    return _reference(model_file, liquid, periodic=True)


def _rank_memory_mb(workdir) -> float:
    """The largest per-rank memory LAMMPS reports for the run (its own arrays, ML-IAP's included)."""
    found = re.search(r"Per MPI rank memory allocation \(min/avg/max\) = \S+ \| \S+ \| (\S+) Mbytes",
                      (workdir / "log.lammps").read_text())
    assert found, "LAMMPS printed no memory line"
    return float(found.group(1))


@pytest.mark.parametrize("n_ranks", [1, 2])
def test_periodic_liquid_equals_calculator(liquid, liquid_reference, exported, tmp_path, n_ranks):
    """1 rank, and 2 ranks (domain decomposition, ghosts across the boundary) equal the calculator.

    LAMMPS 4 Feb 2025 sized ML-IAP's neighbor copy as atoms x pairs (about 8 GB for this box, 104 GB
    for 8,000 atoms); tools/lammps-patches/ sizes it by the largest neighbor count.
    """
    _assert_close(_single_point(liquid, exported, tmp_path, n_ranks), liquid_reference)
    assert _rank_memory_mb(tmp_path) < 1000.0


def test_nve_conserves_energy_as_the_ase_path_does(tmp_path):
    """Same start, same 0.5 fs step, shipped 3BPA model: LAMMPS's NVE drifts no more than ASE's.

    The shipped model (a random one would not hold the molecule together); 200 steps here, the
    full 1,000 in ``benchmarks/bench_lammps.py nve``.
    """
    from ase.io import read

    model = REPO / "models" / "ictp-3bpa.pt"
    atoms = read(REPO / "examples" / "data" / "3bpa_start.xyz")
    atoms.calc = None
    MaxwellBoltzmannDistribution(atoms, temperature_K=300.0, rng=np.random.default_rng(8))
    Stationary(atoms)
    ZeroRotation(atoms)
    n_steps, every = 200, 10
    settings = export_lammps(model, tmp_path / "ictp-3bpa.pkl", skin=SKIN)
    boxed = atoms.copy()
    boxed.cell, boxed.pbc = 40.0 * np.eye(3), True
    boxed.center()
    write_data(tmp_path / "data.lmp", boxed, velocities=True)
    script = header(settings.path, settings.comm_cutoff, SKIN) + (
        f"timestep 0.0005\nfix nve all nve\nthermo {n_steps}\n"
        f"fix out all print {every} \"$(step) $(pe:%.15g) $(etotal:%.15g)\" file nve.txt screen no\n"
        f"run {n_steps}\n"
    )
    done = run_lammps(FOUND, tmp_path, script)
    assert done.returncode == 0, done.stdout[-3000:]
    lammps = np.loadtxt(tmp_path / "nve.txt")
    md = atoms.copy()
    md.calc = ICTPCalculator(model, device="cpu", dtype="float64", skin=SKIN)
    ase_rows = []
    dyn = VelocityVerlet(md, timestep=0.5 * units.fs)
    dyn.attach(lambda: ase_rows.append((dyn.nsteps, md.get_potential_energy(), md.get_total_energy())), every)
    dyn.run(n_steps)
    ase = np.array(ase_rows)
    steps = np.intersect1d(lammps[:, 0], ase[:, 0])
    assert steps.size >= n_steps // every  # LAMMPS may or may not print step 0
    lammps = lammps[np.isin(lammps[:, 0], steps)]
    ase = ase[np.isin(ase[:, 0], steps)]
    # The two integrators are the same algorithm on the same forces: the first steps agree closely.
    np.testing.assert_allclose(lammps[:3, 1], ase[:3, 1], rtol=1e-9)
    drift_lammps, drift_ase = abs(lammps[-1, 2] - lammps[0, 2]), abs(ase[-1, 2] - ase[0, 2])
    spread_lammps, spread_ase = np.ptp(lammps[:, 2]), np.ptp(ase[:, 2])
    assert spread_ase > 0.0
    assert spread_lammps <= 1.5 * spread_ase + 1e-5, (spread_lammps, spread_ase)
    assert drift_lammps <= 1.5 * drift_ase + 1e-5, (drift_lammps, drift_ase)


def test_unknown_element_in_pair_coeff_is_an_error(exported, tmp_path):
    atoms = methanol_liquid((2, 2, 2), seed=9)
    write_data(tmp_path / "data.lmp", atoms)
    script = header(exported.path, COMM, SKIN, elements=["H", "C", "Xx", "O"]) + "run 0\n"
    done = run_lammps(FOUND, tmp_path, script)
    assert done.returncode != 0
    assert "Incorrect args for pair coefficients" in done.stdout + (tmp_path / "log.lammps").read_text()


@pytest.mark.parametrize("ghost_neighbors, comm, expected", [
    (False, COMM, "pair_style mliap unified FILE 1"),
    (True, None, "comm_modify cutoff"),
])
def test_wrong_ghost_settings_are_refused(exported, tmp_path, ghost_neighbors, comm, expected):
    atoms = methanol_liquid((3, 3, 3), seed=10)
    write_data(tmp_path / "data.lmp", atoms)
    script = header(exported.path, comm, SKIN, ghost_neighbors=ghost_neighbors) + "run 0\n"
    done = run_lammps(FOUND, tmp_path, script)
    assert done.returncode != 0
    assert "GhostSettingsError" in done.stdout and expected in done.stdout, done.stdout[-3000:]
