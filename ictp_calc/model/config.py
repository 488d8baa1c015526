"""Typed, frozen model configuration (every architectural hyperparameter of spec §2.10)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import torch

from ..config_base import FrozenConfig

__all__ = ["ModelConfig", "DTYPES"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class ModelConfig(FrozenConfig):
    """Architecture of an ICTP model. Names follow the spec's config keys where they are clear.

    Attributes:
        atomic_numbers: elements the model knows, in species-index order.
        cutoff: radial cutoff r_c, Å.
        n_basis: number of Bessel functions B.
        n_polynomial_cutoff: envelope exponent p.
        radial_mlp: hidden widths of the radial MLP.
        readout_mlp: hidden widths of the last layer's readout MLP.
        n_hidden_feats: hidden channels F.
        n_product_feats: product-basis channels P.
        n_interactions: number of layers T.
        l_max_hidden_feats: largest rank L_h of hidden features.
        l_max_edge_attrs: largest rank L_e of the edge harmonics (and of A).
        correlation: correlation order nu of the product basis.
        symmetric_product: keep only l1 >= l2 in the first self-product.
        coupled_product_feats: channel-coupled product-basis weights.
        avg_n_neighbors: mean in-degree of the training set (message normalization).
        atomic_energies: isolated-atom energies E0 (eV) per element, or None for zeros.
        compute_regression_shift: add the per-atom mean and a ridge-regression shift to E0.
        isolated_atom_reference: subtract the network's own output for an atom without neighbors,
            so that such an atom has exactly the energy shift. Off by default: the energy is then
            the spec's (§2.7), and an isolated atom of element z has
            ``shift[z] + scale * ICTPModel.isolated_atom_output()[z]``, the readouts of its
            embedding carried through the skip connections.
        dtype: "float32" or "float64"; the model's parameters and arithmetic use it.
    """

    atomic_numbers: Tuple[int, ...]
    cutoff: float = 5.0
    n_basis: int = 8
    n_polynomial_cutoff: int = 5
    radial_mlp: Tuple[int, ...] = (64, 64, 64)
    readout_mlp: Tuple[int, ...] = (16,)
    n_hidden_feats: int = 16
    n_product_feats: int = 16
    n_interactions: int = 2
    l_max_hidden_feats: int = 1
    l_max_edge_attrs: int = 3
    correlation: int = 3
    symmetric_product: bool = True
    coupled_product_feats: bool = False
    avg_n_neighbors: float = 1.0
    atomic_energies: Optional[Tuple[float, ...]] = None
    compute_regression_shift: bool = True
    isolated_atom_reference: bool = False
    dtype: str = "float64"

    def __post_init__(self):
        for name in ("atomic_numbers", "radial_mlp", "readout_mlp"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        if self.atomic_energies is not None:
            object.__setattr__(self, "atomic_energies", tuple(float(v) for v in self.atomic_energies))
        self._validate()

    def _validate(self):
        checks = [
            (len(self.atomic_numbers) > 0, "atomic_numbers must name at least one element"),
            (len(set(self.atomic_numbers)) == len(self.atomic_numbers), "atomic_numbers has duplicates"),
            (all(1 <= z <= 118 for z in self.atomic_numbers), "atomic_numbers must lie in 1..118"),
            (self.cutoff > 0, "cutoff must be positive"),
            (self.n_basis >= 1 and self.n_polynomial_cutoff >= 1, "n_basis and n_polynomial_cutoff must be >= 1"),
            (all(w >= 1 for w in self.radial_mlp + self.readout_mlp), "MLP widths must be >= 1"),
            (self.n_hidden_feats >= 1 and self.n_product_feats >= 1, "feature widths must be >= 1"),
            (self.n_interactions >= 1, "n_interactions must be >= 1"),
            (self.l_max_hidden_feats >= 0 and self.l_max_edge_attrs >= 0, "ranks must be >= 0"),
            (self.l_max_hidden_feats <= self.l_max_edge_attrs, "l_max_hidden_feats must be <= l_max_edge_attrs"),
            (self.correlation >= 1, "correlation must be >= 1"),
            (self.avg_n_neighbors > 0, "avg_n_neighbors must be positive"),
            (self.dtype in DTYPES, f"dtype must be one of {sorted(DTYPES)}"),
            (
                self.atomic_energies is None or len(self.atomic_energies) == len(self.atomic_numbers),
                "atomic_energies needs one value per element of atomic_numbers",
            ),
        ]
        self._require(checks)

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    @property
    def n_species(self) -> int:
        return len(self.atomic_numbers)

    def to_dict(self) -> Dict[str, Any]:
        """Primitive-typed dictionary (lists, not tuples), safe for ``torch.load(weights_only=True)``."""
        out = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}
