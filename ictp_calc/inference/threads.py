"""How many CPU threads a model evaluation uses, and evaluating with a thread count of its own.

A molecule of a few dozen atoms is overhead-bound: hundreds of small torch operations per
energy and forces call, each too small to split, and each of torch's matrix products wakes the
other OpenMP threads. Extra threads then only add synchronization (and, unless
``OMP_WAIT_POLICY=PASSIVE``, spin while idle), so one thread is fastest; larger graphs are
compute-bound and gain from every free core. The crossover lies near :data:`ONE_THREAD_EDGES`
edges, twice as many in float32 as in float64 (measurements in ``benchmarks/README.md``, "One thread
for small graphs").

:func:`run_with_threads` evaluates a function with a given torch thread count without changing the
caller's: on a private worker thread whose own OpenMP and MKL thread counts are set (both are
per-thread settings in torch's OpenMP builds), one worker per count, made at first use and kept
for the process.
"""

from __future__ import annotations

import os
import threading
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Optional, TypeVar, Union

import torch

__all__ = [
    "ONE_THREAD_EDGES",
    "ONE_THREAD_TRAINING_EDGES",
    "auto_threads",
    "SMALL_SYSTEM_ATOMS",
    "available_cores",
    "choose_threads",
    "run_with_threads",
]

# Below this many atoms the compiled path pays for itself in long MD runs on a CPU and its kernels
# run on one thread (see :mod:`ictp_calc.inference.compiled`).
SMALL_SYSTEM_ATOMS = 1000

# Per dtype: graphs with fewer edges (directed, those of the neighbor list) are evaluated fastest on
# one thread. Measured with 2 threads against 1 on two idle cores, passive OpenMP threads, ``small``
# size, eager path, periodic boxes of 3BPA molecules (``benchmarks/README.md``, "One thread for
# small graphs").
ONE_THREAD_EDGES = {"float64": 2000, "float32": 4000}

# The same for a training step (forward, forces, loss, backward through the forces, optimizer step):
# batches of 3BPA structures, 2 threads against 1 (``benchmarks/README.md``, "One thread for small
# graphs"); a training batch gains from a second thread later than an evaluation.
ONE_THREAD_TRAINING_EDGES = {"float64": 3000, "float32": 6000}

T = TypeVar("T")


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def choose_threads(requested: Optional[int]) -> int:
    """Torch threads of a process that evaluates models: ``requested`` when given, else every core.

    Small graphs still run on one thread through :class:`~ictp_calc.calculator.ICTPCalculator`'s
    ``threads="auto"`` (fewer edges than :data:`ONE_THREAD_EDGES` gives for the dtype).

    Raises:
        ValueError: ``requested < 1``.
    """
    if requested is not None:
        if int(requested) < 1:
            raise ValueError(f"threads must be >= 1, got {requested}")
        return int(requested)
    return available_cores()


def auto_threads(n_edges: int, dtype: torch.dtype, device: Union[str, torch.device],
                 limits: Optional[Dict[str, int]] = None) -> Optional[int]:
    """The automatic choice for one evaluation (or training step) of a graph of ``n_edges`` edges.

    Args:
        limits: edges per dtype name below which one thread is used; default
            :data:`ONE_THREAD_EDGES` (evaluations; :data:`ONE_THREAD_TRAINING_EDGES` for training).

    Returns:
        1 on a CPU below the limit for ``dtype``; None (torch's count) otherwise.
    """
    if torch.device(device).type != "cpu":
        return None
    limit = (ONE_THREAD_EDGES if limits is None else limits).get(str(dtype).replace("torch.", ""), 0)
    return 1 if n_edges < limit else None


def run_with_threads(threads: Optional[int], fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` evaluated with ``threads`` torch threads; the caller's count stays as it is.

    On the calling thread when ``threads`` is None or already the caller's count; otherwise on a
    private worker thread of that count, with the caller's grad mode (other thread-local torch state,
    autocast say, is not carried over). Calls of one count from several threads queue for its
    worker. Where per-thread counts are not available (a torch build without OpenMP), on the
    calling thread. Exceptions of ``fn`` reach the caller; when the caller is interrupted while it
    waits (Ctrl-C, an exception from a signal handler), that exception reaches it once ``fn`` has
    finished.
    """
    if threads is None or threads == torch.get_num_threads():
        return fn(*args, **kwargs)
    worker = _worker(threads)
    if worker is None:
        return fn(*args, **kwargs)
    grad = torch.is_grad_enabled()

    def call() -> T:
        with torch.set_grad_enabled(grad):
            return fn(*args, **kwargs)

    future = None
    try:
        future = worker.submit(call)
        return future.result()
    except BaseException:
        if future is not None and not future.done():
            # The caller was interrupted while waiting (Ctrl-C, a signal handler's exception): the
            # call finishes first, so that nothing it uses changes after the caller has moved on.
            futures.wait([future])
        raise


_workers: Dict[int, Optional[ThreadPoolExecutor]] = {}
_workers_lock = threading.Lock()


def _worker(threads: int) -> Optional[ThreadPoolExecutor]:
    """The worker of ``threads`` threads (None where a thread cannot have a count of its own)."""
    with _workers_lock:
        if threads not in _workers:
            _workers[threads] = _start_worker(threads)
        return _workers[threads]


def _start_worker(threads: int) -> Optional[ThreadPoolExecutor]:
    if "parallel backend: OpenMP" not in torch.__config__.parallel_info():
        return None  # torch's native thread pool is one for the process
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ictp-{threads}-threads")
    caller = torch.get_num_threads()

    def set_count() -> int:
        torch.get_num_threads()  # torch sets a thread's count lazily at its first use: let it happen first
        torch.set_num_threads(threads)  # this thread's OpenMP and MKL counts
        return torch.get_num_threads()

    try:
        count = worker.submit(set_count).result()
    finally:
        # torch.set_num_threads also records the count that threads started later begin with:
        # record the caller's again (the caller's own count is unchanged by this).
        torch.set_num_threads(caller)
    if count != threads:
        worker.shutdown()
        return None
    return worker


def _forget_workers() -> None:
    """In a forked child: the parent's worker threads do not exist there."""
    global _workers_lock
    _workers.clear()
    _workers_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers)
