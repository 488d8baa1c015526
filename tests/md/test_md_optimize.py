"""Geometry optimization: convergence to fmax, cell relaxation, fixed atoms, failures.

The physics checks use ASE's EMT (a real potential energy surface with known minima); the random
tiny ICTP model drives the command-line tests in ``tests/cli/test_cli_optimize.py``.
"""

import numpy as np
import pytest
from ase.calculators.emt import EMT
from ase.cluster import Icosahedron
from ase.io import read
from md_helpers import copper

from ictp_calc.md import InputError, NotConvergedError, optimize
from ictp_calc.md.optimize import parse_indices


@pytest.mark.parametrize("name", ["BFGS", "LBFGS", "FIRE"])
def test_distorted_cluster_reaches_fmax(tmp_path, name):
    cluster = Icosahedron("Cu", noshells=2)
    cluster.rattle(0.1, seed=2)
    result = optimize(cluster, calculator=EMT(), optimizer=name, fmax=0.01, steps=1000,
                      output=str(tmp_path / "opt.extxyz"), trajectory=str(tmp_path / "traj.extxyz"))
    assert result.converged and result.fmax_eV_A < 0.01
    final = read(tmp_path / "opt.extxyz")
    assert np.linalg.norm(final.get_forces(), axis=1).max() < 0.01 and final.info["converged"]
    frames = read(tmp_path / "traj.extxyz", ":")
    assert len(frames) == result.steps + 1 and frames[0].get_potential_energy() > result.energy_eV
    assert not final.cell.any() and not final.pbc.any()


def test_strained_periodic_cell_relaxes(tmp_path):
    # fcc Cu stretched from EMT's equilibrium (a = 3.59 Å) to 3.80 Å: FrechetCellFilter shrinks it back.
    strained = copper(a=3.80, rattle=0.02, seed=1)
    result = optimize(strained, calculator=EMT(), fmax=0.005, output=str(tmp_path / "cu.extxyz"), trajectory=None)
    assert result.converged
    a = result.atoms.cell.lengths() / 2  # 2x2x2 conventional cells
    np.testing.assert_allclose(a, 3.590, atol=0.003)
    assert abs(result.atoms.get_volume() - strained.get_volume()) > 30.0
    fixed_cell = optimize(strained, calculator=EMT(), relax_cell=False, fmax=0.005, trajectory=None,
                          output=str(tmp_path / "fixed.extxyz"))
    np.testing.assert_array_equal(fixed_cell.atoms.cell.array, strained.cell.array)


def test_fixed_atoms_stay_and_pressure_compresses(tmp_path):
    strained = copper(a=3.65, rattle=0.05, seed=3)
    result = optimize(strained, calculator=EMT(), fmax=0.01, fixed=[0, 5], relax_cell=False, trajectory=None,
                      output=str(tmp_path / "o.extxyz"))
    np.testing.assert_array_equal(result.atoms.positions[[0, 5]], strained.positions[[0, 5]])
    assert np.abs(result.atoms.positions - strained.positions).max() > 0.01
    free = optimize(copper(a=3.59), calculator=EMT(), fmax=0.001, trajectory=None, output=str(tmp_path / "p0.xyz"))
    squeezed = optimize(copper(a=3.59), calculator=EMT(), fmax=0.001, pressure_bar=1e5, trajectory=None,
                        output=str(tmp_path / "p1.xyz"))  # 10 GPa
    assert squeezed.atoms.get_volume() < 0.97 * free.atoms.get_volume()


def test_not_converged_and_bad_input(tmp_path):
    cluster = Icosahedron("Cu", noshells=2)
    cluster.rattle(0.2, seed=0)
    with pytest.raises(NotConvergedError, match="did not converge in 2 steps") as info:
        optimize(cluster, calculator=EMT(), fmax=1e-4, steps=2, output=str(tmp_path / "o.extxyz"), trajectory=None)
    assert info.value.exit_code == 4 and not read(tmp_path / "o.extxyz").info["converged"]
    with pytest.raises(InputError, match="out of range"):
        optimize(cluster, calculator=EMT(), fixed=[13], output=str(tmp_path / "x.extxyz"))
    with pytest.raises(InputError, match="periodic"):
        optimize(cluster, calculator=EMT(), relax_cell=True, output=str(tmp_path / "x.extxyz"))
    with pytest.raises(InputError, match="optimizer"):
        optimize(cluster, calculator=EMT(), optimizer="CG", output=str(tmp_path / "x.extxyz"))
    assert parse_indices("0, 3,5-7") == [0, 3, 5, 6, 7]
    with pytest.raises(InputError):
        parse_indices("a-b")
