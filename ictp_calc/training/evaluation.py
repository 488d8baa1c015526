"""Errors of a trained model on labelled files: batched evaluation, table, JSON, parity data."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..data.dataset import DatasetError, GraphDataset, read_labelled
from ..devices import resolve_device
from .loop import evaluate
from .metrics import METRIC_UNITS

__all__ = ["FileEvaluation", "split_data_argument", "evaluate_file", "format_table", "validation_indices"]

_INDEX = re.compile(r"^-?\d*(:-?\d*){0,2}$")


@dataclass
class FileEvaluation:
    """Errors on one file (units in :data:`~ictp_calc.training.metrics.METRIC_UNITS`)."""

    file: str
    n_structures: int
    n_atoms: int
    metrics: Dict[str, float]
    values: Dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def to_dict(self) -> Dict[str, Any]:
        return {"file": self.file, "n_structures": self.n_structures, "n_atoms": self.n_atoms, **self.metrics}


def split_data_argument(text: str) -> Tuple[str, str]:
    """``"data.xyz@:5"`` -> ``("data.xyz", ":5")``; without ``@INDEX`` the index is ``":"`` (all).

    The index is ASE's (an integer or a Python slice), as in ``ase gui file@index``.
    """
    path, sep, index = text.rpartition("@")
    if sep and index and _INDEX.match(index) and not os.path.exists(text):
        return path, index
    return text, ":"


def _select(structures: list, index: str, data: str = "") -> list:
    if ":" not in index:
        if not -len(structures) <= int(index) < len(structures):
            raise DatasetError(f"{data}: index {index} is out of range for {len(structures)} structures")
        return [structures[int(index)]]
    parts = [int(p) if p else None for p in index.split(":")]
    return structures[slice(*parts)]


def evaluate_file(
    model: torch.nn.Module,
    data: str,
    batch_size: int = 10,
    device: str = "cpu",
    energy_key: str = "energy",
    forces_key: str = "forces",
    indices: Optional[Sequence[int]] = None,
    keep_values: bool = False,
) -> FileEvaluation:
    """Energy (total and per atom) and force errors of ``model`` on the structures of ``data``.

    Args:
        model: an ICTP model (see :func:`ictp_calc.io.load_model`).
        data: an extxyz file, optionally with an ASE index suffix (``file.xyz@:5``).
        batch_size: structures per forward pass.
        device: where to evaluate (the model is moved there): ``"auto"``, ``"cpu"``, ``"cuda"``,
            ``"cuda:N"`` (see :func:`ictp_calc.devices.resolve_device`).
        energy_key / forces_key: label names (see :func:`ictp_calc.data.dataset.read_labelled`).
        indices: evaluate only these structures (after the index suffix).
        keep_values: keep predictions and references for parity plots.
    """
    path, index = split_data_argument(data)
    device = resolve_device(device)  # before reading: a bad device fails fast
    structures = _select(read_labelled(path, energy_key=energy_key, forces_key=forces_key), index, data)
    if indices is not None:
        if indices and max(indices) >= len(structures):
            raise DatasetError(f"{data}: index {max(indices)} out of range for {len(structures)} structures")
        structures = [structures[i] for i in indices]
    if not structures:
        raise DatasetError(f"{data}: no structures selected")
    config = model.config
    dataset = GraphDataset(structures, config.atomic_numbers, config.cutoff, model.dtype)
    model = model.to(device)
    _, accumulator = evaluate(model, dataset, batch_size, device, keep_values=keep_values)
    return FileEvaluation(
        file=data,
        n_structures=len(structures),
        n_atoms=sum(len(a) for a in structures),
        metrics=accumulator.result(),
        values=accumulator.arrays() if keep_values else {},
    )


def format_table(results: List[FileEvaluation]) -> str:
    """A fixed-width table, one row per file, units in the second header line."""
    columns = [
        ("energy_rmse", "E rmse"),
        ("energy_mae", "E mae"),
        ("energy_per_atom_rmse", "E/at rmse"),
        ("energy_per_atom_mae", "E/at mae"),
        ("forces_rmse", "F rmse"),
        ("forces_mae", "F mae"),
    ]
    width = max([len("file")] + [len(r.file) for r in results])
    head = f"{'file':<{width}}  {'structs':>7}  {'atoms':>7}" + "".join(f"  {title:>10}" for _, title in columns)
    units = " " * (width + 18) + "".join(f"  {METRIC_UNITS[key]:>10}" for key, _ in columns)
    rows = []
    for r in results:
        cells = "".join(
            f"  {'n/a' if math.isnan(r.metrics[key]) else format(r.metrics[key], '.3f'):>10}" for key, _ in columns
        )
        rows.append(f"{r.file:<{width}}  {r.n_structures:>7d}  {r.n_atoms:>7d}{cells}")
    return "\n".join([head, units, *rows])


def validation_indices(metadata: Dict[str, Any], path: str) -> List[int]:
    """The validation structures of ``path`` recorded in a trained model's metadata.

    The file must be the one the model was trained and validated on (same SHA-256), so that the
    indices select the same structures as during training.
    """
    from ..io import file_checksum

    data = (metadata.get("training") or {}).get("data") or {}
    if "valid_indices" not in data:
        raise DatasetError("the model file records no validation split (was it trained by ictp-md train?)")
    path, index = split_data_argument(path)
    if index != ":":
        raise DatasetError(f"{path}@{index}: the validation split selects the structures itself; drop @{index}")
    if not os.path.isfile(path):
        raise DatasetError(f"data file {path!r} does not exist")
    digest = file_checksum(path)
    source = data.get("valid_file_sha256") or data.get("train_file_sha256")
    if digest != source:
        name = data.get("valid_file") or data.get("train_file")
        raise DatasetError(f"{path} is not the file the model was validated on ({name}, sha256 {source})")
    return [int(i) for i in data["valid_indices"]]
