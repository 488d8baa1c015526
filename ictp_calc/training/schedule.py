"""Learning rate and loss weights as functions of the epoch: the two stages of a run.

Stage one runs epochs ``1 .. stage_two_start - 1`` (all epochs without a second stage) with the
configured loss weights and schedule:

* ``plateau``: ReduceLROnPlateau on the validation loss (the authors' protocol, spec §3); the lr
  is the optimizer's own, nothing is set here.
* ``cosine``: ``lr_min + (lr - lr_min) (1 + cos(pi t)) / 2``, ``t`` from 0 to 1 over the stage.
* ``wsd`` (warmup-stable-decay): ``lr`` until the last ``decay_epochs`` of the stage, then a
  linear decay to ``lr_min``. Because the stable phase does not depend on the run's length, a long
  run can be extended on resume and its decay decided later.

Cosine and WSD start with ``warmup_epochs`` of linear warm-up. Stage two (MACE's "stage two":
an energy-heavy loss at a low learning rate with weight averaging) runs from ``stage_two_start``
to ``max_epoch`` at ``stage_two_lr``. Epochs count from 1; the lr of epoch ``e`` is used for all
of its steps.
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

from .config import TrainingConfig

__all__ = ["stage_of", "scheduled_lr", "loss_weights"]


def stage_of(config: TrainingConfig, epoch: int) -> int:
    """1 or 2."""
    return 2 if 0 < config.stage_two_start <= epoch else 1


def _stage_one_end(config: TrainingConfig) -> int:
    return config.stage_two_start - 1 if config.stage_two_start > 0 else config.max_epoch


def scheduled_lr(config: TrainingConfig, epoch: int) -> Optional[float]:
    """The learning rate of ``epoch``, or None where the plateau scheduler decides."""
    if stage_of(config, epoch) == 2:
        return config.stage_two_lr
    if config.schedule == "plateau":
        return None
    if epoch <= config.warmup_epochs:
        return config.lr * epoch / config.warmup_epochs
    end = _stage_one_end(config)
    if config.schedule == "cosine":
        span = max(end - config.warmup_epochs, 1)
        t = min(max(epoch - config.warmup_epochs - 1, 0) / max(span - 1, 1), 1.0)
        return config.lr_min + 0.5 * (config.lr - config.lr_min) * (1.0 + math.cos(math.pi * t))
    # wsd: the decay's last epoch reaches lr_min exactly.
    decay_start = end - config.decay_epochs  # last epoch at full lr
    if epoch <= decay_start or config.decay_epochs == 0:
        return config.lr
    t = min((epoch - decay_start) / config.decay_epochs, 1.0)
    return config.lr + t * (config.lr_min - config.lr)


def loss_weights(config: TrainingConfig, epoch: int) -> Tuple[float, float, float]:
    """``(energy, forces, stress)`` weights of ``epoch``'s loss."""
    if stage_of(config, epoch) == 2:
        return config.stage_two_energy_weight, config.stage_two_forces_weight, config.stress_weight
    return config.energy_weight, config.forces_weight, config.stress_weight
