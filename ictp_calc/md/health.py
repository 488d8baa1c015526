"""Health monitor: stop an MD run cleanly when the simulation has gone unphysical.

Checks after every step (each O(N) or O(bonds), negligible next to a model evaluation):

* ``non_finite``: a position or momentum is NaN/inf; the calculator reports non-finite forces or
  energies itself (:class:`~ictp_calc.data.checks.NonFiniteOutputError`). Always on.
* ``close_atoms``: two atoms closer than ``min_distance_A``. The calculator already measures every
  edge of its neighbor list, so the run builds it with ``min_distance=min_distance_A`` and turns its
  :class:`~ictp_calc.data.checks.CloseAtomsError` into this stop (no second distance computation).
* ``temperature``: the instantaneous temperature above ``max_temperature_factor`` times the target.
* ``bond_stretch`` (molecules only): a covalent bond of the starting structure (ASE's natural
  cutoffs times 1.2) longer than ``bond_stretch_factor`` times its starting length, i.e. the molecule broke.

On a stop, :meth:`HealthMonitor.report` writes the last good frame (extxyz, with momenta) and a JSON
diagnostic, and the :class:`~ictp_calc.md.errors.HealthStop` carries their paths.
"""

from __future__ import annotations

import json
import os
from typing import Optional, Tuple

import numpy as np
from ase import Atoms
from ase.neighborlist import NeighborList, natural_cutoffs

from ..data.checks import CloseAtomsError, NonFiniteOutputError, NonFinitePositionsError
from .errors import HealthStop
from .velocities import is_molecule

__all__ = ["HealthMonitor", "covalent_bonds", "stop_from_calculator_error", "HEALTH_FILES"]

HEALTH_FILES = {"frame": "last_good_frame.extxyz", "report": "health_stop.json"}


def covalent_bonds(atoms: Atoms, factor: float = 1.2) -> np.ndarray:
    """Covalent bonds ``[B, 2]`` (i < j): pairs closer than ``factor`` times the sum of covalent radii.

    ASE's natural cutoffs are the covalent radii themselves, slightly shorter than many real bonds
    (C-H: 0.76 + 0.31 = 1.07 Å against about 1.09 Å), hence the factor 1.2, which still stays below
    the distance of atoms two bonds apart (about 1.7 times a bond).
    """
    nl = NeighborList(natural_cutoffs(atoms, mult=factor), self_interaction=False, bothways=False, skin=0.0)
    nl.update(atoms)
    pairs = [(i, int(j)) for i in range(len(atoms)) for j, offset in zip(*nl.get_neighbors(i)) if not offset.any()]
    return np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)


def stop_from_calculator_error(err: Exception, step: int) -> Optional[HealthStop]:
    """The :class:`HealthStop` for a calculator error raised during a step, or None for other errors."""
    if isinstance(err, CloseAtomsError):
        return HealthStop("close_atoms", step, str(err))
    if isinstance(err, (NonFiniteOutputError, NonFinitePositionsError)):
        return HealthStop("non_finite", step, str(err))
    return None


