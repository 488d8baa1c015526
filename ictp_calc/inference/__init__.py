"""Fast inference: padded, sync-free graphs for ``torch.compile`` and the choice of CPU threads.

:mod:`~ictp_calc.inference.padding` pads a graph to capacities that grow in steps and builds the
bucketed slot layout without host reads; :mod:`~ictp_calc.inference.compiled` compiles energy, forces
and stress of a model once per capacity; :mod:`~ictp_calc.inference.threads` chooses thread counts
and evaluates with a count of its own on a worker thread. Nothing here changes global torch state.
"""

from .compiled import (
    AUTO_COMPILE_STEPS,
    MIN_TORCH,
    CompiledPotential,
    CompileFailedError,
    CompileFallbackWarning,
    CompileUnavailableError,
    compile_pays,
)
from .padding import Capacities, grow_capacity, in_degrees, pad_graph, plan_buckets
from .threads import (
    ONE_THREAD_EDGES,
    ONE_THREAD_TRAINING_EDGES,
    SMALL_SYSTEM_ATOMS,
    auto_threads,
    choose_threads,
    run_with_threads,
)

__all__ = [
    "AUTO_COMPILE_STEPS",
    "Capacities",
    "CompileFailedError",
    "CompileFallbackWarning",
    "CompileUnavailableError",
    "CompiledPotential",
    "MIN_TORCH",
    "ONE_THREAD_EDGES",
    "ONE_THREAD_TRAINING_EDGES",
    "SMALL_SYSTEM_ATOMS",
    "auto_threads",
    "choose_threads",
    "compile_pays",
    "grow_capacity",
    "in_degrees",
    "pad_graph",
    "plan_buckets",
    "run_with_threads",
]
