"""Fine-tuning: a run that starts from the weights of an existing model file (``init_from``).

The fine-tuned model is the same function family as the one it starts from:

* architecture and elements: the model file's. Settings that the run's ``[model]`` section gives
  must equal the model's (else :class:`ArchitectureMismatchError`); ``dtype`` may differ (the
  weights are cast). Data with an element the model does not know is refused.
* ``avg_n_neighbors`` and the energy scale: the model's (its weights were learned with them).
* E0s and energy shift: new ones when the run gives ``data.e0_file`` (the shift is then set as for a
  new model: the E0s, or the regression shift on the new data with ``compute_regression_shift``),
  otherwise the model's.
* shortest distance per element pair (the calculator's out-of-domain warning): the shorter of the
  model's and the new data's.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence

import torch

from ..data.statistics import DatasetStatistics
from ..io import file_checksum, load_model, resolve_model
from ..model import ICTPModel, ModelConfig
from .run_config import ConfigError

__all__ = ["ArchitectureMismatchError", "InitModel", "load_init_model", "fine_tune_config", "fine_tune_model"]

# Settings a fine-tuning run may choose differently from the model it starts from.
FREE_SETTINGS = ("dtype",)


class ArchitectureMismatchError(ConfigError):
    """The run's ``[model]`` settings describe another architecture than the ``init_from`` model's."""


@dataclass
class InitModel:
    """The model a run fine-tunes: resolved path, checksum, weights and metadata."""

    name: str
    path: str
    sha256: str
    model: ICTPModel
    metadata: Dict[str, Any]

    def record(self) -> Dict[str, str]:
        """What the fine-tuned model's metadata says about its origin."""
        return {"model": self.name, "file": os.path.basename(self.path), "sha256": self.sha256}

    def shortest_distances(self) -> Dict[str, float]:
        statistics = (self.metadata.get("training") or {}).get("statistics") or {}
        return dict(statistics.get("shortest_distances_A") or {})


def load_init_model(name: str) -> InitModel:
    """Resolve (file or shipped name) and load the model to fine-tune; raises ``ModelFileError``."""
    path = resolve_model(name)
    model, metadata = load_model(path)
    return InitModel(name, path, file_checksum(path), model, metadata)


def fine_tune_config(section: Dict[str, Any], init: InitModel) -> ModelConfig:
    """The model's config with the run's free settings (``dtype``) applied.

    Args:
        section: the run's ``[model]`` table (possibly empty).

    Raises:
        ArchitectureMismatchError: a setting of ``section`` differs from the model's; the message
            lists each one with both values.
    """
    base = init.model.config
    try:
        wanted = ModelConfig.from_dict({**base.to_dict(), **section})
    except (TypeError, ValueError) as err:
        raise ConfigError(f"[model]: {err}") from err
    differences = [
        f"{key} = {getattr(wanted, key)!r} (the model has {getattr(base, key)!r})"
        for key in sorted(section)
        if key not in FREE_SETTINGS and getattr(wanted, key) != getattr(base, key)
    ]
    if differences:
        raise ArchitectureMismatchError(
            f"cannot fine-tune {init.name!r}: the configuration's [model] describes another architecture: "
            f"{'; '.join(differences)}. Leave these settings out to use the model's"
        )
    return base.replace(dtype=wanted.dtype)


def fine_tune_model(
    init: InitModel, config: ModelConfig, new_e0: Optional[Sequence[float]], statistics: DatasetStatistics
):
    """The model to train, and the statistics that describe it.

    Args:
        init: the model to start from.
        config: from :func:`fine_tune_config`.
        new_e0: E0s of the run's ``data.e0_file`` (eV, in the model's element order), or None to
            keep the model's.
        statistics: of the new training data (computed with the E0s in use).

    Returns:
        ``(model, statistics)``: the model with the init weights (in ``config.dtype``) and the
        statistics it actually has (its ``avg_n_neighbors``, scale and shift; merged distances).
    """
    if new_e0 is not None:
        config = config.replace(atomic_energies=tuple(float(v) for v in new_e0))
    model = ICTPModel(config)
    model.load_state_dict(init.model.state_dict())
    if new_e0 is not None:
        shift = statistics.energy_shift if config.compute_regression_shift else config.atomic_energies
        with torch.no_grad():
            model.energy_shift.copy_(torch.tensor(shift, dtype=model.energy_shift.dtype))
    distances = init.shortest_distances()
    for pair, value in (statistics.shortest_distances_A or {}).items():
        distances[pair] = min(value, distances.get(pair, value))
    described = dataclasses.replace(
        statistics,
        avg_n_neighbors=config.avg_n_neighbors,
        energy_scale=float(model.energy_scale),
        energy_shift=tuple(float(v) for v in model.energy_shift.tolist()),
        shortest_distances_A=dict(sorted(distances.items())),
    )
    return model, described
