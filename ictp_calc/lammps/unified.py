"""The ML-IAP ``unified`` model of LAMMPS for an ICTP model: ``pair_style mliap unified FILE 1``.

LAMMPS builds the neighbor lists, splits the system over MPI ranks and integrates; at every step it
calls :meth:`ICTPUnified.compute_forces` with the pair data of one rank (see
:mod:`ictp_calc.lammps.ghosts`). Each layer is evaluated only on the atoms that need it: the last
one on the owned atoms, the one before on the atoms within one cutoff of them, and so on (the
model's ``layer_sizes`` input). The pairs become the edges of the package's own model graph: all
positions are zero, the cell is the identity and each pair's image shift is its vector
``rij = x_j - x_i``, so that the model's edge vector ``x_i - x_j - shift`` is ``-rij``, the package's
convention. The energy of the owned atoms is differentiated by autograd with respect to these
shifts, which gives LAMMPS's pair forces ``fij = dE/d rij`` (LAMMPS adds ``fij`` to atom ``i`` and
subtracts it from atom ``j``, sends ghost forces back to their owners and tallies the virial
``sum rij (x) fij``). Nothing of the physics is implemented here.

Units: LAMMPS ``units metal`` (Å, eV), the model's units. The file is a pickle (LAMMPS loads
``*.pt`` files with ``torch.load``, which refuses arbitrary objects); it holds the model file's
configuration and weights, not a reference to the model file.
"""

from __future__ import annotations

import atexit
import os
import pickle
import sys
import time
from typing import Any, Dict, Optional, Union

import numpy as np
import torch

from .. import keys
from ..io import read_model_file
from ..io.model_file import upgrade_state_dict
from ..model import DTYPES, ICTPModel, ModelConfig
from .ghosts import GhostSettingsError, check_ghost_neighbors, ghost_shell_depth, prune_pairs

__all__ = ["ICTPUnified", "UnknownTypeError"]

PathLike = Union[str, "os.PathLike[str]"]


class UnknownTypeError(ValueError):
    """An atom type that ``pair_coeff`` did not map to one of the model's elements (``NULL``)."""


