"""ASE calculator for ICTP models: ``atoms.calc = ICTPCalculator("ictp-3bpa")`` or ``ICTPCalculator("model.pt")``.

Conventions (see :mod:`ictp_calc.keys`): energies in eV, forces in eV/Å, stress in eV/Å³ as a Voigt
6-vector ``(xx, yy, zz, yz, xz, xy)`` with ASE's sign (positive under tension).

Design:

* **One evaluation per structure.** Every call computes energy, per-atom energies and forces, and,
  for a cell periodic in all three directions, the stress, in one forward and one backward pass;
  ASE caches them together, so an MD step whose integrator and logger ask for energy, forces and
  stress separately costs one model evaluation.
* **Stress policy.** Stress exists only for cells periodic in all three directions. Asking for it on
  a molecule or a slab (``pbc`` not all True) raises ASE's ``PropertyNotImplementedError``.
* **Elements are checked when the calculator is attached.** ASE's ``atoms.calc = calc`` calls
  :meth:`ICTPCalculator.set_atoms`, which raises :class:`~ictp_calc.data.checks.UnknownElementError`
  there (the assignment has happened by then; every later calculation raises the same error).
  Every calculation checks again, for structures that were never attached.
* **Input checks** (:mod:`ictp_calc.data.checks`, all ``ValueError`` subclasses): empty structure,
  non-finite positions, a periodic direction with a zero, too short or degenerate cell vector, atoms
  closer than ``min_distance``, and non-finite model output.
* **Verlet skin.** With ``skin > 0`` the neighbor list is built with ``cutoff + skin`` and reused while
  no atom moved more than ``skin / 2`` and the cell, pbc and numbers are unchanged (see
  :class:`~ictp_calc.data.neighbor_cache.NeighborCache`); results equal those without skin because the
  model's envelope is exactly zero beyond the cutoff. Positions are used as given, never wrapped.
* **Devices.** Per call, the positions and the cell move to the device as one tensor; the neighbor
  list, species and shifts as one more tensor, only when the list was rebuilt; all results come back
  as one tensor. No global torch state (default dtype, threads) is touched.
* **Threads.** ``threads="auto"`` (the default) evaluates a graph of fewer edges than
  :data:`~ictp_calc.inference.ONE_THREAD_EDGES` gives for the dtype (2000 in float64, 4000
  in float32: a molecule, a small cell) on one thread, larger ones with torch's thread count as the
  process has it. A small graph is overhead-bound: each of its 140-210 matrix products per call
  (compiled, eager) wakes the other OpenMP threads, and 3BPA took 1.7-1.9x the time of one thread
  with two passive threads on idle cores (spinning threads: as fast as one on idle cores, 1.6-2x
  slower on busy ones, keeping a second core busy). Where torch has more threads than the evaluation
  should use, it runs on a private worker thread of its own count
  (:func:`~ictp_calc.inference.run_with_threads`): torch's settings for the rest of the
  process stay untouched. ``threads=N`` evaluates every graph with N threads, ``threads=None``
  always with torch's count. On a GPU the CPU threads are torch's.
* **Compiled path** (``compile=True``): energy, forces and stress as one ``torch.compile``-d
  function of a graph padded to capacities that grow in steps
  (:class:`~ictp_calc.inference.CompiledPotential`); the first call compiles (tens of seconds on a
  CPU), a neighbor list within capacity reuses the compiled code. It keeps per-slot
  intermediates for autograd, so it is meant for small and medium systems; the eager path is the
  reference and the one for large systems. Where compiling fails (no working C++ compiler for
  inductor, say), the call raises :class:`~ictp_calc.inference.CompileFailedError`; with
  ``compile_fallback=True`` the calculator warns once (:class:`~ictp_calc.inference.CompileFallbackWarning`)
  and evaluates eagerly from then on.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from . import __version__, keys
from .data.checks import (
    check_cell,
    check_finite_outputs,
    check_finite_positions,
    check_min_distance,
    check_not_empty,
)
from .data.domain import OutOfDomainWarning, domain_thresholds, out_of_domain, shortest_distances
from .data.graph import species_indices
from .data.neighbor_cache import NeighborCache
from .devices import resolve_device
from .inference import CompiledPotential, CompileFailedError, CompileFallbackWarning
from .inference.threads import auto_threads, run_with_threads
from .io import file_checksum, load_model, resolve_model
from .io.model_file import model_units
from .model import DTYPES, ICTPModel, compute_properties

__all__ = ["ICTPCalculator", "OutOfDomainWarning", "UnitsMismatchError"]

PathLike = Union[str, "os.PathLike[str]"]
_DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}
_CALCULATOR_KWARGS = {"atoms", "directory", "label"}  # what ICTPCalculator passes on to ASE's Calculator


def _resolve_dtype(dtype: Union[None, str, torch.dtype], default: torch.dtype) -> torch.dtype:
    if dtype is None:
        return default
    resolved = DTYPES.get(dtype) if isinstance(dtype, str) else dtype
    if resolved not in _DTYPE_NAMES:
        raise ValueError(f"unsupported dtype {dtype!r}; use one of {sorted(DTYPES)}")
    return resolved


def _inference_model(model: ICTPModel, dtype: torch.dtype, device: torch.device, copy: bool) -> ICTPModel:
    """``model`` in ``dtype`` on ``device``, in eval mode, with frozen parameters.

    A copy is made when asked (a model the user passed in stays untouched) or when the dtype changes;
    the copy is rebuilt from a config with the new dtype, so that ``model.config.dtype`` stays true.
    """
    if copy or dtype != model.dtype:
        fresh = ICTPModel(model.config.replace(dtype=_DTYPE_NAMES[dtype]))
        fresh.load_state_dict(model.state_dict())  # copies, converting dtype and device
        model = fresh
    model = model.to(device).eval()
    # Inference only: no parameter gradients, so the backward pass for forces is cheaper.
    model.requires_grad_(False)
    return model


def _check_threads(threads: Union[None, int, str]) -> Union[None, int, str]:
    if threads is None or (isinstance(threads, str) and threads == "auto"):
        return threads
    if isinstance(threads, (int, np.integer)) and not isinstance(threads, bool) and threads >= 1:
        return int(threads)
    raise ValueError(f"threads must be 'auto', None or an integer >= 1, got {threads!r}")


class UnitsMismatchError(ValueError):
    """Unit factors given to the calculator that contradict the units recorded in the model file."""


def _unit_factors(metadata: Dict[str, Any], given: Dict[str, Optional[float]]) -> tuple:
    """``(energy_units_to_eV, length_units_to_A)``: the given ones, checked against the file's record."""
    recorded = dict(zip(given, model_units(metadata))) if metadata else {}
    factors = []
    for name, value in given.items():
        if value is None:
            factors.append(recorded.get(name, 1.0))
            continue
        numeric = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
        if not (numeric and np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
        if recorded and not np.isclose(value, recorded[name], rtol=1e-9, atol=0.0):
            units = metadata.get("units") or "eV and Å (files that record no units)"
            raise UnitsMismatchError(
                f"{name}={value:g} contradicts the model file, whose training data used {recorded[name]:g} "
                f"({units}); leave {name} out to use the file's units"
            )
        factors.append(float(value))
    return tuple(factors)


class ICTPCalculator(Calculator):
    """ASE calculator of an ICTP model (see the module docstring for the design and policies).

    Args:
        model: path of a model file (see :mod:`ictp_calc.io`), the name of a shipped model (e.g.
            ``"ictp-3bpa"``, see :func:`ictp_calc.io.shipped_models`), or an in-memory :class:`ICTPModel`.
            An in-memory model is copied: the calculator freezes and converts its own copy, never yours.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        dtype: ``"float32"``/``"float64"`` (or the torch dtype) for inference; default the model's.
        skin: Verlet skin, Å (0 rebuilds the neighbor list at every call).
        energy_units_to_eV: size of the model's energy unit in eV; default the one its file records
            (eV for a file that records none, 1 for an in-memory model). A value that contradicts the
            file raises :class:`UnitsMismatchError`.
        length_units_to_A: size of the model's length unit in Å; default and check as for energy.
        min_distance: Å; two atoms closer than this raise :class:`~ictp_calc.data.checks.CloseAtomsError`
            (0 disables the check). Must be below the cutoff.
        compile: compile the evaluation (``True``: torch's default backend, inductor; or a backend
            name such as ``"aot_eager"``); see the module docstring. Needs torch >= 2.11; older
            versions raise :class:`~ictp_calc.inference.CompileUnavailableError` (a ``ValueError``).
        compile_mode: ``torch.compile`` mode of the compiled path, e.g. ``"reduce-overhead"`` (CUDA graphs
            on a GPU); None: the default, with this package's CPU options (see
            :class:`~ictp_calc.inference.CompiledPotential`).
        compile_fallback: where compiling fails at a call, warn and evaluate eagerly instead of raising
            :class:`~ictp_calc.inference.CompileFailedError` (what ``ictp-md run`` does when it chose
            to compile by itself).
        threads: CPU threads of an evaluation: ``"auto"`` (one for a graph of fewer edges than
            :data:`~ictp_calc.inference.ONE_THREAD_EDGES` gives for the dtype, else torch's
            count), an integer >= 1, or None (torch's count); see the module docstring.
        **kwargs: passed on to :class:`ase.calculators.calculator.Calculator` (``directory``, ``label``,
            ``atoms``).

    Attributes:
        model: the calculator's own :class:`ICTPModel` (eval mode, frozen, on ``device``).
        metadata: the model file's metadata (empty for an in-memory model).
        n_evaluations: model evaluations so far.
    """

    implemented_properties = ["energy", "free_energy", "forces", "energies", "stress"]
    # The model ignores charges and magnetic moments, so changing them needs no new evaluation.
    ignored_changes = {"initial_charges", "initial_magmoms"}

    def __init__(
        self,
        model: Union[PathLike, ICTPModel],
        device: Union[str, torch.device] = "auto",
        dtype: Union[None, str, torch.dtype] = None,
        skin: float = 0.0,
        energy_units_to_eV: Optional[float] = None,
        length_units_to_A: Optional[float] = None,
        min_distance: float = 0.1,
        compile: Union[bool, str] = False,
        compile_mode: Optional[str] = None,
        compile_fallback: bool = False,
        threads: Union[None, int, str] = "auto",
        **kwargs: Any,
    ):
        unknown = sorted(set(kwargs) - _CALCULATOR_KWARGS)
        if unknown:  # ASE's Calculator would silently store a misspelled option as a parameter
            raise TypeError(f"ICTPCalculator got unexpected keyword argument(s) {unknown}")
        if isinstance(model, (str, os.PathLike)):
            self.model_path: Optional[str] = resolve_model(model)
            loaded, self.metadata = load_model(self.model_path, "cpu")
            self.model_checksum: Optional[str] = file_checksum(self.model_path)
        elif isinstance(model, ICTPModel):
            self.model_path, self.model_checksum, self.metadata, loaded = None, None, {}, model
        else:
            raise TypeError(f"model must be a model-file path, a shipped model's name or an ICTPModel, "
                            f"got {type(model).__name__}")
        energy_units_to_eV, length_units_to_A = _unit_factors(
            self.metadata, {"energy_units_to_eV": energy_units_to_eV, "length_units_to_A": length_units_to_A}
        )
        self.device = resolve_device(device)
        self.dtype = _resolve_dtype(dtype, loaded.dtype)
        self.model = _inference_model(loaded, self.dtype, self.device, copy=self.model_path is None)
        self.energy_units_to_eV, self.length_units_to_A = float(energy_units_to_eV), float(length_units_to_A)
        self.cutoff = self.model.config.cutoff * self.length_units_to_A  # Å
        if not 0.0 <= min_distance < self.cutoff:
            raise ValueError(f"min_distance must lie in [0, cutoff = {self.cutoff:g} Å), got {min_distance}")
        self.min_distance = float(min_distance)
        self.skin = float(skin)
        self.neighbors = NeighborCache(self.cutoff, self.skin)  # validates skin
        if not isinstance(compile, (bool, str)):
            raise TypeError(f"compile must be a bool or a torch.compile backend name, got {compile!r}")
        backend = "inductor" if compile is True else compile
        if compile_mode is not None and not backend:
            raise ValueError(f"compile_mode={compile_mode!r} needs compile=True (or a backend name)")
        self.compiled = CompiledPotential(self.model, backend, compile_mode) if backend else None
        self.compile_fallback = bool(compile_fallback)
        self.threads = _check_threads(threads)
        self.n_evaluations = 0
        self.domain_A = domain_thresholds(shortest_distances(self.metadata), self.model.config.atomic_numbers,
                                          self.length_units_to_A)
        self._warned_for: Optional[tuple] = None  # the structure last warned about (out of domain)
        self._species: Optional[tuple] = None  # (numbers, species indices) last validated
        self._valid_cell: Optional[tuple] = None  # (cell, pbc) last validated
        self._static: Optional[Dict[str, torch.Tensor]] = None  # device tensors of the current list
        self._static_build = -1
        super().__init__(**kwargs)  # last: with atoms=..., it calls set_atoms, which needs the model

    @classmethod
    def from_file(cls, path: PathLike, **kwargs: Any) -> "ICTPCalculator":
        """The calculator of the model stored in ``path``; ``kwargs`` as for the constructor."""
        return cls(path, **kwargs)

    # ----------------------------------------------------------------------------------------------
    # ASE interface

    def set_atoms(self, atoms) -> None:
        """Called by ASE's ``atoms.calc = self``: check the elements now rather than at the first step.

        Raises:
            UnknownElementError: naming the unknown elements and listing the model's.
        """
        self._species_of(atoms.numbers)

    def check_state(self, atoms, tol: float = 1e-15) -> List[str]:
        """What changed since the last calculation: ASE's check, with exact comparisons.

        ASE compares each array with ``np.allclose`` at ``tol`` (150 us for 3BPA, three times per
        MD step); exact equality reports the same changes, and a change below ``tol`` as well (whose
        recalculation gives the same result).
        """
        if self.atoms is None:
            return list(all_changes)
        checked = set(all_changes) - set(self.ignored_changes)
        old, changes = self.atoms, []
        for name in ("cell", "pbc"):
            if name in checked and not np.array_equal(getattr(old, name), getattr(atoms, name)):
                changes.append(name)
        changes += sorted(checked & (set(old.arrays) ^ set(atoms.arrays)))
        for name in sorted(checked & set(old.arrays) & set(atoms.arrays)):
            if not np.array_equal(old.arrays[name], atoms.arrays[name]):
                changes.append(name)
        return changes

    def calculate(
        self, atoms=None, properties: Optional[Sequence[str]] = None, system_changes: List[str] = all_changes
    ) -> None:
        """Compute every property of ``atoms`` in one evaluation into ``self.results``."""
        properties = ["energy"] if properties is None else properties
        target = self.atoms if atoms is None else atoms
        if "stress" in properties and not target.pbc.all():
            raise PropertyNotImplementedError(
                f"stress needs a cell periodic in all three directions (pbc is {target.pbc.tolist()}); "
                "ICTPCalculator gives no stress for molecules or slabs"
            )
        self.results = {}  # nothing stale survives a failed call
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        positions, cell, pbc, numbers = atoms.positions, atoms.cell.array, atoms.pbc, atoms.numbers
        check_not_empty(len(atoms))
        species = self._species_of(numbers)
        check_finite_positions(positions)
        self._check_cell(cell, pbc)
        receiver, sender, shifts = self.neighbors.update(positions, cell, pbc, numbers)
        check_min_distance(positions, cell, receiver, sender, shifts, self.min_distance, numbers)
        self._check_domain(target, positions, cell, species, receiver, sender, shifts)
        graph = self._graph(positions, cell, pbc, species, receiver, sender, shifts)
        stress = bool(pbc.all())
        self.results = self._results(self._evaluate(graph, stress), len(atoms), stress)

    def evaluate_graph(self, graph: Dict[str, torch.Tensor], stress: bool = False) -> Dict[str, torch.Tensor]:
        """Energy, forces (and stress) of a model input graph, a batch of structures say, through this
        calculator's model and path (compiled where it is), in the model's units.

        Args:
            graph: on the calculator's device and in its dtype (:func:`ictp_calc.data.batch_graphs`
                of :func:`ictp_calc.data.atoms_to_graph`), with its own neighbor lists.
            stress: also virial and stress (periodic graphs).
        """
        if self.compiled is not None:
            self.compiled.prepare(graph)
            self._static_build = -1  # the compiled layout is this graph's now: the next calculate() redoes its own
        return self._evaluate(graph, stress)

    # ----------------------------------------------------------------------------------------------
    # Helpers

    def _evaluate(self, graph: Dict[str, torch.Tensor], stress: bool) -> Dict[str, torch.Tensor]:
        """One model evaluation with forces (and stress) by autograd."""
        self.n_evaluations += 1
        threads = self._threads_for(graph)
        # enable_grad: forces are gradients, even when the caller runs under torch.no_grad().
        with torch.enable_grad():
            if self.compiled is not None:
                try:
                    return run_with_threads(threads, self.compiled, graph, stress)
                except CompileFailedError as err:
                    if not self.compile_fallback:
                        raise
                    message = f"{err.reason}; evaluating without compiling"
                    warnings.warn(CompileFallbackWarning(message), stacklevel=4)
                    self.compiled = None
            return run_with_threads(threads, compute_properties, self.model, graph, forces=True, stress=stress)

    def _threads_for(self, graph: Dict[str, torch.Tensor]) -> Optional[int]:
        """Threads of this evaluation; None: the calling thread's (see the module docstring)."""
        if self.threads is None or self.device.type != "cpu":
            return None
        if self.threads == "auto":
            return auto_threads(graph[keys.EDGE_INDEX].shape[1], self.dtype, self.device)
        return self.threads

    def _check_domain(self, target, positions, cell, species, receiver, sender, shifts) -> None:
        """Warn (:class:`OutOfDomainWarning`, once per structure) when an element pair is closer than
        the shortest distance of that pair in the training data (recorded in the model file)."""
        identity = (id(target), len(species))
        if not len(receiver) or not self.domain_A.any() or self._warned_for == identity:
            return
        vectors = positions[receiver] - positions[sender] - shifts @ cell
        lengths = np.sqrt(np.einsum("ei,ei->e", vectors, vectors))
        message = out_of_domain(lengths, species, receiver, sender, self.domain_A, self.model.config.atomic_numbers)
        if message is not None:
            self._warned_for = identity
            warnings.warn(OutOfDomainWarning(message), stacklevel=2)

    def _species_of(self, numbers: np.ndarray) -> np.ndarray:
        """Species indices ``[N]``; validated again only when the atomic numbers change."""
        if self._species is None or not np.array_equal(numbers, self._species[0]):
            indices = species_indices(numbers, self.model.config.atomic_numbers)
            self._species = (np.array(numbers, copy=True), indices)
        return self._species[1]

    def _check_cell(self, cell: np.ndarray, pbc: np.ndarray) -> None:
        if self._valid_cell is not None and np.array_equal(cell, self._valid_cell[0]):
            if np.array_equal(pbc, self._valid_cell[1]):
                return
        check_cell(cell, pbc, self.min_distance)
        self._valid_cell = (cell.copy(), pbc.copy())

    def _graph(self, positions, cell, pbc, species, receiver, sender, shifts) -> Dict[str, torch.Tensor]:
        """The model's input graph on the device, in model units (see :mod:`ictp_calc.keys`)."""
        n_atoms, n_edges, device = len(species), len(receiver), self.device
        if self._static_build != self.neighbors.n_builds:
            # Everything that only changes with the neighbor list travels as one int64 tensor.
            packed = np.concatenate([receiver, sender, shifts.ravel(), species, pbc.astype(np.int64)])
            packed = torch.from_numpy(packed).to(device)
            self._static = {
                keys.EDGE_INDEX: packed[: 2 * n_edges].view(2, n_edges),
                keys.CELL_SHIFTS: packed[2 * n_edges : 5 * n_edges].view(n_edges, 3).to(self.dtype),
                keys.SPECIES: packed[5 * n_edges : 5 * n_edges + n_atoms],
                keys.PBC: packed[-3:].view(1, 3).bool(),
                keys.BATCH: torch.zeros(n_atoms, dtype=torch.long, device=device),
                keys.N_ATOMS: torch.full((1,), n_atoms, dtype=torch.long, device=device),
            }
            self._static_build = self.neighbors.n_builds
            if self.compiled is not None:
                self.compiled.prepare(self._static)
        assert self._static is not None
        # Positions and cell: one tensor, already in the model's dtype and length unit.
        np_dtype = np.float32 if self.dtype == torch.float32 else np.float64
        floats = np.concatenate([positions.ravel(), cell.ravel()]) / self.length_units_to_A
        floats = torch.from_numpy(floats.astype(np_dtype, copy=False)).to(device)
        return {
            **self._static,
            keys.POSITIONS: floats[: 3 * n_atoms].view(n_atoms, 3),
            keys.CELL: floats[3 * n_atoms :].view(1, 3, 3),
        }

    def _results(self, out: Dict[str, torch.Tensor], n_atoms: int, stress: bool) -> Dict[str, Any]:
        """Model outputs -> ASE results in eV, Å; one device-to-host copy for all of them."""
        names = [keys.ENERGY, keys.NODE_ENERGY, keys.FORCES] + ([keys.STRESS] if stress else [])
        flat = torch.cat([out[name].detach().reshape(-1) for name in names])
        host = flat.to(device="cpu", dtype=torch.float64).numpy()
        e, length = self.energy_units_to_eV, self.length_units_to_A
        values = {
            "energy": host[:1] * e,
            "energies": host[1 : 1 + n_atoms] * e,
            "forces": host[1 + n_atoms : 1 + 4 * n_atoms].reshape(n_atoms, 3) * (e / length),
        }
        if stress:
            values["stress"] = full_3x3_to_voigt_6_stress(host[1 + 4 * n_atoms :].reshape(3, 3)) * (e / length**3)
        check_finite_outputs(values)
        energy = float(values.pop("energy")[0])
        return {"energy": energy, "free_energy": energy, **values}

    # ----------------------------------------------------------------------------------------------
    # Description

    def todict(self, skip_default: bool = True) -> Dict[str, Any]:
        """Primitive description: model file and checksum, dtype, device, package version, settings."""
        return {
            "model_path": self.model_path,
            "model_sha256": self.model_checksum,
            "dtype": _DTYPE_NAMES[self.dtype],
            "device": str(self.device),
            "package_version": __version__,
            "skin": self.skin,
            "energy_units_to_eV": self.energy_units_to_eV,
            "length_units_to_A": self.length_units_to_A,
            "min_distance": self.min_distance,
            "compile": self.compiled.backend if self.compiled is not None else False,
            "compile_mode": self.compiled.mode if self.compiled is not None else None,
            "threads": self.threads,
        }

    def __repr__(self) -> str:
        model = "in-memory model" if self.model_path is None else repr(self.model_path)
        checksum = "" if self.model_checksum is None else f", sha256={self.model_checksum[:16]}"
        return (
            f"ICTPCalculator({model}{checksum}, dtype={_DTYPE_NAMES[self.dtype]}, device={self.device}, "
            f"skin={self.skin:g}, ictp_calc={__version__})"
        )
