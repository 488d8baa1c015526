"""One energy + forces evaluation at several torch thread counts, interleaved in one process.

Calls alternate between the thread counts (``torch.set_num_threads`` before each call), so a
drifting load on a shared machine hits every count alike; medians are printed, then a JSON line.
Run it as ``ictp-md`` runs: ``OMP_WAIT_POLICY=PASSIVE`` (set here unless the environment has one).

Usage::

    python benchmarks/bench_threads.py --system 3bpa --dtype float64 --threads 1 --threads 2
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import click  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_model import CUTOFF, ELEMENTS, SIZES, build_ictp, build_system  # noqa: E402

from ictp_calc.data import atoms_to_graph  # noqa: E402
from ictp_calc.model import DTYPES, compute_properties  # noqa: E402


@click.command()
@click.option("--system", type=click.Choice(["3bpa", "box1k", "box8k"]), default="3bpa", show_default=True)
@click.option("--dtype", type=click.Choice(sorted(DTYPES)), default="float64", show_default=True)
@click.option("--size", type=click.Choice(SIZES), default="small", show_default=True)
@click.option("--threads", "counts", type=click.IntRange(1), multiple=True, help="Thread counts (default 1 and 2).")
@click.option("--repeats", default=20, show_default=True, type=click.IntRange(1))
@click.option("--warmup", default=2, show_default=True, type=click.IntRange(1))
def main(system, dtype, size, counts, repeats, warmup):
    """Time evaluations at each thread count, interleaved (see the module docstring)."""
    counts = counts or (1, 2)
    atoms = build_system(system)
    graph = atoms_to_graph(atoms, ELEMENTS, CUTOFF, dtype=DTYPES[dtype])
    model = build_ictp(size, dtype, graph["edge_index"].shape[1] / len(atoms))
    times = {n: [] for n in counts}
    for i in range(warmup + repeats):
        for n in counts:
            torch.set_num_threads(n)
            start = time.perf_counter()
            compute_properties(model, graph, forces=True)
            if i >= warmup:
                times[n].append(time.perf_counter() - start)
    result = {"system": system, "dtype": dtype, "size": size, "n_atoms": len(atoms)}
    for n in counts:
        result[f"threads_{n}_s"] = statistics.median(times[n])
        print(f"  {n} thread(s): median {result[f'threads_{n}_s']:.4f} s over {repeats} calls")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
