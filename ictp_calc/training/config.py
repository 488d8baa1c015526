"""Typed, frozen training configuration (the optimization hyperparameters of spec §2.10 and §3)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict

__all__ = ["TrainingConfig"]


@dataclass(frozen=True)
class TrainingConfig:
    """Optimization settings; defaults follow the authors' 3BPA protocol (spec §2.10, §3).

    Attributes:
        n_train / n_valid: sizes of the seeded random split.
        batch_size / eval_batch_size: structures per optimizer step / per evaluation batch.
        lr: Adam learning rate; amsgrad: use AMSGrad.
        weight_decay: L2 on product-basis and ``linear_second`` weights only.
        scheduler_factor / scheduler_patience: ReduceLROnPlateau on the validation loss.
        max_epoch: epochs to run (best epoch selected on validation).
        ema / ema_decay: exponential moving average of the weights.
        energy_weight / forces_weight / stress_weight: summed-loss weights
            (energy per sqrt(atoms), forces, stress).
        max_grad_norm: gradient clipping, 0 for none.
        seed: split, initialization and shuffling seed.
    """

    n_train: int = 450
    n_valid: int = 50
    batch_size: int = 5
    eval_batch_size: int = 10
    lr: float = 0.01
    amsgrad: bool = True
    weight_decay: float = 5e-7
    scheduler_factor: float = 0.8
    scheduler_patience: int = 50
    max_epoch: int = 2000
    ema: bool = True
    ema_decay: float = 0.99
    energy_weight: float = 1.0
    forces_weight: float = 10.0
    stress_weight: float = 0.0
    max_grad_norm: float = 0.0
    seed: int = 0

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "TrainingConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TrainingConfig keys: {unknown}")
        return cls(**data)