class ICTPUnified:
    """ML-IAP unified model of LAMMPS around an ICTP model file.

    The attributes LAMMPS reads are ``element_types`` (the model's elements in species order: the
    ``pair_coeff * * ...`` line maps LAMMPS types onto them), ``rcutfac`` (half the cutoff: LAMMPS
    adds the two atoms' values) and ``ndescriptors``/``nparams`` (unused by unified models; 1).

    Args:
        model_file: an ICTP model file (see :mod:`ictp_calc.io`).
        dtype: ``"float32"`` or ``"float64"`` for inference; default the model's.
        device: ``"cpu"`` or ``"cuda"``/``"cuda:N"``.
        check_ghost_shell: refuse to run when the ghost atoms LAMMPS hands over reach less than
            ``n_layers * cutoff`` beyond the owned atoms (a too short ``comm_modify cutoff``). Checked
            at the first call. Turn it off only for a sparse system whose ghosts end sooner by
            themselves (a molecule in vacuum split over ranks) with the printed cutoff set.

    Attributes:
        model: the frozen :class:`ICTPModel` in eval mode.
        n_calls: calls of :meth:`compute_forces` so far.
        seconds: wall seconds spent in :meth:`compute_forces` so far, by part: ``"prune"`` (reading
            LAMMPS's pair data and choosing the atoms and pairs each layer needs), ``"model"`` (energy
            and pair forces) and ``"total"`` (the whole call, hand-back to LAMMPS included). With the
            environment variable ``ICTP_LAMMPS_TIMINGS=1`` a summary line goes to stderr at exit.
    """

    def __init__(
        self,
        model_file: PathLike,
        dtype: Optional[str] = None,
        device: str = "cpu",
        check_ghost_shell: bool = True,
    ):
        payload = read_model_file(model_file)
        self._setup(
            {"config": payload["config"], "state_dict": payload["state_dict"], "metadata": payload["metadata"]},
            dtype, device, check_ghost_shell,
        )

    # ----------------------------------------------------------------------------------------------
    # Construction and pickling

    def _setup(self, stored: Dict[str, Any], dtype: Optional[str], device: str, check_ghost_shell: bool) -> None:
        from ase.data import chemical_symbols

        config = ModelConfig.from_dict(stored["config"])
        if dtype is not None:
            if dtype not in DTYPES:
                raise ValueError(f"unsupported dtype {dtype!r}; use one of {sorted(DTYPES)}")
            config = config.replace(dtype=dtype)
        self._stored = stored
        self._settings = {"dtype": config.dtype, "device": str(device), "check_ghost_shell": bool(check_ghost_shell)}
        self.device = torch.device(device)
        model = ICTPModel(config)
        # An export pickled before format version 2 holds the old layout: migrate it like a model file.
        model.load_state_dict(upgrade_state_dict(stored["state_dict"], config.atomic_numbers, "the LAMMPS export"))
        self.model = model.to(self.device).eval().requires_grad_(False)
        self.dtype = self.model.dtype
        self.cutoff = float(config.cutoff)
        self.n_layers = int(config.n_interactions)
        self.check_ghost_shell = bool(check_ghost_shell)
        self.n_calls = 0
        self.seconds = {"prune": 0.0, "model": 0.0, "total": 0.0}
        if os.environ.get("ICTP_LAMMPS_TIMINGS", "") not in ("", "0"):
            atexit.register(self._print_timings)
        # Read by LAMMPS:
        self.element_types = [chemical_symbols[z] for z in config.atomic_numbers]
        self.rcutfac = 0.5 * self.cutoff
        self.ndescriptors = 1
        self.nparams = 1
        self.interface = None  # set by LAMMPS when it loads the file

    def __getstate__(self) -> Dict[str, Any]:
        return {"stored": self._stored, "settings": self._settings}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self._setup(state["stored"], **state["settings"])

    def save(self, path: PathLike) -> None:
        """Pickle this model to ``path``, the file that ``pair_style mliap unified`` loads."""
        path = os.fspath(path)
        if path.endswith((".pt", ".pth")):
            raise ValueError(
                f"{path!r}: LAMMPS loads *.pt and *.pth files with torch.load, which refuses this object; "
                "choose another suffix (for example .pkl)"
            )
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "wb") as handle:
            pickle.dump(self, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)

    @property
    def comm_cutoff(self) -> float:
        """The smallest ``comm_modify cutoff`` (Å) without skin: ``n_layers * cutoff``."""
        return self.n_layers * self.cutoff

    # ----------------------------------------------------------------------------------------------
    # The ML-IAP interface

    def compute_descriptors(self, data) -> None:
        """Unused by unified models."""

    def compute_gradients(self, data) -> None:
        """Unused by unified models."""

    def compute_forces(self, data) -> None:
        """One step: owned atoms' energies into ``data.eatoms``/``data.energy``, pair forces to LAMMPS.

        Raises:
            GhostSettingsError: ghost atoms without neighbor lists, or a ghost shell too shallow.
            UnknownTypeError: an atom type mapped to ``NULL`` in ``pair_coeff``.
        """
        start = time.perf_counter()
        nlocal, ntotal, npairs = int(data.nlocal), int(data.ntotal), int(data.npairs)
        elems = np.asarray(data.elems)[:ntotal]
        if (elems < 0).any():
            raise UnknownTypeError(
                "an atom type is mapped to NULL in pair_coeff; the ICTP model must describe every atom "
                f"(pair_coeff * * followed by one of {self.element_types} per type)"
            )
        fij = np.zeros((npairs, 3), dtype=np.float64)
        if npairs == 0:
            pair_i = pair_j = np.zeros(0, dtype=np.int64)
            rij = np.zeros((0, 3))
        else:
            pair_i, pair_j, rij = np.asarray(data.pair_i), np.asarray(data.pair_j), np.asarray(data.rij)
        graph = prune_pairs(nlocal, ntotal, pair_i, pair_j, self.n_layers, rij=rij, cutoff=self.cutoff)
        check_ghost_neighbors(graph, nlocal, self.n_layers)
        if self.n_calls == 0 and self.check_ghost_shell:
            self._check_shell(graph, nlocal, ntotal, pair_i, pair_j, rij)
        self.n_calls += 1
        pruned = time.perf_counter()
        energies, grad = self._evaluate(graph, elems, rij, nlocal)
        self.seconds["model"] += time.perf_counter() - pruned
        self.seconds["prune"] += pruned - start
        fij[graph.pairs] = grad
        data.update_pair_forces(fij)
        atom_list = np.asarray(data.iatoms)[: int(data.nlistatoms)]
        data.eatoms = np.ascontiguousarray(energies[atom_list])
        data.energy = float(energies.sum())
        self.seconds["total"] += time.perf_counter() - start

    # ----------------------------------------------------------------------------------------------
    # Helpers

    def _print_timings(self) -> None:
        if self.n_calls:
            parts = ", ".join(f"{name} {value / self.n_calls:.4f} s" for name, value in self.seconds.items())
            print(f"ICTPUnified: {self.n_calls} calls; per call {parts}", file=sys.stderr)

    def _check_shell(self, graph, nlocal: int, ntotal: int, pair_i, pair_j, rij) -> None:
        depth = ghost_shell_depth(nlocal, ntotal, pair_i, pair_j, rij)
        needed = self.comm_cutoff
        # The outermost ghost lies a little inside the comm cutoff (by about the atomic spacing): half
        # an ångström of slack keeps a cutoff of exactly n_layers * cutoff from being refused.
        if 0.0 < depth < needed - 0.5 and (graph.depth == self.n_layers).any():
            raise GhostSettingsError(
                f"the ghost atoms reach only {depth:.3f} Å beyond the owned atoms, but this "
                f"{self.n_layers}-layer ICTP model sees {self.n_layers} x {self.cutoff:g} = {needed:g} Å deep: "
                f"set 'comm_modify cutoff' to at least {needed:g} Å plus the neighbor skin (as "
                "'ictp-md export-lammps' prints). If it is set and the system simply ends sooner (a molecule "
                "in vacuum split over ranks), export with --no-ghost-shell-check"
            )

    def _evaluate(self, graph, elems: np.ndarray, rij: np.ndarray, nlocal: int):
        """Owned atoms' energies ``[nlocal]`` (eV) and ``dE/d rij`` ``[n_kept_pairs, 3]`` (eV/Å)."""
        n_atoms, device, dtype = graph.atoms.shape[0], self.device, self.dtype
        shifts = torch.from_numpy(np.asarray(rij, dtype=np.float64)[graph.pairs]).to(device, dtype)
        shifts.requires_grad_(True)
        graph_dict = {
            keys.POSITIONS: torch.zeros(n_atoms, 3, dtype=dtype, device=device),
            keys.SPECIES: torch.from_numpy(elems[graph.atoms].astype(np.int64)).to(device),
            keys.EDGE_INDEX: torch.from_numpy(np.stack([graph.receiver, graph.sender])).to(device),
            keys.CELL_SHIFTS: shifts,
            keys.CELL: torch.eye(3, dtype=dtype, device=device).unsqueeze(0),
            keys.PBC: torch.ones(1, 3, dtype=torch.bool, device=device),
            keys.BATCH: torch.zeros(n_atoms, dtype=torch.long, device=device),
            keys.N_ATOMS: torch.full((1,), n_atoms, dtype=torch.long, device=device),
            # Layer t (of T) matters only for atoms at most T - 1 - t hops from the owned ones.
            keys.LAYER_SIZES: torch.tensor(
                [int((graph.depth <= self.n_layers - 1 - t).sum()) for t in range(self.n_layers)]
            ),
        }
        with torch.enable_grad():
            energies = self.model(graph_dict)[keys.NODE_ENERGY][:nlocal]
            owned = energies.sum()
            if owned.requires_grad and shifts.shape[0] > 0:
                (grad,) = torch.autograd.grad(owned, shifts)
            else:  # no pairs: isolated atoms feel no force
                grad = torch.zeros_like(shifts)
        energies = energies.detach().to("cpu", torch.float64).numpy()
        grad = grad.to("cpu", torch.float64).numpy()
        if not (np.isfinite(energies).all() and np.isfinite(grad).all()):
            raise FloatingPointError("the ICTP model returned non-finite energies or forces in LAMMPS")
        return energies, grad

    def __repr__(self) -> str:
        return (
            f"ICTPUnified(elements={self.element_types}, cutoff={self.cutoff:g} Å, layers={self.n_layers}, "
            f"dtype={self._settings['dtype']}, device={self.device})"
        )

