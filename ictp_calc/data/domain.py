"""Out of domain: element pairs closer than any such pair in a model's training data.

Training records, per element pair, the shortest distance within the cutoff in its data (model
metadata ``training.statistics.shortest_distances_A``, see
:func:`ictp_calc.data.statistics.compute_statistics`). A structure with a pair below it is outside
what the model has seen: its predictions are extrapolations. The calculator and
:func:`ictp_calc.predict.predict` warn with :class:`OutOfDomainWarning`, once per structure; ``ictp-md``
turns the warning into a line of its output.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import numpy as np

from .statistics import pair_key

__all__ = ["OutOfDomainWarning", "shortest_distances", "domain_thresholds", "out_of_domain"]


class OutOfDomainWarning(UserWarning):
    """A structure has an element pair closer than any in the model's training data."""


def shortest_distances(metadata: Dict[str, Any]) -> Dict[str, float]:
    """``{pair: distance}`` recorded in a model file's metadata (empty when none is recorded)."""
    statistics = (metadata.get("training") or {}).get("statistics") or {}
    return dict(statistics.get("shortest_distances_A") or {})


def domain_thresholds(distances: Dict[str, float], atomic_numbers: Sequence[int], scale: float = 1.0) -> np.ndarray:
    """``[S, S]`` shortest distance per species pair times ``scale`` (0 where none is recorded)."""
    n = len(atomic_numbers)
    table = np.zeros((n, n))
    for a in range(n):
        for b in range(n):
            table[a, b] = float(distances.get(pair_key(atomic_numbers[a], atomic_numbers[b]), 0.0)) * scale
    return table


def out_of_domain(
    lengths: np.ndarray, species: np.ndarray, receiver: np.ndarray, sender: np.ndarray, thresholds: np.ndarray,
    atomic_numbers: Sequence[int],
) -> Optional[str]:
    """The warning text for the pair furthest below its threshold, or None when none is below.

    Args:
        lengths: ``[E]`` edge lengths, in the unit of ``thresholds`` (Å).
        species: ``[N]`` species indices; ``receiver`` / ``sender``: ``[E]`` atom indices of the edges.
        thresholds: from :func:`domain_thresholds`.
        atomic_numbers: the model's elements, in species order.
    """
    if not len(receiver) or not thresholds.any():
        return None
    a, b = species[receiver], species[sender]
    limits = thresholds[a, b]
    below = np.flatnonzero(lengths < limits)
    if not len(below):
        return None
    from ase.data import chemical_symbols

    k = below[np.argmin(lengths[below] / limits[below])]
    i, j = int(receiver[k]), int(sender[k])
    zi, zj = chemical_symbols[atomic_numbers[a[k]]], chemical_symbols[atomic_numbers[b[k]]]
    return (
        f"atoms {i} ({zi}) and {j} ({zj}) are {lengths[k]:.3f} Å apart, closer than any such pair in the model's "
        f"training data ({limits[k]:.3f} Å); {len(below) // 2 or 1} pair(s) are below it: the predictions are "
        "extrapolations"
    )
