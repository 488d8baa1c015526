"""Batched prediction for unlabeled structures (``ictp-md predict``): energies, per-atom energies,
forces and, for cells periodic in all three directions, stress.

:func:`predict` takes a list of ``ase.Atoms`` and returns copies carrying the predictions on a
``SinglePointCalculator`` (eV, eV/Å, eV/Å³ with ASE's stress sign), ready for ``ase.io.write``.
"""

from .batch import predict, predict_files

__all__ = ["predict", "predict_files"]
