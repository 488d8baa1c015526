"""Optimizer and learning-rate schedule (spec §3): Adam/AMSGrad, selective L2, plateau decay."""

from __future__ import annotations

import re
from typing import Dict, List

import torch

from .config import TrainingConfig

__all__ = ["DECAYED_PARAMETERS", "parameter_groups", "make_optimizer", "make_scheduler"]

# Weight decay acts only on the product-basis weights and the interaction's second linear map,
# as in the authors' code; embeddings, radial MLPs, skips and readouts are not decayed.
DECAYED_PARAMETERS = (
    re.compile(r"^layers\.\d+\.product\.weights\."),
    re.compile(r"^layers\.\d+\.interaction\.linear_second\."),
)


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> List[Dict]:
    """Two Adam groups, ``decay`` and ``no_decay``, each listing its parameter names."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (decay if any(p.match(name) for p in DECAYED_PARAMETERS) else no_decay).append((name, param))
    groups = []
    for name, members, wd in (("decay", decay, weight_decay), ("no_decay", no_decay, 0.0)):
        if members:
            # "parameter_names" is ours (torch >= 2.6 reserves "param_names" for its own use).
            groups.append(
                {"name": name, "params": [p for _, p in members], "parameter_names": [n for n, _ in members],
                 "weight_decay": wd}
            )
    return groups


def make_optimizer(model: torch.nn.Module, config: TrainingConfig) -> torch.optim.Adam:
    """Adam (AMSGrad by default) with L2 weight decay on the decayed group only.

    Adam's ``weight_decay`` adds ``wd * param`` to the gradient (L2, not AdamW's decoupled decay),
    which is what the reference uses.
    """
    return torch.optim.Adam(parameter_groups(model, config.weight_decay), lr=config.lr, amsgrad=config.amsgrad)


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainingConfig):
    """ReduceLROnPlateau on the validation loss (factor and patience from the config)."""
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config.scheduler_factor, patience=config.scheduler_patience
    )
