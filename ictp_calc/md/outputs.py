"""Files of an MD run: trajectory, CSV log and manifest, with truncation for exact restarts.

Layout of ``output_dir`` (names in :data:`OUTPUT_FILES`)::

    trajectory.extxyz | trajectory.traj   frames every ``interval`` steps from step 0 (positions,
                                          momenta, energy, forces; ``info``: step, time_ps)
    log.csv                               one row per frame (columns: :func:`log_columns`)
    manifest.json                         settings, versions, model checksum, one entry per segment
    checkpoint.npz                        restart state (see :mod:`ictp_calc.md.restart`)

Frames and log rows sit at steps ``0, interval, 2 interval, ...``. A restart first cuts both files
back to the checkpoint's step (:func:`truncate_outputs`), so that frames written after the last
checkpoint of an interrupted run are neither lost nor duplicated: they are written again, equal.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import sys
from typing import Any, Dict, List, Optional

import numpy as np
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator

from .. import __version__

__all__ = [
    "OUTPUT_FILES", "trajectory_path", "TrajectoryWriter", "LogWriter", "log_columns", "read_log",
    "truncate_outputs", "versions", "write_json", "now",
]

OUTPUT_FILES = {"log": "log.csv", "manifest": "manifest.json", "checkpoint": "checkpoint.npz"}
_STEP = re.compile(r"(?:^|\s)step=(\d+)")


def trajectory_path(output_dir: str, fmt: str) -> str:
    return os.path.join(output_dir, f"trajectory.{fmt}")


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def versions() -> Dict[str, str]:
    """Versions of everything that can change a trajectory's numbers."""
    import ase
    import torch

    return {"ictp_calc": __version__, "torch": torch.__version__, "ase": ase.__version__,
            "numpy": np.__version__, "python": sys.version.split()[0], "platform": platform.platform()}


def write_json(path: str, payload: Dict[str, Any]) -> None:
    """Write JSON atomically (temporary file, then rename): a crash never leaves half a file."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=1)
    os.replace(tmp, path)


def _frame(atoms: Atoms, step: int, timestep_fs: Optional[float]) -> Atoms:
    """A copy of ``atoms`` carrying its energy and forces (already computed), the step and the time."""
    frame = atoms.copy()
    frame.calc = SinglePointCalculator(
        frame, energy=atoms.get_potential_energy(), forces=atoms.get_forces()
    )
    frame.info["step"] = int(step)
    if timestep_fs is not None:
        frame.info["time_ps"] = step * timestep_fs / 1000.0
    return frame


class TrajectoryWriter:
    """Appends frames to an extxyz or ASE ``.traj`` file (kept open; flushed per frame).

    Args:
        path: file; ``.traj`` selects ASE's binary format, anything else extxyz.
        timestep_fs: fs, to store ``time_ps`` in each frame (None: no time, e.g. optimizer steps).
        append: keep existing frames (restart) instead of starting a new file.
    """

    def __init__(self, path: str, timestep_fs: Optional[float], append: bool = False):
        self.path, self.timestep_fs = path, timestep_fs
        self.binary = path.endswith(".traj")
        if self.binary:
            from ase.io.trajectory import Trajectory

            self._handle = Trajectory(path, "a" if append else "w")
        else:
            self._handle = open(path, "a" if append else "w", encoding="utf-8")

    def write(self, atoms: Atoms, step: int) -> None:
        frame = _frame(atoms, step, self.timestep_fs)
        if self.binary:
            self._handle.write(frame)
        else:
            from ase.io import write

            write(self._handle, frame, format="extxyz")
            self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def log_columns(conserved: bool, npt: bool) -> List[str]:
    """CSV columns: step, time_ps, epot_eV, ekin_eV, temperature_K [, conserved_eV] [, volume_A3, pressure_bar]."""
    columns = ["step", "time_ps", "epot_eV", "ekin_eV", "temperature_K"]
    if conserved:
        columns.append("conserved_eV")
    if npt:
        columns += ["volume_A3", "pressure_bar"]
    return columns


class LogWriter:
    """CSV log, one row per call of :meth:`write` (flushed, so a crashed run keeps its log)."""

    def __init__(self, path: str, columns: List[str], timestep_fs: float, append: bool = False):
        self.columns, self.timestep_fs = columns, timestep_fs
        exists = append and os.path.exists(path)
        self._handle = open(path, "a" if exists else "w", encoding="utf-8")
        if not exists:
            self._handle.write(",".join(columns) + "\n")

    def write(self, atoms: Atoms, step: int, conserved: Optional[float]) -> None:
        values = [str(step), f"{step * self.timestep_fs / 1000.0:.6f}", f"{atoms.get_potential_energy():.8f}",
                  f"{atoms.get_kinetic_energy():.8f}", f"{atoms.get_temperature():.4f}"]
        if "conserved_eV" in self.columns:
            values.append(f"{conserved:.8f}")
        if "volume_A3" in self.columns:
            stress = atoms.get_stress(voigt=False, include_ideal_gas=True)
            values += [f"{atoms.get_volume():.6f}", f"{-np.trace(stress) / 3.0 / units.bar:.6f}"]
        self._handle.write(",".join(values) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def read_log(path: str) -> Dict[str, np.ndarray]:
    """The CSV log as ``{column: float array}``."""
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return {name: data[:, k] for k, name in enumerate(header)}


def _truncate_extxyz(path: str, last_step: int) -> None:
    """Cut an extxyz file before its first frame after ``last_step`` (byte-exact; only headers are parsed)."""
    with open(path, "rb+") as handle:
        while True:
            offset = handle.tell()
            count = handle.readline()
            if not count.strip():
                break  # end of file (or a partly written frame of a killed run: cut it away too)
            match = _STEP.search(handle.readline().decode("utf-8"))
            if match is None:
                raise ValueError(f"{path}: a frame at byte {offset} has no step in its comment line")
            if int(match.group(1)) > last_step:
                break
            for _ in range(int(count)):
                handle.readline()
        handle.truncate(offset)


def _truncate_traj(path: str, last_step: int) -> None:
    from ase.io.trajectory import Trajectory

    with Trajectory(path) as old:
        frames = [frame for frame in old if frame.info["step"] <= last_step]
    tmp = path + ".tmp.traj"
    with Trajectory(tmp, "w") as new:
        for frame in frames:
            new.write(frame)
    os.replace(tmp, path)


def truncate_outputs(output_dir: str, fmt: str, last_step: int) -> None:
    """Drop frames and log rows after ``last_step`` (the checkpoint's step) before a restart appends.

    Frames are selected by the step stored in each, so the interval may differ between segments.
    """
    path = trajectory_path(output_dir, fmt)
    if fmt == "traj":
        _truncate_traj(path, last_step)
    else:
        _truncate_extxyz(path, last_step)
    log = os.path.join(output_dir, OUTPUT_FILES["log"])
    with open(log, encoding="utf-8") as handle:
        lines = handle.readlines()
    kept = lines[:1] + [line for line in lines[1:] if line.strip() and int(line.split(",", 1)[0]) <= last_step]
    with open(log, "w", encoding="utf-8") as handle:
        handle.writelines(kept)
