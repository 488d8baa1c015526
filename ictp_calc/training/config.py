"""Typed, frozen training configuration (the optimization hyperparameters of spec §2.10 and §3)."""

from __future__ import annotations

from dataclasses import dataclass


from ..config_base import FrozenConfig

__all__ = ["SCHEDULES", "TrainingConfig"]

SCHEDULES = ("plateau", "cosine", "wsd")


@dataclass(frozen=True)
class TrainingConfig(FrozenConfig):
    """Optimization settings; defaults follow the authors' 3BPA protocol (spec §2.10, §3).

    The split sizes and the split seed belong to the data (:class:`~ictp_calc.training.DataConfig`).

    Attributes:
        batch_size / eval_batch_size: structures per optimizer step / per evaluation batch.
        lr: Adam learning rate; amsgrad: use AMSGrad.
        weight_decay: L2 on product-basis and ``linear_second`` weights only.
        scheduler_factor / scheduler_patience: ReduceLROnPlateau on the validation loss.
        max_epoch: epochs to run (best epoch selected on validation).
        ema / ema_decay: exponential moving average of the weights.
        energy_weight / forces_weight / stress_weight: summed-loss weights
            (energy per sqrt(atoms), forces, stress).
        max_grad_norm: gradient clipping, 0 for none.
        schedule: learning-rate schedule of stage one: "plateau" (ReduceLROnPlateau on the
            validation loss, the authors'), "cosine" (from ``lr`` to ``lr_min`` over the stage) or
            "wsd" (warmup-stable-decay: ``lr`` until the last ``decay_epochs`` of the stage, then a
            linear decay to ``lr_min``). Cosine and WSD are functions of the epoch alone, so a
            run's length (``max_epoch``) fixes its budget; WSD's stable phase can be extended on
            resume and decayed later. See :mod:`ictp_calc.training.schedule`.
        warmup_epochs: linear warm-up from ``lr / warmup_epochs`` (cosine and WSD).
        lr_min: final learning rate of cosine and WSD.
        decay_epochs: length of WSD's decay.
        stage_two_start: first epoch of the second stage (0: none). From it on the loss weights
            are ``stage_two_energy_weight`` / ``stage_two_forces_weight``, the learning rate is
            ``stage_two_lr``, the best model is selected anew on the stage's own loss and, with
            ``stage_two_average = "swa"``, evaluated with the uniform average of the weights at
            the end of each stage-two epoch (stochastic weight averaging); with "ema" the EMA.
        seed: initialization and shuffling seed.
        checkpoint_every: write the resumable checkpoint every this many epochs (and at the end).
        device: "cpu", "cuda" or "cuda:N".
    """

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
    schedule: str = "plateau"
    warmup_epochs: int = 0
    lr_min: float = 1e-4
    decay_epochs: int = 0
    stage_two_start: int = 0
    stage_two_lr: float = 1e-3
    stage_two_energy_weight: float = 1000.0
    stage_two_forces_weight: float = 100.0
    stage_two_average: str = "swa"
    seed: int = 0
    checkpoint_every: int = 100
    device: str = "cpu"

    def __post_init__(self):
        checks = [
            (self.batch_size >= 1 and self.eval_batch_size >= 1, "batch sizes must be >= 1"),
            (self.lr > 0, "lr must be positive"),
            (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (0 < self.scheduler_factor < 1, "scheduler_factor must lie in (0, 1)"),
            (self.scheduler_patience >= 0, "scheduler_patience must be >= 0"),
            (self.max_epoch >= 0, "max_epoch must be >= 0"),
            (0 <= self.ema_decay < 1, "ema_decay must lie in [0, 1)"),
            (min(self.energy_weight, self.forces_weight, self.stress_weight) >= 0, "loss weights must be >= 0"),
            (self.energy_weight + self.forces_weight + self.stress_weight > 0, "some loss weight must be > 0"),
            (self.max_grad_norm >= 0, "max_grad_norm must be >= 0 (0 disables clipping)"),
            (self.checkpoint_every >= 1, "checkpoint_every must be >= 1"),
            (self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}"),
            (self.warmup_epochs >= 0 and self.decay_epochs >= 0, "warmup_epochs and decay_epochs must be >= 0"),
            (0 <= self.lr_min <= self.lr, "lr_min must lie in [0, lr]"),
            (self.stage_two_start >= 0, "stage_two_start must be >= 0 (0: no second stage)"),
            (self.stage_two_lr > 0, "stage_two_lr must be positive"),
            (
                min(self.stage_two_energy_weight, self.stage_two_forces_weight) >= 0
                and self.stage_two_energy_weight + self.stage_two_forces_weight > 0,
                "stage-two loss weights must be >= 0 and not both 0",
            ),
            (self.stage_two_average in ("swa", "ema"), "stage_two_average must be swa or ema"),
            (self.device == "cpu" or self.device.startswith("cuda"), "device must be cpu, cuda or cuda:N"),
        ]
        self._require(checks)
