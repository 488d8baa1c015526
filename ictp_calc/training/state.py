"""The mutable state of a training run, with checkpoint (de)serialization."""

from __future__ import annotations

import contextlib
import math
from typing import Any, Dict, Iterator, List, Optional

import numpy as np
import torch

from .config import TrainingConfig
from .ema import ExponentialMovingAverage, UniformAverage
from .optim import make_optimizer, make_scheduler

__all__ = ["TrainState", "shuffle_seed"]


def shuffle_seed(seed: int) -> int:
    """A seed for the shuffling stream, derived from ``seed`` but distinct from the init stream."""
    return int(np.random.SeedSequence([seed, 1]).generate_state(1, dtype=np.uint64)[0] >> 1)


class TrainState:
    """Model, optimizer, scheduler, EMA, shuffling generator, epoch, best-so-far and history.

    ``state_dict``/``load_state_dict`` round-trip everything that influences later epochs.
    """

    def __init__(self, model: torch.nn.Module, config: TrainingConfig):
        self.config = config
        self.model = model
        self.optimizer = make_optimizer(model, config)
        self.scheduler = make_scheduler(self.optimizer, config)
        self.ema: Optional[ExponentialMovingAverage] = (
            ExponentialMovingAverage(model, config.ema_decay) if config.ema else None
        )
        # Shuffling draws from its own CPU generator: no global RNG is read or changed.
        self.generator = torch.Generator().manual_seed(shuffle_seed(config.seed))
        # Stage two (see schedule.py): its stochastic weight average, when that is evaluated.
        self.stage = 1
        self.swa: Optional[UniformAverage] = None
        self.epoch = 0
        self.elapsed = 0.0  # seconds of training (all chunks), setup excluded
        self.best_loss = math.inf
        self.best_epoch = 0
        self.best_metrics: Dict[str, float] = {}
        self.best_weights: Optional[Dict[str, torch.Tensor]] = None
        self.history: List[Dict[str, Any]] = []

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def enter_stage_two(self) -> None:
        """Start stage two: the best model is selected anew (the loss has changed), and with
        ``stage_two_average = "swa"`` an equal-weight average of the weights starts."""
        self.stage = 2
        self.best_loss, self.best_epoch, self.best_metrics = math.inf, 0, {}
        if self.config.stage_two_average == "swa":
            self.swa = UniformAverage(self.model)

    @contextlib.contextmanager
    def evaluation_weights(self) -> Iterator[torch.nn.Module]:
        """The model with the weights that are evaluated and selected: the stage-two weight
        average when there is one, else the EMA when enabled, else the live weights."""
        average = self.swa if self.swa is not None else self.ema
        if average is None:
            yield self.model
        else:
            with average.applied() as model:
                yield model

    def update_best(self, epoch: int, loss: float, metrics: Dict[str, float]) -> bool:
        """Keep the current evaluation weights if ``loss`` beats the best so far (call inside
        :meth:`evaluation_weights`). NaN never counts as better."""
        if not loss < self.best_loss:
            return False
        self.best_loss, self.best_epoch, self.best_metrics = float(loss), epoch, dict(metrics)
        self.best_weights = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        return True

    def state_dict(self) -> Dict[str, Any]:
        return {
            "epoch": self.epoch,
            "elapsed": self.elapsed,
            "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "ema": None if self.ema is None else self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "stage": self.stage,
            "swa": None if self.swa is None else self.swa.state_dict(),
            "best": {
                "loss": self.best_loss,
                "epoch": self.best_epoch,
                "metrics": self.best_metrics,
                "weights": self.best_weights,
            },
            "history": self.history,
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        if (state["ema"] is None) != (self.ema is None):
            raise ValueError("the checkpoint and the configuration disagree on using an EMA")
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        # The plateau settings may change between chunks of a run (e.g. to anneal towards the end):
        # the current configuration wins over the checkpoint's.
        self.scheduler.factor = self.config.scheduler_factor
        self.scheduler.patience = self.config.scheduler_patience
        # A changed ``lr`` sets the current learning rate once (to anneal a run by hand); an
        # unchanged one keeps whatever the scheduler has made of it.
        # (The scheduler reads the optimizer's lr at its next step; its own record follows then.)
        saved_lr = state.get("run_config", {}).get("training", {}).get("lr", self.config.lr)
        if saved_lr != self.config.lr:
            self.set_lr(self.config.lr)
        self.generator.set_state(state["generator"])
        self.stage = int(state.get("stage", 1))  # checkpoints before stage two had no such entry
        if state.get("swa") is not None:
            self.swa = UniformAverage(self.model)
            self.swa.load_state_dict(state["swa"])
        self.epoch, self.elapsed = int(state["epoch"]), float(state["elapsed"])
        best = state["best"]
        self.best_loss, self.best_epoch = float(best["loss"]), int(best["epoch"])
        self.best_metrics, self.best_weights = dict(best["metrics"]), best["weights"]
        self.history = list(state["history"])
