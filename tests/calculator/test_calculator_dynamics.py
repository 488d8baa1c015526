"""The calculator under ASE dynamics, filters and SumCalculator: skin reuse, call counts, results."""

import numpy as np
import pytest
from ase import units
from ase.calculators.lj import LennardJones
from ase.calculators.mixing import SumCalculator
from ase.filters import FrechetCellFilter
from ase.md.langevin import Langevin
from ase.md.logger import MDLogger
from ase.md.nose_hoover_chain import MTKNPT
from ase.md.nptberendsen import NPTBerendsen
from ase.md.velocitydistribution import thermalize_momenta
from ase.md.verlet import VelocityVerlet
from ase.optimize import FIRE
from calc_helpers import ForwardCounter, molecule_atoms, triclinic_atoms

from ictp_calc.calculator import ICTPCalculator

TIGHT = dict(rtol=1e-12, atol=1e-12)


def _thermalized(atoms, temperature_K, seed=0):
    thermalize_momenta(atoms, temperature_K=temperature_K, rng=np.random.default_rng(seed))
    return atoms


@pytest.mark.parametrize("make_atoms", [triclinic_atoms, molecule_atoms], ids=["periodic", "molecule"])
def test_skin_reuse_is_exact_along_md(model, make_atoms):
    """With a skin, every step of a trajectory equals a fresh calculation without skin."""
    atoms = _thermalized(make_atoms(), 1000.0)
    atoms.calc = calc = ICTPCalculator(model, device="cpu", skin=0.3)
    reference = ICTPCalculator(model, device="cpu", skin=0.0)
    periodic = atoms.pbc.all()
    checked = []

    def compare():
        probe = atoms.copy()
        probe.calc = reference
        np.testing.assert_allclose(atoms.get_potential_energy(), probe.get_potential_energy(), **TIGHT)
        np.testing.assert_allclose(atoms.get_forces(), probe.get_forces(), **TIGHT)
        np.testing.assert_allclose(atoms.get_potential_energies(), probe.get_potential_energies(), **TIGHT)
        if periodic:
            np.testing.assert_allclose(atoms.get_stress(), probe.get_stress(), **TIGHT)
        checked.append(calc.neighbors.rebuilt)

    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    dyn.attach(compare, interval=1)
    dyn.run(20)
    assert len(checked) == 21
    # The list was reused on some steps and rebuilt on others: both paths were compared.
    assert 1 < calc.neighbors.n_builds < 21
    assert any(checked[1:]) and not all(checked[1:])


def test_skin_rebuilds_when_the_cell_changes(model):
    atoms = triclinic_atoms()
    atoms.calc = calc = ICTPCalculator(model, device="cpu", skin=0.5)
    atoms.get_forces()
    atoms.positions[0] += [0.05, -0.05, 0.0]
    atoms.get_forces()
    assert calc.neighbors.n_builds == 1 and calc.n_evaluations == 2
    atoms.set_cell(atoms.cell.array * 1.01, scale_atoms=True)
    forces, stress = atoms.get_forces(), atoms.get_stress()
    assert calc.neighbors.n_builds == 2
    probe = atoms.copy()
    probe.calc = ICTPCalculator(model, device="cpu")
    np.testing.assert_allclose(forces, probe.get_forces(), **TIGHT)
    np.testing.assert_allclose(stress, probe.get_stress(), **TIGHT)


def _run_counted(dyn, atoms, calc, n_steps, tmp_path):
    """Run ``n_steps`` with an MDLogger that logs stress; return (forward calls, distinct structures)."""
    counter = ForwardCounter(calc.model)
    seen = set()
    original = calc.calculate

    def recording(atoms=None, properties=None, system_changes=()):
        seen.add((atoms.positions.tobytes(), atoms.cell.array.tobytes()))
        return original(atoms, properties, system_changes)

    calc.calculate = recording
    log = tmp_path / "md.log"
    dyn.attach(MDLogger(dyn, atoms, str(log), header=True, stress=True), interval=1)
    dyn.run(n_steps)
    counter.remove()
    assert len(log.read_text().splitlines()) == n_steps + 2  # header and one line per state
    return counter.count, len(seen)


