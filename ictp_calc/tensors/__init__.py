"""Pure irreducible Cartesian tensor math (torch only, no module state).

:mod:`~ictp_calc.tensors.reference` holds the slow textbook definitions used by the tests,
:mod:`~ictp_calc.tensors.compressed` the fast independent-component implementation the model uses.
"""

from .compressed import (
    coupling_table,
    from_cartesian,
    harmonic_matrix,
    harmonics,
    irreducible_product,
    rank_dim,
    rank_slice,
    rank_split,
    stf_basis,
    to_cartesian,
)
from .paths import Path, even_paths
from .reference import coupling_constant, double_factorial

__all__ = [
    "Path",
    "coupling_constant",
    "coupling_table",
    "double_factorial",
    "even_paths",
    "from_cartesian",
    "harmonic_matrix",
    "harmonics",
    "irreducible_product",
    "rank_dim",
    "rank_slice",
    "rank_split",
    "stf_basis",
    "to_cartesian",
]
