"""Construct a model from its config and the statistics of its training data."""

from __future__ import annotations

from typing import Optional

import torch

from ..data.statistics import DatasetStatistics
from .config import ModelConfig
from .ictp import ICTPModel

__all__ = ["build_model"]


def build_model(
    config: ModelConfig, statistics: Optional[DatasetStatistics] = None, seed: int = 0
) -> ICTPModel:
    """A freshly initialized :class:`ICTPModel`, reproducible for a given ``seed``.

    ``statistics`` sets ``avg_n_neighbors`` (in the returned model's config), the energy shift and
    the scale. Without it the shift is ``config.atomic_energies`` (or zeros) and the scale 1.
    """
    if statistics is not None:
        config = config.replace(avg_n_neighbors=statistics.avg_n_neighbors)
    model = ICTPModel(config)
    model.reset_parameters(torch.Generator().manual_seed(seed))
    with torch.no_grad():
        if statistics is not None:
            shift = statistics.energy_shift if config.compute_regression_shift else config.atomic_energies
            model.energy_scale.fill_(statistics.energy_scale)
        else:
            shift = config.atomic_energies
        if shift is not None:
            model.energy_shift.copy_(torch.tensor(shift, dtype=model.energy_shift.dtype))
    return model
