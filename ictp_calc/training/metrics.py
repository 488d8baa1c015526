"""Error metrics accumulated over batches: energy (total, per atom), forces, stress.

Units of :meth:`ErrorAccumulator.result`: meV (total energy), meV/atom, meV/Å (force
components), meV/Å^3 (stress components). Definitions follow spec §3:
``energy_per_atom_rmse = sqrt(mean_b (dE_b / N_b)^2)`` and
``forces_rmse = sqrt(sum dF^2 / (3 N_atoms))``. Structures or atoms without a label are skipped.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional

import numpy as np
import torch

from .. import keys
from .loss import stress_error

__all__ = ["ErrorAccumulator", "METRIC_UNITS"]

METRIC_UNITS = {
    "energy_rmse": "meV",
    "energy_mae": "meV",
    "energy_per_atom_rmse": "meV/atom",
    "energy_per_atom_mae": "meV/atom",
    "forces_rmse": "meV/Å",
    "forces_mae": "meV/Å",
    "stress_rmse": "meV/Å^3",
    "stress_mae": "meV/Å^3",
}

_SUMS = ("e_sq", "e_abs", "epa_sq", "epa_abs", "n_e", "f_sq", "f_abs", "n_f", "s_sq", "s_abs", "n_s")


class ErrorAccumulator:
    """Sums of squared and absolute errors, kept as device tensors until :meth:`result`.

    Keeping the sums on the device avoids one host synchronization per batch on a GPU.

    Args:
        keep_values: also keep per-structure energies and per-atom forces (for parity plots).
    """

    def __init__(self, keep_values: bool = False):
        self.sums: Optional[torch.Tensor] = None  # float64 [len(_SUMS)]
        self.n_structures = 0
        self.keep_values = keep_values
        self.values: Dict[str, List[np.ndarray]] = {k: [] for k in ("e_ref", "e_pred", "n_atoms", "f_ref", "f_pred")}

    @torch.no_grad()
    def update(self, out: Dict[str, torch.Tensor], batch: Dict[str, torch.Tensor]) -> None:
        ref_e = batch[keys.REF_ENERGY].double()
        n_atoms = batch[keys.N_ATOMS].double()
        e_mask = torch.isfinite(ref_e)
        d_e = torch.where(e_mask, out[keys.ENERGY].detach().double() - ref_e.nan_to_num(), 0.0)
        parts = [d_e.square().sum(), d_e.abs().sum(), (d_e / n_atoms).square().sum(), (d_e / n_atoms).abs().sum()]
        parts.append(e_mask.sum())
        zero = d_e.new_zeros(())
        if keys.FORCES in out:
            ref_f = batch[keys.REF_FORCES].double()
            f_mask = torch.isfinite(ref_f).all(1, keepdim=True)
            d_f = torch.where(f_mask, out[keys.FORCES].detach().double() - ref_f.nan_to_num(), 0.0)
            parts += [d_f.square().sum(), d_f.abs().sum(), 3 * f_mask.sum()]
        else:
            parts += [zero, zero, zero]
        if keys.VIRIAL in out:
            d_s = stress_error({keys.VIRIAL: out[keys.VIRIAL].detach()}, batch).double()
            has = torch.isfinite(batch[keys.REF_STRESS]).flatten(1).all(1) & (torch.linalg.det(batch[keys.CELL]) != 0)
            parts += [d_s.square().sum(), d_s.abs().sum(), 6 * has.sum()]
        else:
            parts += [zero, zero, zero]
        sums = torch.stack([p.double() for p in parts])
        self.sums = sums if self.sums is None else self.sums + sums
        self.n_structures += int(batch[keys.N_ATOMS].shape[0])
        if self.keep_values:
            self.values["e_ref"].append(ref_e.cpu().numpy())
            self.values["e_pred"].append(out[keys.ENERGY].detach().double().cpu().numpy())
            self.values["n_atoms"].append(n_atoms.cpu().numpy())
            if keys.FORCES in out:
                self.values["f_ref"].append(batch[keys.REF_FORCES].double().cpu().numpy())
                self.values["f_pred"].append(out[keys.FORCES].detach().double().cpu().numpy())

    def result(self) -> Dict[str, float]:
        """RMSE and MAE per quantity (see the module docstring for units); NaN without labels."""
        s = dict(zip(_SUMS, self.sums.tolist() if self.sums is not None else [0.0] * len(_SUMS)))

        def rms(total, n):
            return 1000.0 * math.sqrt(total / n) if n else float("nan")

        def mean(total, n):
            return 1000.0 * total / n if n else float("nan")

        out = {
            "energy_rmse": rms(s["e_sq"], s["n_e"]),
            "energy_mae": mean(s["e_abs"], s["n_e"]),
            "energy_per_atom_rmse": rms(s["epa_sq"], s["n_e"]),
            "energy_per_atom_mae": mean(s["epa_abs"], s["n_e"]),
            "forces_rmse": rms(s["f_sq"], s["n_f"]),
            "forces_mae": mean(s["f_abs"], s["n_f"]),
        }
        if s["n_s"]:
            out.update(stress_rmse=rms(s["s_sq"], s["n_s"]), stress_mae=mean(s["s_abs"], s["n_s"]))
        return out

    def arrays(self) -> Dict[str, np.ndarray]:
        """Concatenated kept values: ``e_ref``, ``e_pred`` (eV), ``n_atoms``, ``f_ref``, ``f_pred`` (eV/Å)."""
        return {k: np.concatenate(v) if v else np.zeros(0) for k, v in self.values.items()}
