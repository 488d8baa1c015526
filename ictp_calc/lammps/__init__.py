"""ICTP models in LAMMPS through the ML-IAP ``unified`` Python coupling, with MPI domain decomposition.

``ictp-md export-lammps MODEL OUT`` (:func:`export_lammps`) writes the file that
``pair_style mliap unified OUT 1`` loads and prints the lines a LAMMPS input needs. See
``docs/guides/lammps.md`` for building LAMMPS (``tools/build_lammps.sh``) and running it.
"""

from .export import LammpsSettings, export_lammps
from .ghosts import GhostSettingsError
from .unified import ICTPUnified, UnknownTypeError

__all__ = ["GhostSettingsError", "ICTPUnified", "LammpsSettings", "UnknownTypeError", "export_lammps"]
