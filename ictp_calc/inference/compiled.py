"""Energy, forces and stress of a model as one ``torch.compile``-d function of a padded graph.

The function is the model's own forward pass and :func:`~ictp_calc.model.compute_properties`
(forces and stress by ``torch.autograd.grad``), compiled with ``fullgraph=True`` and static
shapes on a graph padded to :class:`~ictp_calc.inference.padding.Capacities`: no host reads, no
graph breaks, and one compilation per capacity (and per stress on/off). Capacities only grow, in
steps, so an MD run compiles once or a few times. The eager model stays the reference; compiled
results agree to rounding (float64 ~1e-12 relative).

It needs torch >= 2.11 (:data:`MIN_TORCH`, the oldest tested; compiled and eager agree there as on
2.13). Dynamo of torch 2.11 cannot trace ``requires_grad_()`` ("Unsupported Tensor.requires_grad_()
call"), so the positions and the strain to differentiate by are made leaves here, outside the
compiled function, and passed in. Older versions raise :class:`CompileUnavailableError` at
construction instead of failing deep in tracing.
Compiling itself can fail on a machine whose toolchain inductor cannot use (no working C++ compiler,
no Python headers): the first call of each capacity then raises :class:`CompileFailedError`, and
:class:`~ictp_calc.ICTPCalculator` can fall back to the eager model (``compile_fallback=True``).
"""

from __future__ import annotations

import os
import re
import shutil
from typing import Callable, Dict, Optional, Tuple

import torch

from .. import keys
from ..model import ICTPModel, compute_properties
from ..nn.convolution import edge_pairs
from .padding import Capacities, in_degrees, pad_positions, pad_static, unpad_outputs
from .threads import SMALL_SYSTEM_ATOMS

__all__ = [
    "AUTO_COMPILE_STEPS",
    "CompileFailedError",
    "CompileFallbackWarning",
    "CompiledPotential",
    "CompileUnavailableError",
    "MIN_TORCH",
    "compile_pays",
]

MIN_TORCH: Tuple[int, int] = (2, 11)  # the oldest torch the compiled path was tested with

Graph = Dict[str, torch.Tensor]
_RECOMPILE_LIMIT = 64  # capacities grow by >= 25 % a time: 64 compilations span any realistic range


def _energy_forces_stress(model: ICTPModel, graph: Graph, strain: Optional[torch.Tensor]) -> Graph:
    out = compute_properties(model, graph, forces=True, stress=strain is not None, strain=strain)
    return {name: value.detach() for name, value in out.items()}


class CompileUnavailableError(ValueError):
    """``compile`` was asked for, but this torch cannot compile the model (too old)."""


class CompileFailedError(CompileUnavailableError):
    """Compiling failed on this machine (e.g. inductor found no working C++ compiler).

    Attributes:
        reason: what failed, with the first line of torch's error (chained as ``__cause__``).
    """

    def __init__(self, reason: str):
        super().__init__(f"{reason}; evaluate without compiling (compile=False; ictp-md: --no-compile)")
        self.reason = reason


class CompileFallbackWarning(UserWarning):
    """Compiling failed and the calculator evaluates with the eager model instead."""


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


AUTO_COMPILE_STEPS = 20_000  # 10 ps at 0.5 fs; see compile_pays


def cpp_compiler_found() -> bool:
    """Whether inductor's C++ compiler (``$CXX``, else ``g++``) is on the ``PATH``."""
    return shutil.which(os.environ.get("CXX") or "g++") is not None


def compile_pays(n_steps: int, n_atoms: int, device: str) -> bool:
    """Whether compiling pays for a run of ``n_steps`` model evaluations of ``n_atoms`` atoms.

    Measured on one CPU core (``benchmarks/README.md``): a compiled 3BPA step (``small`` size) saves
    about 15 ms in float64 and 12 ms in float32 against the eager one, and compiling takes about 5 s
    with inductor's on-disk cache warm and 1-1.5 minutes cold (longer on a busy machine). From
    :data:`AUTO_COMPILE_STEPS` steps on, the run saves several times the compile time. Only below
    :data:`~ictp_calc.inference.threads.SMALL_SYSTEM_ATOMS` atoms (the compiled path keeps per-slot
    intermediates), on a CPU (unmeasured on a GPU), with a torch that can compile
    (:data:`MIN_TORCH`) and a C++ compiler for inductor.

    Args:
        device: ``"cpu"``, ``"cuda"``... (a resolved device type).
    """
    return (
        n_steps >= AUTO_COMPILE_STEPS
        and n_atoms < SMALL_SYSTEM_ATOMS
        and device == "cpu"
        and torch_release(torch.__version__) >= MIN_TORCH
        and cpp_compiler_found()
    )


def torch_release(version: str) -> Tuple[int, int]:
    """``(major, minor)`` of a torch version string such as ``"2.13.0+cpu"`` (``(0, 0)`` if unreadable)."""
    found = re.match(r"(\d+)\.(\d+)", version)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


