"""The ASE dynamics object of each ensemble, and the integrator state a restart needs.

=================  ===================================================  =========================
ensemble           ASE class                                            conserved quantity
=================  ===================================================  =========================
nve                ``ase.md.verlet.VelocityVerlet``                     Epot + Ekin
nvt-langevin       ``ase.md.langevin.Langevin`` (``fixcm=False``)       none
nvt-bussi          ``ase.md.bussi.Bussi`` (stochastic rescaling)        Epot + Ekin - heat taken
nvt-nose-hoover    ``ase.md.nose_hoover_chain.NoseHooverChainNVT``      extended energy
npt, mtk           ``ase.md.nose_hoover_chain.IsotropicMTKNPT``         extended enthalpy
npt, berendsen     ``ase.md.nptberendsen.NPTBerendsen``                 none
=================  ===================================================  =========================

Langevin runs with ``fixcm=False``: ASE deprecates ``fixcm=True`` because it does not sample the
canonical distribution exactly; the centre of mass then diffuses, which changes nothing physical.
``npt`` needs a cell periodic in all three directions (the barostat needs the stress).

Restart state: the thermostat and barostat variables are private attributes of ASE's classes; the
names are listed per class in :data:`_STATE`, and :func:`get_state` fails loudly if an ASE version
renamed them, rather than restarting with a silently reset thermostat. Langevin and Bussi draw their
noise from a ``numpy.random.Generator`` whose bit-generator state is saved too.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np
from ase import Atoms, units
from ase.md.md import MolecularDynamics

from .errors import InputError, RestartError
from .settings import MDSettings

__all__ = ["build_dynamics", "conserved_energy", "get_state", "set_state"]

_NHC = ("_thermostat._eta", "_thermostat._p_eta")
_STATE = {
    "VelocityVerlet": (),
    "Langevin": (),
    "Bussi": ("transferred_energy",),
    "NoseHooverChainNVT": _NHC,
    "IsotropicMTKNPT": _NHC + ("_barostat._xi", "_barostat._p_xi", "_eps", "_p_eps", "_volume0", "_cell0"),
    "NPTBerendsen": (),
}


def build_dynamics(atoms: Atoms, settings: MDSettings, rng: np.random.Generator) -> MolecularDynamics:
    """The ASE dynamics of ``settings.ensemble`` for ``atoms`` (calculator and momenta already set).

    Args:
        atoms: the system; its momenta are the initial momenta.
        settings: ensemble and parameters (CLI units; converted here to ASE units).
        rng: the random numbers of the stochastic thermostats (ignored by the others).

    Raises:
        InputError: ``npt`` for a cell that is not periodic in all three directions.
    """
    s = settings
    dt = s.timestep_fs * units.fs
    if s.ensemble == "nve":
        from ase.md.verlet import VelocityVerlet

        return VelocityVerlet(atoms, dt)
    if s.ensemble == "nvt-langevin":
        from ase.md.langevin import Langevin

        friction = s.friction_per_ps / (1000.0 * units.fs)  # 1/ps -> 1/(ASE time)
        return Langevin(atoms, dt, temperature_K=s.temperature_K, friction=friction, fixcm=False, rng=rng)
    if s.ensemble == "nvt-bussi":
        from ase.md.bussi import Bussi

        return Bussi(atoms, dt, temperature_K=s.temperature_K, taut=s.tau_fs * units.fs, rng=rng)
    if s.ensemble == "nvt-nose-hoover":
        from ase.md.nose_hoover_chain import NoseHooverChainNVT

        return NoseHooverChainNVT(atoms, dt, temperature_K=s.temperature_K, tdamp=s.tau_fs * units.fs, tchain=3)
    if not atoms.pbc.all():  # npt
        raise InputError(
            f"ensemble npt needs a cell periodic in all three directions (pbc is {atoms.pbc.tolist()}); "
            "use an nvt ensemble for molecules"
        )
    pressure = s.pressure_bar * units.bar  # eV/Å^3
    if s.barostat == "mtk":
        from ase.md.nose_hoover_chain import IsotropicMTKNPT

        return IsotropicMTKNPT(
            atoms, dt, temperature_K=s.temperature_K, pressure_au=pressure, tdamp=s.tau_fs * units.fs,
            pdamp=s.tau_p_fs * units.fs,
        )
    from ase.md.nptberendsen import NPTBerendsen

    return NPTBerendsen(
        atoms, dt, temperature_K=s.temperature_K, pressure_au=pressure, taut=s.tau_fs * units.fs,
        taup=s.tau_p_fs * units.fs, compressibility_au=s.compressibility_per_bar / units.bar,
    )


def conserved_energy(dyn: MolecularDynamics) -> Optional[float]:
    """The integrator's conserved energy (eV), or None for Langevin and Berendsen."""
    name = type(dyn).__name__
    if name in ("NoseHooverChainNVT", "IsotropicMTKNPT"):
        return dyn.get_conserved_energy()
    atoms = dyn.atoms
    if name == "VelocityVerlet":
        return atoms.get_potential_energy() + atoms.get_kinetic_energy()
    if name == "Bussi":  # the heat the thermostat put in is subtracted
        return atoms.get_potential_energy() + atoms.get_kinetic_energy() - dyn.transferred_energy
    return None


def _resolve(obj: Any, path: str):
    owner_path, _, attribute = path.rpartition(".")
    owner = obj
    for part in filter(None, owner_path.split(".")):
        owner = getattr(owner, part)
    if not hasattr(owner, attribute):
        raise RestartError(
            f"{type(obj).__name__} has no attribute {path!r}: this ASE version stores its integrator state "
            "differently, so an exact restart is not possible"
        )
    return owner, attribute


def get_state(dyn: MolecularDynamics) -> Dict[str, Any]:
    """The integrator's own state (thermostat/barostat variables, RNG state) as arrays and primitives.

    Returns:
        ``{"arrays": {path: ndarray}, "rng": bit_generator.state or None}``.
    """
    names = _STATE[type(dyn).__name__]
    arrays = {}
    for path in names:
        owner, attribute = _resolve(dyn, path)
        arrays[path] = np.array(getattr(owner, attribute), dtype=float, copy=True)
    rng = getattr(dyn, "rng", None)
    rng_state = rng.bit_generator.state if isinstance(rng, np.random.Generator) else None
    return {"arrays": arrays, "rng": rng_state}


def set_state(dyn: MolecularDynamics, state: Dict[str, Any]) -> None:
    """Restore what :func:`get_state` returned into a freshly built dynamics object of the same class."""
    expected = set(_STATE[type(dyn).__name__])
    if set(state["arrays"]) != expected:
        raise RestartError(
            f"the checkpoint holds the state {sorted(state['arrays'])}, "
            f"but {type(dyn).__name__} needs {sorted(expected)}"
        )
    for path, value in state["arrays"].items():
        owner, attribute = _resolve(dyn, path)
        current = getattr(owner, attribute)
        # Scalars stay Python floats (ASE does arithmetic on them); arrays keep their shape.
        setattr(owner, attribute, float(value) if np.ndim(current) == 0 else np.array(value, dtype=float))
    if state.get("rng") is not None:
        dyn.rng.bit_generator.state = state["rng"]
