"""Training loss: squared errors summed over the batch (spec §3), NaN labels masked out.

``L = w_E sum_b (dE_b)^2 / N_b + w_F sum_{b,i,a} (dF_bia)^2 + w_S sum_b sum_voigt (dsigma_b)^2``

The sum (not the mean) over structures follows the authors' code, so the default weights
(1 : 10) and learning rate (0.01) keep their meaning: with a mean the energy:force balance
would shift with the atoms per batch and the effective step size with the batch size.
"""

from __future__ import annotations

from typing import Dict

import torch

from .. import keys

__all__ = ["WeightedLoss", "VOIGT"]

# Voigt order xx, yy, zz, yz, xz, xy of a symmetric 3x3 tensor.
VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


def masked_difference(pred: torch.Tensor, ref: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``pred - ref`` where ``mask``, else 0, with finite gradients even where ``ref`` is NaN.

    ``where(mask, pred - ref, 0)`` alone would back-propagate ``0 * NaN = NaN`` into ``pred``.
    """
    return torch.where(mask, pred - torch.where(mask, ref, torch.zeros_like(ref)), torch.zeros_like(pred))


def stress_error(out: Dict[str, torch.Tensor], batch: Dict[str, torch.Tensor]) -> torch.Tensor:
    """Voigt-6 stress errors ``[G, 6]``, zero for graphs without a label or without a volume.

    Computed from the virial and a guarded volume, because the model's stress of a zero-volume
    cell is NaN and would poison the gradients.
    """
    ref = batch[keys.REF_STRESS]
    volume = torch.linalg.det(batch[keys.CELL]).abs()
    mask = torch.isfinite(ref).flatten(1).all(1) & (volume > 0)
    safe_volume = torch.where(mask, volume, torch.ones_like(volume))
    pred = -out[keys.VIRIAL] / safe_volume.view(-1, 1, 1)
    rows, cols = zip(*VOIGT)
    return masked_difference(pred[:, rows, cols], ref[:, rows, cols], mask.unsqueeze(1))


class WeightedLoss:
    """Summed squared-error loss on energies (per sqrt(atoms)), forces and optionally stress."""

    def __init__(self, energy_weight: float = 1.0, forces_weight: float = 10.0, stress_weight: float = 0.0):
        self.energy_weight = float(energy_weight)
        self.forces_weight = float(forces_weight)
        self.stress_weight = float(stress_weight)

    @property
    def needs_forces(self) -> bool:
        return self.forces_weight > 0

    @property
    def needs_stress(self) -> bool:
        return self.stress_weight > 0

    def __call__(self, out: Dict[str, torch.Tensor], batch: Dict[str, torch.Tensor]) -> torch.Tensor:
        """Scalar loss of one batch, summed over its structures."""
        # The energy difference is taken in float64 (reference energies are float64, see keys);
        # the loss then follows the model's dtype.
        ref_energy = batch[keys.REF_ENERGY].double()
        n_atoms = batch[keys.N_ATOMS].double()
        d_energy = masked_difference(out[keys.ENERGY].double(), ref_energy, torch.isfinite(ref_energy))
        loss = (self.energy_weight * (d_energy.square() / n_atoms).sum()).to(out[keys.ENERGY].dtype)
        if self.needs_forces:
            ref = batch[keys.REF_FORCES]
            mask = torch.isfinite(ref).all(1, keepdim=True)
            loss = loss + self.forces_weight * masked_difference(out[keys.FORCES], ref, mask).square().sum()
        if self.needs_stress:
            loss = loss + self.stress_weight * stress_error(out, batch).square().sum()
        return loss
