"""Reading i-PI's outputs: property files, replica-exchange attempts, per-ensemble temperatures."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Dict, Sequence, Tuple

import numpy as np

__all__ = [
    "read_properties", "read_trajectory", "exchange_counts", "temperature_per_ensemble", "classical_kinetic_eV",
]

_COLUMN = re.compile(r"^#\s*(?:column|cols\.)\s+[\d-]+\s+-->\s+(\S+)")
_SWAP = re.compile(r"@ PT:\s+(SWAPPING replicas|SWAP REJECTED BETWEEN replicas)\s+(\d+)\s+and\s+(\d+)")
_KB_EV_PER_K = 8.617333262e-5
_STEP = re.compile(r"Step:\s+(\d+)")


def read_properties(path) -> Dict[str, np.ndarray]:
    """Columns of an i-PI properties file (``PREFIX.out``), by their names as written (``temperature{kelvin}``).

    Rows of a restarted run that repeat steps already present are dropped (i-PI appends after the
    last checkpoint, so a restart writes some steps twice); the later copy is kept.
    """
    names, rows = [], []
    for line in Path(path).read_text().splitlines():
        match = _COLUMN.match(line)
        if match:
            names.append(match.group(1))
        elif line.strip() and not line.startswith("#"):
            rows.append([float(v) for v in line.split()])
    data = np.asarray(rows, dtype=float).reshape(-1, len(names))
    if "step" in names and len(data):
        steps = data[:, names.index("step")]
        _, last = np.unique(steps[::-1], return_index=True)
        data = data[np.sort(len(steps) - 1 - last)]
    return {name: data[:, i] for i, name in enumerate(names)}


def read_trajectory(path) -> Tuple[np.ndarray, list]:
    """``(steps [n_frames], frames)`` of an i-PI xyz trajectory (``format='xyz'``, positions in Å).

    The step of each frame comes from its comment line (``Step: N``); a frame that repeats a step
    (after a restart) replaces the earlier one.
    """
    from ase.io import read

    frames = read(path, ":", format="xyz")
    steps = [int(m.group(1)) for m in _STEP.finditer(Path(path).read_text())]
    if len(steps) != len(frames):
        raise ValueError(f"{path}: {len(frames)} frames but {len(steps)} 'Step:' comments")
    unique = {step: frame for step, frame in zip(steps, frames)}
    return np.array(sorted(unique)), [unique[s] for s in sorted(unique)]


def exchange_counts(log_path) -> Dict[Tuple[int, int], Tuple[int, int]]:
    """``{(i, j): (attempts, accepted)}`` of replica-exchange attempts between systems i > j.

    Read from i-PI's log, which lists every attempt at ``verbosity='high'`` (empty otherwise).
    """
    counts: Dict[Tuple[int, int], list] = defaultdict(lambda: [0, 0])
    for line in Path(log_path).read_text(errors="replace").splitlines():
        match = _SWAP.search(line)
        if match:
            pair = (int(match.group(2)), int(match.group(3)))
            counts[pair][0] += 1
            counts[pair][1] += match.group(1).startswith("SWAPPING")
    return {pair: (a, b) for pair, (a, b) in sorted(counts.items())}


def temperature_per_ensemble(properties: Sequence) -> Dict[float, Tuple[float, int]]:
    """``{target K: (mean kinetic temperature K, samples)}`` over the property files of all replicas.

    Args:
        properties: :func:`read_properties` results with ``temperature{kelvin}`` and
            ``ensemble_temperature{kelvin}`` columns (REMD swaps the ensembles between replicas, so
            each row counts for the ensemble it had then).
    """
    samples: Dict[float, list] = defaultdict(list)
    for columns in properties:
        for target, value in zip(columns["ensemble_temperature{kelvin}"], columns["temperature{kelvin}"]):
            samples[round(float(target), 3)].append(float(value))
    return {target: (float(np.mean(v)), len(v)) for target, v in sorted(samples.items())}


def classical_kinetic_eV(n_atoms: int, temperature_K: float) -> float:
    """Classical kinetic energy of ``n_atoms`` atoms, 3/2 N kB T, eV."""
    return 1.5 * n_atoms * _KB_EV_PER_K * temperature_K
