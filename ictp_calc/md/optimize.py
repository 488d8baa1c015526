"""Geometry optimization (``ictp-md optimize``): BFGS, LBFGS or FIRE, with the cell for periodic systems.

The cell is relaxed through ASE's ``FrechetCellFilter`` (positions and the cell's deformation
gradient in one optimization, at an external ``pressure_bar``); fixed atoms use ``FixAtoms``. The
optimized structure is written even when the optimization does not converge, and then
:class:`~ictp_calc.md.errors.NotConvergedError` (exit code 4) is raised, naming the remaining force.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Sequence, TextIO, Union

import numpy as np
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator

from ..data.checks import NonFiniteOutputError, StructureError
from .errors import InputError, NotConvergedError, RunInterrupted
from .inputs import attach_calculator, make_calculator, read_structure
from .outputs import TrajectoryWriter

__all__ = ["OPTIMIZERS", "OptimizeResult", "check_writable", "optimize", "parse_indices"]

OPTIMIZERS = ("BFGS", "LBFGS", "FIRE")


@dataclass
class OptimizeResult:
    """Outcome of :func:`optimize`.

    Attributes:
        converged: the largest force (and cell force, with the cell) fell below ``fmax``.
        steps: optimizer steps taken.
        energy_eV: final potential energy, eV.
        fmax_eV_A: final largest atomic force norm (fixed atoms excluded), eV/Å.
        atoms: the final structure (with a SinglePointCalculator holding energy and forces).
        output, trajectory: the files written.
    """

    converged: bool
    steps: int
    energy_eV: float
    fmax_eV_A: float
    atoms: Atoms
    output: str
    trajectory: Optional[str]


def parse_indices(text: str) -> list:
    """``"0,3,5-8"`` -> ``[0, 3, 5, 6, 7, 8]`` (0-based atom indices; ranges inclusive)."""
    indices = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                indices.extend(range(lo, hi + 1))
            else:
                indices.append(int(part))
        except ValueError as err:
            raise InputError(f"cannot read atom indices {text!r} (expected e.g. 0,3,5-8)") from err
    return sorted(set(indices))


def check_writable(path: str) -> None:
    """Raise :class:`InputError` when the file ``path`` cannot be created (its folder is made if missing)."""
    folder = os.path.dirname(os.path.abspath(path))
    blocking = folder
    while blocking and not os.path.exists(blocking):
        blocking = os.path.dirname(blocking)
    if blocking and not os.path.isdir(blocking):
        raise InputError(f"cannot write {path!r}: {blocking!r} is a file, not a folder")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot create the folder of {path!r}: {err.strerror or err}") from err
    if not os.access(folder, os.W_OK | os.X_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise InputError(f"cannot write {path!r} (permission denied)")


def _write_final(atoms: Atoms, converged: bool, steps: int, output: str):
    """Write the structure with its energy and forces to ``output``; returns it and the largest force."""
    forces = atoms.get_forces()  # constraints applied: fixed atoms have zero force
    final = atoms.copy()
    final.calc = SinglePointCalculator(final, energy=atoms.get_potential_energy(), forces=forces)
    largest = float(np.linalg.norm(forces, axis=1).max())
    final.info.update(converged=converged, optimizer_steps=int(steps), fmax_eV_A=largest)
    final.write(output, format="extxyz")
    return final, largest


def optimize(
    structure: Union[str, Atoms],
    model: Optional[str] = None,
    calculator=None,
    optimizer: str = "BFGS",
    fmax: float = 0.05,
    steps: int = 500,
    relax_cell: Optional[bool] = None,
    pressure_bar: float = 0.0,
    fixed: Sequence[int] = (),
    output: str = "optimized.extxyz",
    trajectory: Optional[str] = "optimization.extxyz",
    device: str = "auto",
    dtype: Optional[str] = None,
    log: Optional[TextIO] = None,
) -> OptimizeResult:
    """Relax ``structure`` until the largest force is below ``fmax`` (eV/Å).

    Args:
        structure: file (last frame) or Atoms (copied).
        model: model file (None: the shipped model); ignored when ``calculator`` is given.
        calculator: an ASE calculator to use instead.
        optimizer: ``"BFGS"``, ``"LBFGS"`` or ``"FIRE"``.
        fmax: convergence threshold, eV/Å (with the cell, it applies to the filter's generalized
            forces too, i.e. to the stress times the volume).
        steps: maximum number of optimizer steps.
        relax_cell: relax the cell too; None relaxes it for cells periodic in all three directions.
        pressure_bar: external pressure for the cell relaxation, bar.
        fixed: 0-based indices of atoms kept in place.
        output: the final structure (extxyz; energy and forces included).
        trajectory: every optimizer step (extxyz, or ASE binary for ``.traj``); None writes none.
        device, dtype: calculator settings.
        log: stream for ASE's per-step optimizer log (None: quiet).

    Raises:
        InputError: unusable input or settings.
        NotConvergedError: ``steps`` ran out (after writing the last structure), or the optimizer
            moved the atoms where the model cannot be evaluated (atoms too close, non-finite outputs).
        RunInterrupted: Ctrl-C (KeyboardInterrupt), after writing the last structure (exit code 130).
    """
    from ase.filters import FrechetCellFilter

    atoms, relax_cell = _prepared(structure, optimizer, fmax, steps, relax_cell, fixed)
    calc = calculator or make_calculator(model, device=device, dtype=dtype)
    attach_calculator(atoms, calc)
    for path in filter(None, (output, trajectory)):
        check_writable(path)
    target = FrechetCellFilter(atoms, scalar_pressure=pressure_bar * units.bar) if relax_cell else atoms
    converged, n_steps = _relax(atoms, target, optimizer.upper(), fmax, steps, output, trajectory, log)
    final, largest = _write_final(atoms, converged, n_steps, output)
    result = OptimizeResult(converged, n_steps, float(atoms.get_potential_energy()), largest, final, output,
                            trajectory)
    if not converged:
        error = NotConvergedError(
            f"{optimizer.upper()} did not converge in {n_steps} steps: largest force {largest:.4f} eV/Å "
            f"(fmax {fmax} eV/Å){' or cell stress still too large' if relax_cell else ''}; the last structure "
            f"is in {output}; continue from it or raise --steps"
        )
        error.result = result  # type: ignore[attr-defined]
        raise error
    return result


def _prepared(structure, optimizer: str, fmax: float, steps: int, relax_cell, fixed):
    """The structure to relax (with its fixed atoms) and whether its cell relaxes; checks the settings."""
    from ase.constraints import FixAtoms

    if optimizer.upper() not in OPTIMIZERS:
        raise InputError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {optimizer!r}")
    if not (fmax > 0 and steps >= 0):
        raise InputError(f"fmax must be > 0 and steps >= 0 (got {fmax}, {steps})")
    atoms = read_structure(structure) if isinstance(structure, str) else structure.copy()
    bad = [i for i in fixed if not 0 <= i < len(atoms)]
    if bad:
        raise InputError(f"fixed atom indices {bad} are out of range for {len(atoms)} atoms")
    if fixed:
        atoms.set_constraint(FixAtoms(indices=list(fixed)))
    if relax_cell is None:
        relax_cell = bool(atoms.pbc.all())
    if relax_cell and not atoms.pbc.all():
        raise InputError("cell relaxation needs a cell periodic in all three directions")
    return atoms, relax_cell


def _relax(atoms, target, name: str, fmax: float, steps: int, output: str, trajectory, log):
    """Run ASE's optimizer ``name`` on ``target``; returns ``(converged, steps taken)``."""
    from ase import optimize as ase_optimize

    opt = getattr(ase_optimize, name)(target, logfile=log)
    writer = None
    if trajectory:
        writer = TrajectoryWriter(trajectory, timestep_fs=None)
        opt.attach(lambda: writer.write(atoms, opt.nsteps), interval=1)
    try:
        converged = bool(opt.run(fmax=fmax, steps=steps))
    except KeyboardInterrupt as err:
        _write_final(atoms, False, opt.nsteps, output)
        raise RunInterrupted(f"{name} interrupted at step {opt.nsteps}; the last structure is in {output}") from err
    except (StructureError, NonFiniteOutputError) as err:
        # The optimizer drove the structure somewhere the model cannot evaluate (atoms on top of each
        # other, non-finite outputs): an optimization that failed, not bad input.
        raise NotConvergedError(f"{name} failed at step {opt.nsteps}: {err}") from err
    finally:
        if writer is not None:
            writer.close()
    return converged, int(opt.nsteps)