class CompiledPotential:
    """A frozen model's energy, forces (and stress), compiled per capacity.

    Args:
        model: an :class:`ICTPModel` in eval mode with frozen parameters (the calculator's own).
        backend: ``torch.compile`` backend (``"inductor"``; ``"aot_eager"`` compiles fast, for tests).
        mode: ``torch.compile`` mode, e.g. ``"reduce-overhead"`` (CUDA graphs) on a GPU.

    Without a mode, inductor on a CPU gets two options: its wrapper in C++ (``cpp_wrapper``; the
    Python wrapper that launches the ~150 kernels of a 3BPA call cost about 10 % of the call), and,
    for fewer than :data:`~ictp_calc.inference.threads.SMALL_SYSTEM_ATOMS` atoms at the first
    :meth:`prepare`, single-threaded generated kernels (``cpp.threads = 1``) whatever torch's thread
    count: each of those tiny kernels would otherwise wake the OpenMP threads (3BPA float64 with
    two threads: 187 ms a call before, 19 ms now; with one thread 11 ms).

    Attributes:
        capacities: current :class:`Capacities` (None before the first call).
        n_capacity_changes: how often the capacities grew (each change compiles again).
        n_edges: edges of the last prepared graph (before padding).
    """

    def __init__(self, model: ICTPModel, backend: str = "inductor", mode: Optional[str] = None):
        if torch_release(torch.__version__) < MIN_TORCH:
            raise CompileUnavailableError(
                f"the compiled path needs torch >= {MIN_TORCH[0]}.{MIN_TORCH[1]} (this is {torch.__version__}, "
                "whose torch.compile cannot trace the force derivative); use compile=False (ictp-md: --no-compile)"
            )
        self.model = model
        self.backend, self.mode = backend, mode
        self._fn: Optional[Callable] = None  # compiled at the first prepare, which knows the atoms
        self.capacities: Optional[Capacities] = None
        self.n_capacity_changes = 0
        self.n_edges = 0
        self._static: Optional[Graph] = None
        self._compiled_for: set = set()  # (capacities, stress) whose compilation succeeded

    def prepare(self, graph: Graph) -> None:
        """Pad the parts of ``graph`` that change only with the neighbor list (call after each rebuild).

        Reads the in-degrees and the number of edge pairs back to the host (the capacities must
        hold them); the calls that follow read nothing back.

        Args:
            graph: the unpadded graph (its positions and cell are not used here).
        """
        n_atoms, n_edges = graph[keys.SPECIES].shape[0], graph[keys.EDGE_INDEX].shape[1]
        self.n_edges = n_edges
        degrees = in_degrees(graph, n_atoms)
        pairs = edge_pairs(graph[keys.EDGE_INDEX], graph[keys.CELL_SHIFTS])
        current = self.capacities or Capacities(0, 0)
        grown = current.grown(n_atoms, n_edges, degrees, pairs[1].shape[0])
        if self._fn is None:
            self._fn = self._compile(n_atoms)
        if grown != current:
            self.capacities = grown
            self.n_capacity_changes += 1
        self._static = pad_static(graph, self.capacities, pairs)

    def _compile(self, n_atoms: int) -> Callable:
        """The compiled function, with inductor's CPU options (see the class docstring)."""
        options = None
        on_cpu = next(self.model.parameters()).device.type == "cpu"
        if self.backend == "inductor" and self.mode is None and on_cpu:
            options = {"cpp_wrapper": True, "cpp.threads": 1 if n_atoms < SMALL_SYSTEM_ATOMS else -1}
        return torch.compile(
            _energy_forces_stress, backend=self.backend, mode=self.mode, options=options, fullgraph=True, dynamic=False
        )

    def __call__(self, graph: Graph, stress: bool = False) -> Graph:
        """Energy ``[G]``, per-atom energies, forces (and virial, stress) of ``graph``, unpadded.

        :meth:`prepare` must have been called for the graph's current neighbor list.

        Raises:
            CompileFailedError: the first call of a capacity (and stress on/off), which compiles, failed.
        """
        if self._static is None or self.capacities is None or self._fn is None:
            raise RuntimeError("CompiledPotential.prepare(graph) must be called first")
        padded = {**self._static, **pad_positions(graph[keys.POSITIONS], graph[keys.CELL], self.capacities)}
        # The leaves to differentiate by, made here: dynamo of torch 2.11 cannot trace requires_grad_().
        padded[keys.POSITIONS] = padded[keys.POSITIONS].detach().requires_grad_(True)
        cell = padded[keys.CELL]
        strain = cell.new_zeros(cell.shape).requires_grad_(True) if stress else None
        key = (self.capacities, bool(stress))
        try:
            # Dynamo traces torch.autograd.grad only with this option, and the compiled code of every
            # capacity (and model) counts against one recompile limit; patched here, not globally.
            with torch._dynamo.config.patch(trace_autograd_ops=True, recompile_limit=_RECOMPILE_LIMIT):
                out = self._fn(self.model, padded, strain)
        except Exception as err:
            if key in self._compiled_for:  # not a compilation: the error is the caller's to see
                raise
            reason = f"torch.compile ({self.backend}) failed on this machine: {_first_line(err)}"
            raise CompileFailedError(reason) from err
        self._compiled_for.add(key)
        return unpad_outputs(out, graph[keys.SPECIES].shape[0], graph[keys.CELL].shape[0])
