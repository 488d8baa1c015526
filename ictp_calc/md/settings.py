"""Settings of an MD run: one frozen dataclass, in the units of the command line.

Times are in fs (``timestep_fs``, ``tau_fs``) or ps (``friction_per_ps``), temperatures in K,
pressures in bar, lengths in Å; the conversion to ASE's internal units happens only where the
ASE dynamics objects are built (:mod:`ictp_calc.md.ensembles`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional

from .errors import InputError, RestartError

__all__ = ["ENSEMBLES", "BAROSTATS", "TRAJECTORY_FORMATS", "MDSettings", "steps_for_time", "RESTART_MUTABLE"]

ENSEMBLES = ("nve", "nvt-langevin", "nvt-bussi", "nvt-nose-hoover", "npt")
BAROSTATS = ("mtk", "berendsen")
TRAJECTORY_FORMATS = ("extxyz", "traj")

# Settings a restart may change: length, output intervals, checks and performance knobs. The
# continuation is bitwise equal to an uninterrupted run when device, skin and interval stay the same.
RESTART_MUTABLE = frozenset(
    {"steps", "device", "skin", "interval", "checkpoint_interval", "health", "min_distance_A", "max_temperature_factor",
     "bond_stretch_factor", "output_dir", "structure", "model", "compile"}
)


@dataclass(frozen=True)
class MDSettings:
    """Everything that defines an MD run (see ``ictp-md run --help`` for the meaning of each field).

    Attributes:
        structure: structure file (anything ``ase.io.read`` reads; the last frame is used).
        model: model file; None means the shipped model (:func:`~ictp_calc.md.inputs.default_model_path`).
        ensemble: one of :data:`ENSEMBLES`.
        temperature_K: target temperature (thermostats, barostat) and initial Maxwell-Boltzmann
            temperature (all ensembles), K.
        timestep_fs: integration time step, fs.
        steps: total length of the run in steps; a restart continues up to this step.
        friction_per_ps: Langevin friction, 1/ps.
        tau_fs: time constant of the Bussi and Nose-Hoover thermostats (and of the thermostat of the
            MTK barostat), fs.
        barostat: ``"mtk"`` (isotropic Martyna-Tobias-Klein) or ``"berendsen"``, for ``npt``.
        pressure_bar: external pressure, bar.
        tau_p_fs: barostat time constant, fs.
        compressibility_per_bar: compressibility for the Berendsen barostat, 1/bar.
        seed: seed of the initial velocities and of the stochastic thermostats.
        device, dtype, skin: calculator settings (skin in Å).
        compile: evaluate with the compiled path (``ICTPCalculator(compile=True)``).
        interval: trajectory frame and log line every this many steps.
        checkpoint_interval: restart checkpoint every this many steps (and at the end).
        output_dir: directory of all outputs.
        trajectory_format: ``"extxyz"`` or ``"traj"`` (ASE's binary trajectory).
        health: run the health monitor (non-finite values always stop the run).
        min_distance_A: health: two atoms closer than this stop the run, Å.
        max_temperature_factor: health: a temperature above this factor times ``temperature_K``
            stops the run.
        bond_stretch_factor: health (molecules): a covalent bond of the starting structure longer than
            this factor times its starting length stops the run.
    """

    structure: str
    model: Optional[str] = None
    ensemble: str = "nvt-langevin"
    temperature_K: float = 300.0
    timestep_fs: float = 0.5
    steps: int = 1000
    friction_per_ps: float = 10.0
    tau_fs: float = 100.0
    barostat: str = "mtk"
    pressure_bar: float = 1.01325
    tau_p_fs: float = 1000.0
    compressibility_per_bar: float = 4.57e-5
    seed: int = 0
    device: str = "auto"
    dtype: Optional[str] = None
    skin: float = 0.5
    compile: bool = False
    interval: int = 10
    checkpoint_interval: int = 1000
    output_dir: str = "md"
    trajectory_format: str = "extxyz"
    health: bool = True
    min_distance_A: float = 0.5
    max_temperature_factor: float = 3.0
    bond_stretch_factor: float = 1.5

    def __post_init__(self):
        choices = (("ensemble", ENSEMBLES), ("barostat", BAROSTATS), ("trajectory_format", TRAJECTORY_FORMATS))
        for name, allowed in choices:
            if getattr(self, name) not in allowed:
                raise InputError(f"{name} must be one of {', '.join(allowed)}; got {getattr(self, name)!r}")
        positive = ("timestep_fs", "friction_per_ps", "tau_fs", "tau_p_fs", "compressibility_per_bar",
                    "max_temperature_factor", "bond_stretch_factor")
        for name in positive:
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"{name} must be a positive number, got {value}")
        for name in ("steps", "interval", "checkpoint_interval"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (0 if name == "steps" else 1):
                raise InputError(f"{name} must be an integer >= {0 if name == 'steps' else 1}, got {value!r}")
        if not (math.isfinite(self.temperature_K) and self.temperature_K >= 0):
            raise InputError(f"temperature_K must be >= 0, got {self.temperature_K}")
        if self.temperature_K == 0 and self.ensemble != "nve":
            raise InputError(f"ensemble {self.ensemble} needs temperature_K > 0")
        if self.skin < 0 or self.min_distance_A < 0 or not math.isfinite(self.pressure_bar):
            raise InputError("skin and min_distance_A must be >= 0 and pressure_bar finite")

    @property
    def has_conserved_energy(self) -> bool:
        """Whether the integrator has a conserved energy (logged as ``conserved_eV``)."""
        return self.ensemble in ("nve", "nvt-bussi", "nvt-nose-hoover") or (
            self.ensemble == "npt" and self.barostat == "mtk"
        )

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "MDSettings":
        """The settings of ``values`` (e.g. from :meth:`to_dict`).

        Raises:
            InputError: an unknown key (a misspelled setting is never dropped silently) or a bad value.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"unknown MD setting(s) {unknown}; known: {sorted(known)}")
        return cls(**dict(values))

    def replace(self, **changes: Any) -> "MDSettings":
        return dataclasses.replace(self, **changes)

    def check_restart(self, stored: "MDSettings") -> None:
        """Raise :class:`RestartError` if a setting that shapes the trajectory differs from ``stored``."""
        mine, theirs = self.to_dict(), stored.to_dict()
        diffs = [f"{k}: checkpoint {theirs[k]!r}, now {mine[k]!r}" for k in mine
                 if k not in RESTART_MUTABLE and mine[k] != theirs[k]]
        if diffs:
            raise RestartError("the restart settings contradict the checkpoint (" + "; ".join(diffs) + ")")


def steps_for_time(time_ps: float, timestep_fs: float) -> int:
    """Number of steps covering ``time_ps`` picoseconds with a ``timestep_fs`` time step (rounded)."""
    if not (math.isfinite(time_ps) and time_ps >= 0):
        raise InputError(f"time_ps must be >= 0, got {time_ps}")
    return int(round(time_ps * 1000.0 / timestep_fs))
