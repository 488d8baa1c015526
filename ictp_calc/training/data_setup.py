"""From a :class:`DataConfig` to training and validation structures, elements and E0."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..data.dataset import (
    DatasetError,
    atomic_energies_for,
    fit_atomic_energies,
    read_atomic_energies,
    read_labelled,
    split_indices,
)
from ..data.graph import species_indices
from ..io import file_checksum
from .run_config import DataConfig

__all__ = ["PreparedData", "prepare_data"]


@dataclass
class PreparedData:
    """Labelled structures of both splits and what the model needs to know about them.

    Attributes:
        train / valid: ``ase.Atoms`` with SinglePointCalculator labels.
        atomic_numbers: the model's elements.
        e0: isolated-atom energies (eV) in that order; e0_source says where they came from.
        summary: primitives for model metadata and the model card (files, checksums, split).
    """

    train: list
    valid: list
    atomic_numbers: Tuple[int, ...]
    e0: Tuple[float, ...]
    e0_source: str
    summary: Dict[str, Any] = field(default_factory=dict)


def _pick(structures: list, indices: List[int]) -> list:
    return [structures[i] for i in indices]


def prepare_data(
    config: DataConfig,
    atomic_numbers: Optional[Sequence[int]] = None,
    kept_e0: Optional[Tuple[Sequence[float], str]] = None,
) -> PreparedData:
    """Read, split and label the data; elements default to those present in the files.

    ``kept_e0 = (values, source)``: without ``config.e0_file``, use these E0s (a fine-tuned model's)
    instead of fitting them; ``source`` says where they came from.

    Raises:
        DatasetError: unreadable or unlabelled files, impossible split sizes, elements outside
            ``atomic_numbers``, or (:class:`MissingE0Error`) elements missing from the E0 file.
    """
    label_keys = dict(energy_key=config.energy_key, forces_key=config.forces_key, stress_key=config.stress_key)
    pool = read_labelled(config.train_file, **label_keys)
    if config.valid_file is None:
        n_valid = config.n_valid if config.n_valid is not None else max(1, round(0.1 * len(pool)))
        train_idx, valid_idx = split_indices(len(pool), config.n_train, n_valid, config.seed)
        train, valid = _pick(pool, train_idx), _pick(pool, valid_idx)
    else:
        train_idx, _ = split_indices(len(pool), config.n_train, 0, config.seed)
        valid_pool = read_labelled(config.valid_file, **label_keys)
        n_valid = len(valid_pool) if config.n_valid is None else config.n_valid
        # A different seed for the validation subset, so it is not the same pattern as training.
        valid_idx = split_indices(len(valid_pool), n_valid, 0, config.seed + 1)[0] if n_valid else []
        train, valid = _pick(pool, train_idx), _pick(valid_pool, valid_idx)
    if not valid:
        raise DatasetError("the validation set is empty: best-model selection needs n_valid >= 1")

    present = sorted({int(z) for atoms in train + valid for z in atoms.numbers})
    numbers = tuple(int(z) for z in atomic_numbers) if atomic_numbers is not None else tuple(present)
    for atoms in train + valid:
        species_indices(atoms.numbers, numbers)  # raises UnknownElementError naming the elements

    if config.e0_file is not None:
        e0 = atomic_energies_for(read_atomic_energies(config.e0_file), numbers, source=config.e0_file)
        source = f"file {os.path.basename(config.e0_file)}"
    elif kept_e0 is not None:
        e0, source = tuple(float(v) for v in kept_e0[0]), kept_e0[1]
    elif config.e0_regression:
        e0, source = fit_atomic_energies(train, numbers), "least-squares fit to the training energies"
    else:
        e0, source = tuple(0.0 for _ in numbers), "zero"

    from ase.data import chemical_symbols

    summary = {
        "train_file": os.path.basename(config.train_file),
        "train_file_sha256": file_checksum(config.train_file),
        "valid_file": None if config.valid_file is None else os.path.basename(config.valid_file),
        "valid_file_sha256": None if config.valid_file is None else file_checksum(config.valid_file),
        "n_train": len(train),
        "n_valid": len(valid),
        "split_seed": config.seed,
        "train_indices": list(train_idx),
        "valid_indices": list(valid_idx),
        "energy_key": config.energy_key,
        "forces_key": config.forces_key,
        "e0_source": source,
        "e0": {chemical_symbols[z]: v for z, v in zip(numbers, e0)},
    }
    return PreparedData(train, valid, numbers, e0, source, summary)
