"""Batched prediction with a loaded model; see :mod:`ictp_calc.predict`."""

from __future__ import annotations

import warnings
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.stress import full_3x3_to_voigt_6_stress

from .. import keys
from ..data.checks import NonFiniteOutputError, StructureError, check_structure
from ..data.domain import OutOfDomainWarning, domain_thresholds, out_of_domain
from ..data.graph import atoms_to_graph, batch_graphs
from ..devices import resolve_device
from ..model import ICTPModel, compute_properties

__all__ = ["predict", "predict_files"]


def _scaled(atoms: Atoms, length_to_A: float) -> Atoms:
    """``atoms`` in the model's length unit."""
    if length_to_A == 1.0:
        return atoms
    copy = atoms.copy()
    copy.set_cell(atoms.cell.array / length_to_A, scale_atoms=False)
    copy.positions = atoms.positions / length_to_A
    return copy


def predict(
    model: ICTPModel,
    structures: Sequence[Atoms],
    batch_size: int = 10,
    device: Union[str, torch.device] = "cpu",
    energy_to_eV: float = 1.0,
    length_to_A: float = 1.0,
    min_distance: float = 0.1,
    progress: Optional[Callable[[int], None]] = None,
    shortest_distances_A: Optional[Dict[str, float]] = None,
) -> List[Atoms]:
    """Predictions of ``model`` for every structure, in batches of ``batch_size`` structures.

    Args:
        model: an ICTP model (e.g. from :func:`ictp_calc.io.load_model`); it is not modified.
        structures: the structures (positions in Å); labels they carry are ignored.
        batch_size: structures per model evaluation.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        energy_to_eV, length_to_A: sizes of the model's units (see :func:`ictp_calc.io.model_file.model_units`).
        min_distance: Å; structures with atoms closer than this are rejected.
        progress: called with the number of structures done after each batch.
        shortest_distances_A: the shortest distance per element pair of the model's training data,
            in the model's length unit (:func:`ictp_calc.data.domain.shortest_distances` of the model
            file's metadata): a structure with a pair below it gets an :class:`OutOfDomainWarning`
            naming its index. None: no check.

    Returns:
        Copies of the structures with ``energy``, ``free_energy``, ``energies`` [N], ``forces`` [N, 3]
        and, for cells periodic in all three directions, ``stress`` (Voigt, eV/Å³) on a
        ``SinglePointCalculator``.

    Raises:
        ValueError: ``batch_size`` < 1 or no structures. StructureError (a ``ValueError``): an unusable
            structure, naming its index. UnknownElementError: an element the model does not know.
        NonFiniteOutputError: the model returned NaN or infinity for a structure (named by index).
        DeviceError: the device is not available.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not structures:
        raise ValueError("no structures to predict")
    device = resolve_device(device)
    for index, atoms in enumerate(structures):
        try:
            check_structure(atoms, min_distance)
        except StructureError as err:
            raise type(err)(f"structure {index}: {err}") from err
    net = model.to(device).eval()
    config = net.config
    thresholds = domain_thresholds(shortest_distances_A or {}, config.atomic_numbers, length_to_A)
    periodic = [i for i, a in enumerate(structures) if a.pbc.all()]
    other = [i for i, a in enumerate(structures) if not a.pbc.all()]
    results: Dict[int, Atoms] = {}
    done = 0
    for group, stress in ((periodic, True), (other, False)):
        for start in range(0, len(group), batch_size):
            indices = group[start : start + batch_size]
            graphs = [atoms_to_graph(_scaled(structures[i], length_to_A), config.atomic_numbers, config.cutoff,
                                     dtype=net.dtype) for i in indices]
            for i, graph in zip(indices, graphs):
                _warn_out_of_domain(i, graph, thresholds, config.atomic_numbers, length_to_A)
            batch = {k: v.to(device) for k, v in batch_graphs(graphs).items()}
            with torch.enable_grad():
                out = compute_properties(net, batch, forces=True, stress=stress)
            results.update(_split(out, indices, structures, stress, energy_to_eV, length_to_A))
            done += len(indices)
            if progress is not None:
                progress(done)
    return [results[i] for i in range(len(structures))]


def _warn_out_of_domain(index: int, graph, thresholds: np.ndarray, atomic_numbers, length_to_A: float) -> None:
    """:class:`OutOfDomainWarning` for structure ``index`` when a pair is below its training distance."""
    if not thresholds.any():
        return
    receiver, sender = (x.numpy() for x in graph[keys.EDGE_INDEX])
    positions = graph[keys.POSITIONS].double().numpy()
    cell = graph[keys.CELL][0].double().numpy()
    vectors = positions[receiver] - positions[sender] - graph[keys.CELL_SHIFTS].double().numpy() @ cell
    lengths = np.sqrt(np.einsum("ei,ei->e", vectors, vectors)) * length_to_A
    message = out_of_domain(lengths, graph[keys.SPECIES].numpy(), receiver, sender, thresholds, atomic_numbers)
    if message is not None:
        warnings.warn(OutOfDomainWarning(f"structure {index}: {message}"), stacklevel=3)


def _split(out, indices, structures, stress, e, length) -> Dict[int, Atoms]:
    """Per-structure results of one batch, in eV and Å, on copies of the structures."""
    energy = out[keys.ENERGY].detach().double().cpu().numpy() * e
    node = out[keys.NODE_ENERGY].detach().double().cpu().numpy() * e
    forces = out[keys.FORCES].detach().double().cpu().numpy() * (e / length)
    stresses = out[keys.STRESS].detach().double().cpu().numpy() * (e / length**3) if stress else None
    results, offset = {}, 0
    for k, i in enumerate(indices):
        n = len(structures[i])
        atoms_slice = slice(offset, offset + n)
        values = {"energy": float(energy[k]), "energies": node[atoms_slice], "forces": forces[atoms_slice]}
        if stresses is not None:
            values["stress"] = full_3x3_to_voigt_6_stress(stresses[k])
        offset += n
        if not all(np.isfinite(v).all() for v in values.values()):
            raise NonFiniteOutputError(
                f"structure {i}: the model returned non-finite values; it is probably far outside the training data"
            )
        copy = structures[i].copy()
        copy.calc = SinglePointCalculator(copy, free_energy=values["energy"], **values)
        results[i] = copy
    return results


def predict_files(
    model_path: str, data: Sequence[str], output: str, batch_size: int = 10, device: str = "cpu",
    progress: Optional[Callable[[int, int], None]] = None,
) -> int:
    """Read every ``FILE[@INDEX]`` of ``data``, predict with the model file, write extxyz ``output``.

    Returns the number of structures written. ``progress(done, total)`` follows each batch.

    Raises:
        ModelFileError, DatasetError, plus the errors of :func:`predict`.
    """
    from ase.io import read, write

    from ..data.dataset import DatasetError
    from ..io import load_model, resolve_model
    from ..data.domain import shortest_distances
    from ..io.model_file import model_units

    model, metadata = load_model(resolve_model(model_path))
    energy_to_eV, length_to_A = model_units(metadata)
    structures: List[Atoms] = []
    for item in data:
        path, sep, index = item.rpartition("@")
        if not sep or not index or not path:
            path, index = item, ":"
        try:
            frames = read(path, index=index)
        except FileNotFoundError as err:
            raise DatasetError(f"structure file {path!r} does not exist") from err
        except Exception as err:  # ASE raises many types for unreadable files
            reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise DatasetError(f"cannot read structures from {item!r} ({type(err).__name__}: {reason})") from err
        structures.extend(frames if isinstance(frames, list) else [frames])
    if not structures:
        raise DatasetError(f"no structures in {', '.join(data)}")
    total = len(structures)
    predicted = predict(model, structures, batch_size, device, energy_to_eV, length_to_A,
                        progress=None if progress is None else (lambda done: progress(done, total)),
                        shortest_distances_A=shortest_distances(metadata))
    write(output, predicted, format="extxyz")
    return total