def test_one_evaluation_per_step_langevin_with_logger(model, tmp_path):
    atoms = _thermalized(triclinic_atoms(), 300.0)
    atoms.calc = calc = ICTPCalculator(model, device="cpu")
    dyn = Langevin(atoms, 0.5 * units.fs, temperature_K=300.0, friction=0.01, fixcm=False,
                   rng=np.random.default_rng(1))
    count, distinct = _run_counted(dyn, atoms, calc, 10, tmp_path)
    assert count == distinct == 11  # the initial structure and one per step


def test_one_evaluation_per_step_mtk_npt_with_stress_logging(model, tmp_path):
    atoms = _thermalized(triclinic_atoms(), 300.0)
    atoms.calc = calc = ICTPCalculator(model, device="cpu", skin=0.2)
    dyn = MTKNPT(atoms, 0.5 * units.fs, temperature_K=300.0, pressure_au=1e-4 * units.GPa,
                 tdamp=50 * units.fs, pdamp=500 * units.fs)
    cell0 = atoms.cell.array.copy()
    count, distinct = _run_counted(dyn, atoms, calc, 10, tmp_path)
    assert not np.array_equal(atoms.cell.array, cell0), "the barostat should have moved the cell"
    assert count == distinct == 11
    assert calc.neighbors.n_builds == 11  # the cell changes at every step


def test_berendsen_npt_never_evaluates_a_structure_twice(model, tmp_path):
    """NPTBerendsen rescales the cell between its stress and its force calls, so it asks for two
    structures per step; each of them must cost exactly one evaluation."""
    atoms = _thermalized(triclinic_atoms(), 300.0)
    atoms.calc = calc = ICTPCalculator(model, device="cpu")
    dyn = NPTBerendsen(atoms, 0.5 * units.fs, temperature_K=300.0, pressure_au=1e-4 * units.GPa,
                       compressibility_au=1e-2 / units.GPa)
    count, distinct = _run_counted(dyn, atoms, calc, 5, tmp_path)
    assert count == distinct


def test_sum_calculator_with_a_dispersion_term(model):
    atoms = triclinic_atoms()
    lj = dict(sigma=2.0, epsilon=0.01, rc=6.0, smooth=True)
    atoms.calc = SumCalculator([ICTPCalculator(model, device="cpu"), LennardJones(**lj)])
    energy, forces, stress = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    parts = []
    for calc in (ICTPCalculator(model, device="cpu"), LennardJones(**lj)):
        probe = atoms.copy()
        probe.calc = calc
        parts.append((probe.get_potential_energy(), probe.get_forces(), probe.get_stress()))
    assert abs(parts[1][0]) > 1e-4, "the dispersion term should contribute"
    np.testing.assert_allclose(energy, parts[0][0] + parts[1][0], **TIGHT)
    np.testing.assert_allclose(forces, parts[0][1] + parts[1][1], **TIGHT)
    np.testing.assert_allclose(stress, parts[0][2] + parts[1][2], **TIGHT)


def test_cell_relaxation_with_frechet_filter(model):
    atoms = triclinic_atoms()
    atoms.set_cell(atoms.cell.array @ np.array([[1.06, 0.03, 0.0], [0.0, 0.97, 0.02], [0.0, 0.0, 1.04]]),
                   scale_atoms=True)
    atoms.calc = ICTPCalculator(model, device="cpu")
    filtered = FrechetCellFilter(atoms)
    fmax0 = np.linalg.norm(filtered.get_forces(), axis=1).max()
    energy0 = atoms.get_potential_energy()
    cell0 = atoms.cell.array.copy()
    FIRE(filtered, logfile=None).run(fmax=1e-3, steps=60)
    fmax = np.linalg.norm(filtered.get_forces(), axis=1).max()
    assert fmax < 0.3 * fmax0
    assert atoms.get_potential_energy() < energy0
    assert not np.allclose(atoms.cell.array, cell0), "the cell should have relaxed too"
