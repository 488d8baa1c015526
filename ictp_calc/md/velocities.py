"""Initial velocities: Maxwell-Boltzmann, seeded, without drift (and without rotation for molecules)."""

from __future__ import annotations

import numpy as np
from ase import Atoms, units
from ase.md.velocitydistribution import Stationary, ZeroRotation

__all__ = ["initialize_velocities", "is_molecule"]


def is_molecule(atoms: Atoms) -> bool:
    """True for a structure without any periodic direction (a molecule or cluster in vacuum)."""
    return not atoms.pbc.any()


def initialize_velocities(atoms: Atoms, temperature_K: float, rng: np.random.Generator) -> None:
    """Set ``atoms``' momenta from a Maxwell-Boltzmann distribution at ``temperature_K`` (K).

    The total momentum is removed (no drift of the centre of mass); for molecules the angular
    momentum is removed too, since nothing in vacuum would ever damp a spinning molecule. The momenta
    are then rescaled so that the instantaneous temperature (ASE's, over 3N degrees of freedom minus
    constraints) is exactly ``temperature_K``: the removed drift and rotation would otherwise start
    the run cold.

    Args:
        atoms: modified in place.
        temperature_K: K; 0 sets all momenta to zero.
        rng: the random numbers (seeded by the caller, for reproducible runs).
    """
    if temperature_K == 0 or len(atoms) < 2:
        atoms.set_momenta(np.zeros((len(atoms), 3)))
        return
    # Each momentum component is normal with variance m kB T (sampled here rather than through ASE,
    # whose function for it was renamed in 3.29).
    masses = atoms.get_masses()[:, None]
    atoms.set_momenta(rng.standard_normal((len(atoms), 3)) * np.sqrt(masses * units.kB * temperature_K))
    Stationary(atoms, preserve_temperature=False)
    if is_molecule(atoms) and len(atoms) > 2:
        ZeroRotation(atoms, preserve_temperature=False)
    current = atoms.get_temperature()  # K, over ASE's degrees of freedom (3N minus constraints)
    if current > 0:
        atoms.set_momenta(atoms.get_momenta() * np.sqrt(temperature_K / current))
