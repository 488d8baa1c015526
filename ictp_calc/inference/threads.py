"""How many CPU threads a model evaluation should use (a pure choice; nothing is set here).

A molecule of a few dozen atoms is overhead-bound: hundreds of small torch operations per
energy and forces call, each too small to split. Extra OpenMP threads then only add
synchronization (and, unless ``OMP_WAIT_POLICY=PASSIVE``, spin while idle), so one thread is
fastest; large systems are compute-bound and gain from every free core. Measurements are in
``benchmarks/README.md``.
"""

from __future__ import annotations

import os
from typing import Optional

__all__ = ["SMALL_SYSTEM_ATOMS", "available_cores", "choose_threads"]

# Below this many atoms per evaluation one thread is the default (see the module docstring).
SMALL_SYSTEM_ATOMS = 1000


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def choose_threads(requested: Optional[int], n_atoms: Optional[int]) -> int:
    """Threads for evaluations of ``n_atoms`` atoms: ``requested`` when given, else by size.

    Args:
        requested: an explicit thread count (>= 1), or None for the default.
        n_atoms: atoms per evaluation, or None when unknown (then all available cores).

    Returns:
        1 below :data:`SMALL_SYSTEM_ATOMS` atoms, else the available cores.

    Raises:
        ValueError: ``requested < 1``.
    """
    if requested is not None:
        if int(requested) < 1:
            raise ValueError(f"threads must be >= 1, got {requested}")
        return int(requested)
    if n_atoms is not None and n_atoms < SMALL_SYSTEM_ATOMS:
        return 1
    return available_cores()
