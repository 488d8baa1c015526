"""Enumeration of even product paths ``(l1, l2) -> l3`` (spec §1.3)."""

from __future__ import annotations

from typing import List, Tuple

Path = Tuple[int, int, int]

__all__ = ["Path", "even_paths"]


def even_paths(l1_max: int, l2_max: int, l3_max: int, symmetric: bool = False) -> List[Path]:
    """All even paths with ``l1 <= l1_max``, ``l2 <= l2_max``, ``l3 <= l3_max``.

    Sorted by ``l3``, then ``l1``, then ``l2``. With ``symmetric`` only ``l1 >= l2`` is kept, which
    is complete when both factors are the same tensor (the product is symmetric under the swap).
    """
    paths = [
        (l1, l2, l3)
        for l3 in range(l3_max + 1)
        for l1 in range(l1_max + 1)
        for l2 in range(l2_max + 1)
        if abs(l1 - l2) <= l3 <= l1 + l2 and (l1 + l2 + l3) % 2 == 0
    ]
    if symmetric:
        paths = [p for p in paths if p[0] >= p[1]]
    return paths
