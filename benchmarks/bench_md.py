"""Seconds per MD step through the ASE calculator, next to the bare model evaluation.

For one system of :mod:`bench_model` (``3bpa`` or ``box1k``), with random weights:

* ``model_s``: one bare energy + forces evaluation (``compute_properties``) on a prebuilt graph;
* ``step_s``: one Langevin step (ASE, 0.5 fs, 300 K) through :class:`ICTPCalculator`, skin 0;
* ``step_skin_s``: the same with a Verlet skin (``--skin``, Å);
* ``overhead_s`` / ``overhead_pct``: ``step_s - model_s``, the calculator's and ASE's own cost;
* ``step_compiled_s``: the skin variant with the compiled path (``--compile BACKEND``,
  ``ICTPCalculator(compile=...)``); ``compile_s``: its first step, which compiles;
  ``compiled_steps_per_s``: its inverse;
* ``baseline_step_skin_s``: the skin variant through the same weights in an earlier commit's
  package (``--baseline COMMIT``, :mod:`baseline`); ``steps_per_s`` and ``baseline_steps_per_s``
  are the inverses of the two skin variants;
* ``mace_step_s``: one Langevin step through ``MACECalculator`` with the matching MACE model
  (``--compare mace``, needs ``pip install -e .[bench]``).

Timings are medians over ``--steps`` steps after ``--warmup`` steps, interleaved in blocks so that
drifts of a shared machine hit all variants alike. The last line printed is a JSON object.

Usage::

    python benchmarks/bench_md.py --system 3bpa --dtype float64
    python benchmarks/bench_md.py --system box1k --dtype float32 --steps 10 --compare mace
    python benchmarks/bench_md.py --system 3bpa --compile inductor --threads 1
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import click  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from ase import units  # noqa: E402
from ase.md.langevin import Langevin  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_model import CUTOFF, ELEMENTS, build_ictp, build_mace, build_system  # noqa: E402

from ictp_calc.calculator import ICTPCalculator  # noqa: E402
from ictp_calc.data import atoms_to_graph  # noqa: E402
from ictp_calc.io import save_model  # noqa: E402
from ictp_calc.md.velocities import initialize_velocities  # noqa: E402
from ictp_calc.model import DTYPES, compute_properties  # noqa: E402


def step_timer(atoms, calc, seed: int):
    """A function that runs one Langevin step of its own copy of ``atoms`` and returns its seconds."""
    atoms = atoms.copy()
    atoms.calc = calc
    initialize_velocities(atoms, 300, np.random.default_rng(seed))
    dyn = Langevin(atoms, 0.5 * units.fs, temperature_K=300, friction=0.01 / units.fs, rng=np.random.default_rng(seed))

    def step():
        start = time.perf_counter()
        dyn.run(1)
        return time.perf_counter() - start

    return step


@click.command()
@click.option("--system", type=click.Choice(["3bpa", "box1k"]), default="3bpa", show_default=True)
@click.option("--dtype", type=click.Choice(sorted(DTYPES)), default="float64", show_default=True)
@click.option("--size", type=click.Choice(["small", "paper"]), default="small", show_default=True)
@click.option("--steps", default=20, show_default=True, type=click.IntRange(2), help="Timed steps per variant.")
@click.option("--warmup", default=3, show_default=True, type=click.IntRange(1))
@click.option("--skin", default=1.0, show_default=True, help="Verlet skin of the skin variant, Å.")
@click.option("--compare", type=click.Choice(["mace"]), default=None)
@click.option("--compile", "compile_backend", default=None, metavar="BACKEND", help="Also time the compiled path.")
@click.option("--compile-mode", default=None, metavar="MODE",
              help="torch.compile mode of --compile, e.g. reduce-overhead (CUDA graphs on a GPU).")
@click.option("--threads", type=click.IntRange(1), default=None, help="torch.set_num_threads (default: torch's).")
@click.option("--device", default="cpu", show_default=True, help="Where the models run (cpu, cuda, cuda:N).")
@click.option("--baseline", default=None, metavar="COMMIT", help="Also time that git commit's package, interleaved.")
def main(system, dtype, size, steps, warmup, skin, compare, compile_backend, compile_mode, threads, device, baseline):
    """Time MD steps through ICTPCalculator (see the module docstring)."""
    if threads:
        torch.set_num_threads(threads)
    atoms = build_system(system)
    graph = atoms_to_graph(atoms, ELEMENTS, CUTOFF, dtype=DTYPES[dtype])
    model = build_ictp(size, dtype, graph["edge_index"].shape[1] / len(atoms))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.pt")
        save_model(model, path)
        variants = {
            "step_s": step_timer(atoms, ICTPCalculator(path, device=device), 1),
            "step_skin_s": step_timer(atoms, ICTPCalculator(path, device=device, skin=skin), 1),
        }
        if baseline:
            from baseline import import_baseline

            old = import_baseline(baseline)
            calc = old.calculator.ICTPCalculator(path, device=device, skin=skin)
            variants["baseline_step_skin_s"] = step_timer(atoms, calc, 1)
        if compile_backend:
            calc = ICTPCalculator(path, device=device, skin=skin, compile=compile_backend, compile_mode=compile_mode)
            variants["step_compiled_s"] = step_timer(atoms, calc, 1)
            compile_s = variants["step_compiled_s"]()  # the first step compiles
    frozen = ICTPCalculator(model, device=device).model  # the calculator's own frozen copy
    graph = {k: v.to(frozen.energy_shift.device) for k, v in graph.items()}
    sync = torch.cuda.synchronize if graph["positions"].is_cuda else (lambda: None)

    def bare():
        sync()
        start = time.perf_counter()
        compute_properties(frozen, graph, forces=True)
        sync()
        return time.perf_counter() - start

    variants = {"model_s": bare, **variants}
    if compare == "mace":
        from mace.calculators import MACECalculator

        mace = build_mace(size, dtype, graph["edge_index"].shape[1] / len(atoms))
        variants["mace_step_s"] = step_timer(atoms, MACECalculator(models=mace, device=device, default_dtype=dtype), 1)
    for _ in range(warmup):
        for run in variants.values():
            run()
    times = {name: [] for name in variants}
    for _ in range(steps):
        for name, run in variants.items():
            times[name].append(run())
    result = {"system": system, "dtype": dtype, "size": size, "n_atoms": len(atoms), "device": device}
    result.update({name: statistics.median(t) for name, t in times.items()})
    result["overhead_s"] = result["step_s"] - result["model_s"]
    result["overhead_pct"] = 100 * result["overhead_s"] / result["model_s"]
    result["steps_per_s"] = 1.0 / result["step_skin_s"]
    if baseline:
        result["baseline"], result["baseline_steps_per_s"] = baseline, 1.0 / result["baseline_step_skin_s"]
    result["threads"] = torch.get_num_threads()
    if compile_backend:
        result["compile_s"], result["compile_mode"] = compile_s, compile_mode
        result["compiled_steps_per_s"] = 1.0 / result["step_compiled_s"]
    for name, value in result.items():
        print(f"  {name}: {value:.4f}" if isinstance(value, float) else f"  {name}: {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