class HealthMonitor:
    """Checks the state after each step and remembers the last good one.

    Args:
        start: the starting structure (its bonds are the reference for ``bond_stretch``).
        target_temperature_K: K; 0 disables the temperature check.
        enabled: False keeps only the non-finite check.
        max_temperature_factor, bond_stretch_factor: thresholds (see the module docstring).
        timestep_fs: fs, to report times in ps.
        min_distance_A: the calculator's minimum distance, Å (only reported; the calculator checks it).
    """

    def __init__(
        self, start: Atoms, target_temperature_K: float, enabled: bool = True, max_temperature_factor: float = 3.0,
        bond_stretch_factor: float = 1.5, timestep_fs: float = 1.0, min_distance_A: float = 0.0,
    ):
        self.enabled = enabled
        self.min_distance_A = min_distance_A
        self.max_temperature_K = max_temperature_factor * target_temperature_K
        self.bond_stretch_factor = bond_stretch_factor
        self.timestep_fs = timestep_fs
        self.bonds = covalent_bonds(start) if enabled and is_molecule(start) else np.zeros((0, 2), np.int64)
        self.bond_lengths = self._lengths(start.positions) if len(self.bonds) else np.zeros(0)
        self._last: Optional[Tuple[int, np.ndarray, np.ndarray, np.ndarray]] = None

    def _lengths(self, positions: np.ndarray) -> np.ndarray:
        return np.linalg.norm(positions[self.bonds[:, 0]] - positions[self.bonds[:, 1]], axis=1)

    def check(self, atoms: Atoms, step: int) -> None:
        """Raise :class:`HealthStop` if the state of ``atoms`` after ``step`` is unhealthy."""
        positions, momenta = atoms.positions, atoms.get_momenta()
        if not (np.isfinite(positions).all() and np.isfinite(momenta).all()):
            raise HealthStop("non_finite", step, "positions or momenta became non-finite")
        if not self.enabled:
            return
        if self.max_temperature_K > 0:
            temperature = atoms.get_temperature()
            if temperature > self.max_temperature_K:
                raise HealthStop(
                    "temperature", step,
                    f"temperature {temperature:.1f} K exceeds the limit {self.max_temperature_K:.1f} K",
                    {"temperature_K": temperature, "limit_K": self.max_temperature_K},
                )
        if len(self.bonds):
            ratio = self._lengths(positions) / self.bond_lengths
            k = int(np.argmax(ratio))
            if ratio[k] > self.bond_stretch_factor:
                i, j = (int(x) for x in self.bonds[k])
                symbols = atoms.get_chemical_symbols()
                raise HealthStop(
                    "bond_stretch", step,
                    f"bond {i}{symbols[i]}-{j}{symbols[j]} stretched to {ratio[k]:.2f} times its starting length "
                    f"{self.bond_lengths[k]:.3f} Å (limit {self.bond_stretch_factor:g}): the molecule broke",
                    {"atoms": [i, j], "ratio": float(ratio[k]), "start_length_A": float(self.bond_lengths[k]),
                     "limit": self.bond_stretch_factor},
                )

    def remember(self, atoms: Atoms, step: int) -> None:
        """Keep the (checked) state after ``step`` as the last good frame."""
        self._last = (step, atoms.positions.copy(), atoms.get_momenta(), atoms.cell.array.copy())

    @property
    def last_good_step(self) -> Optional[int]:
        return None if self._last is None else self._last[0]

    def report(self, stop: HealthStop, atoms: Atoms, output_dir: str) -> HealthStop:
        """Write the last good frame and the diagnostic JSON into ``output_dir``; return ``stop`` with their paths."""
        os.makedirs(output_dir, exist_ok=True)
        if self._last is not None:
            step, positions, momenta, cell = self._last
            frame = Atoms(atoms.numbers, positions=positions, momenta=momenta, cell=cell, pbc=atoms.pbc)
            frame.info.update(step=step, time_ps=step * self.timestep_fs / 1000.0)
            stop.frame_path = os.path.join(output_dir, HEALTH_FILES["frame"])
            frame.write(stop.frame_path, format="extxyz")
        stop.report_path = os.path.join(output_dir, HEALTH_FILES["report"])
        report = {
            "reason": stop.reason,
            "message": stop.message,
            "step": stop.step,
            "time_ps": stop.step * self.timestep_fs / 1000.0,
            "last_good_step": self.last_good_step,
            "last_good_frame": stop.frame_path,
            "details": stop.details,
            "thresholds": {
                "min_distance_A": self.min_distance_A if self.enabled else None,
                "max_temperature_K": self.max_temperature_K if self.enabled else None,
                "bond_stretch_factor": self.bond_stretch_factor if self.enabled and len(self.bonds) else None,
                "n_bonds_watched": int(len(self.bonds)),
            },
        }
        with open(stop.report_path, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=1)
        return stop
