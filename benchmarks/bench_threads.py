"""One energy + forces evaluation at several torch thread counts, interleaved in one process.

Calls alternate between the thread counts (``torch.set_num_threads`` before each call, or each
``--block`` calls), so a drifting load on a shared machine hits every count alike; medians of wall
time and of the process's CPU time per call (all its threads: a spinning OpenMP thread counts) are
printed, then a JSON line. Run it as ``ictp-md`` runs: ``OMP_WAIT_POLICY=PASSIVE`` (set here unless
the environment has one).

``--compile inductor`` times the compiled path (:class:`ictp_calc.inference.CompiledPotential`) as
well, interleaved with the eager calls; ``--calculator`` the same calls through
:class:`ictp_calc.calculator.ICTPCalculator` (``evaluate_graph``), whose ``threads="auto"``
evaluates a small graph on one thread of its own whatever torch's count. ``--busy K`` starts K
busy-loop processes for the duration of the timing, each pinned to one of the last K cores this
process may use (other work on a shared machine; the default 0 leaves the cores idle): a second
thread then competes with that load instead of waking an idle core.

Usage::

    python benchmarks/bench_threads.py --system 3bpa --dtype float64 --threads 1 --threads 2
    python benchmarks/bench_threads.py --system 3bpa --compile inductor --busy 1
    python benchmarks/bench_threads.py --system 3bpa --compile inductor --calculator
    python benchmarks/bench_threads.py --molecules 4 --dtype float32      # 108 atoms in a periodic box
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import contextlib  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import click  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_model import CUTOFF, ELEMENTS, SIZES, bpa_molecule, build_ictp, build_system, pack_molecules  # noqa: E402

from ictp_calc.calculator import ICTPCalculator  # noqa: E402
from ictp_calc.data import atoms_to_graph  # noqa: E402
from ictp_calc.inference import CompiledPotential  # noqa: E402
from ictp_calc.model import DTYPES, compute_properties  # noqa: E402


@contextlib.contextmanager
def busy_loops(count: int):
    """``count`` busy-loop processes, pinned to the last ``count`` usable cores, while the block runs."""
    cores = sorted(os.sched_getaffinity(0))
    if count > len(cores):
        raise click.BadParameter(f"--busy {count}: this process may use only {len(cores)} cores")
    loops = []
    try:
        for core in cores[len(cores) - count:]:
            loop = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            os.sched_setaffinity(loop.pid, {core})
            loops.append(loop)
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


@click.command()
@click.option("--system", type=click.Choice(["3bpa", "box1k", "box8k"]), default="3bpa", show_default=True)
@click.option("--molecules", type=click.IntRange(1), default=None,
              help="Instead of --system: a periodic box of this many 3BPA molecules at the boxes' density.")
@click.option("--dtype", type=click.Choice(sorted(DTYPES)), default="float64", show_default=True)
@click.option("--size", type=click.Choice(SIZES), default="small", show_default=True)
@click.option("--threads", "counts", type=click.IntRange(1), multiple=True, help="Thread counts (default 1 and 2).")
@click.option("--compile", "backend", default=None, help="Also time the compiled path with this backend (inductor).")
@click.option("--busy", type=click.IntRange(0), default=0, show_default=True,
              help="Busy-loop processes on the last cores while timing (a loaded machine).")
@click.option("--calculator", is_flag=True,
              help="Also time calls through ICTPCalculator (threads='auto'), compiled too with --compile.")
@click.option("--block", default=1, show_default=True, type=click.IntRange(1),
              help="Calls in a row per path and thread count before the next (1: strictly alternating).")
@click.option("--repeats", default=20, show_default=True, type=click.IntRange(1))
@click.option("--warmup", default=2, show_default=True, type=click.IntRange(1))
def main(system, molecules, dtype, size, counts, backend, busy, calculator, block, repeats, warmup):
    """Time evaluations at each thread count, interleaved (see the module docstring)."""
    counts = counts or (1, 2)
    atoms = build_system(system) if molecules is None else pack_molecules(bpa_molecule(), molecules, seed=0)
    graph = atoms_to_graph(atoms, ELEMENTS, CUTOFF, dtype=DTYPES[dtype])
    model = build_ictp(size, dtype, graph["edge_index"].shape[1] / len(atoms))
    calls = {"eager": lambda: compute_properties(model, graph, forces=True)}
    if backend:
        potential = CompiledPotential(model, backend=backend)
        potential.prepare(graph)
        start = time.perf_counter()
        potential(graph)
        print(f"  compiled ({backend}) in {time.perf_counter() - start:.1f} s")
        calls["compiled"] = lambda: potential(graph)
    if calculator:  # through ICTPCalculator's threads="auto": a small graph runs on one thread of its own
        calc = ICTPCalculator(model, device="cpu")
        calls["calculator"] = lambda: calc.evaluate_graph(graph)
        if backend:
            compiled_calc = ICTPCalculator(model, device="cpu", compile=backend)
            compiled_calc.evaluate_graph(graph)  # compiles (inductor's cache is warm by now)
            calls["calculator_compiled"] = lambda: compiled_calc.evaluate_graph(graph)
    times = {(name, n): [] for name in calls for n in counts}
    cpu = {(name, n): [] for name in calls for n in counts}
    with busy_loops(busy):
        for i in range(0, warmup + repeats, block):
            for name, call in calls.items():
                for n in counts:
                    torch.set_num_threads(n)
                    for j in range(i, min(i + block, warmup + repeats)):
                        start, start_cpu = time.perf_counter(), time.process_time()
                        call()
                        if j >= warmup:
                            times[name, n].append(time.perf_counter() - start)
                            cpu[name, n].append(time.process_time() - start_cpu)
    result = {"system": system if molecules is None else f"{molecules} molecules", "dtype": dtype, "size": size,
              "n_atoms": len(atoms), "n_edges": graph["edge_index"].shape[1], "busy": busy,
              "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}
    for (name, n), values in times.items():
        key = f"{name}_threads_{n}_s"
        result[key] = statistics.median(values)
        result[key.replace("_s", "_cpu_s")] = statistics.median(cpu[name, n])
        print(f"  {name}, {n} thread(s): median {result[key]:.4f} s over {repeats} calls, "
              f"CPU {result[key.replace('_s', '_cpu_s')]:.4f} s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
