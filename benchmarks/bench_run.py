"""Throughput of ``ictp-md run`` (the library's ``run_md``) for 3BPA, next to the bare model evaluation.

The issue's speed criterion: the MD driver's own overhead per step (everything except the model's
forward and backward pass: ASE's integrator, the calculator's neighbor list and transfers, the health
monitor, outputs, progress) must stay under 10 % of the model evaluation.

* ``model_s``: median of one bare energy + forces evaluation (``compute_properties``) on a prebuilt
  graph of the starting geometry, through the calculator's own frozen model;
* ``ase_step_s``: one plain ASE Langevin step (300 K velocities) through the driver's calculator, no driver;
* ``run_step_s``: wall time of ``run_md`` (Langevin, 300 K, 0.5 fs, health monitor on, a frame and
  a log row every 10 steps) divided by its steps, with ``steps_per_s`` and ``ns_per_day``;
* ``overhead_pct``: ``100 (run_step_s - model_s) / model_s``; ``driver_pct``: the part of it that
  ``run_md`` adds to a plain ASE loop, ``100 (run_step_s - ase_step_s) / model_s``.

Each of ``--rounds`` rounds times some bare calls, a driver run and a plain ASE run of ``--steps``
steps, one after the other; the figures are medians over the rounds (``steps_per_s`` and
``ns_per_day`` are the median round's). ``--compile`` uses the compiled path throughout.

Usage (from the repository root)::

    python benchmarks/bench_run.py                       # the shipped model, CPU or GPU (auto)
    python benchmarks/bench_run.py --model runs/3bpa/best_model.pt --device cuda
    python benchmarks/bench_run.py --stand-in            # random weights, configs/3bpa.toml's size
    python benchmarks/bench_run.py --compile --dtype float32 --rounds 5

The last line printed is a JSON object with the numbers above.
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
from ase.io import read  # noqa: E402
from ase.md.langevin import Langevin  # noqa: E402
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution  # noqa: E402

from ictp_calc.calculator import ICTPCalculator  # noqa: E402
from ictp_calc.data import atoms_to_graph  # noqa: E402
from ictp_calc.io import save_model  # noqa: E402
from ictp_calc.md import MDSettings, default_model_path, run_md  # noqa: E402
from ictp_calc.model import ModelConfig, build_model, compute_properties  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START = os.path.join(REPO, "examples", "data", "3bpa_start.xyz")


def stand_in_model(path: str) -> None:
    """Random weights with the hyperparameters of configs/3bpa.toml (the shipped model's recipe)."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib
    with open(os.path.join(REPO, "configs", "3bpa.toml"), "rb") as handle:
        table = tomllib.load(handle)["model"]
    table = {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
    save_model(build_model(ModelConfig(atomic_numbers=(1, 6, 7, 8), avg_n_neighbors=12.0, **table), seed=0), path)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@click.command()
@click.option("--model", type=click.Path(exists=True, dir_okay=False), help="[default: the shipped model]")
@click.option("--stand-in", is_flag=True, help="Random weights of the shipped model's size instead.")
@click.option("--device", default="auto", show_default=True)
@click.option("--dtype", type=click.Choice(["float32", "float64"]), help="[default: the model's]")
@click.option("--skin", default=0.5, show_default=True, help="Verlet skin, Å (ictp-md run's default).")
@click.option("--steps", default=300, show_default=True, type=click.IntRange(20), help="Timed MD steps per round.")
@click.option("--repeats", default=100, show_default=True, type=click.IntRange(5), help="Bare evaluations.")
@click.option("--compile", "compile_", is_flag=True, help="The compiled path everywhere (bare: CompiledPotential).")
@click.option("--rounds", default=3, show_default=True, type=click.IntRange(1),
              help="Rounds of (bare calls, driver run, plain ASE run), alternating; medians over rounds.")
def main(model, stand_in, device, dtype, skin, steps, repeats, compile_, rounds):
    """Time ictp-md run against the bare model (see the module docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        if stand_in:
            model = os.path.join(tmp, "stand_in.pt")
            stand_in_model(model)
        model = model or default_model_path()
        calc = ICTPCalculator(model, device=device, dtype=dtype, skin=skin, compile=compile_)
        atoms = read(START)
        graph = atoms_to_graph(atoms, calc.model.config.atomic_numbers, calc.model.config.cutoff, dtype=calc.dtype)
        graph = {k: v.to(calc.device) for k, v in graph.items()}
        if compile_:
            calc.compiled.prepare(graph)

        def bare() -> float:
            _sync(calc.device)
            start = time.perf_counter()
            if compile_:
                calc.compiled(graph)
            else:
                compute_properties(calc.model, graph, forces=True)
            _sync(calc.device)
            return time.perf_counter() - start

        # One calculator for every driver run, so that a compiled one compiles once, in the warm-up run.
        driver_calc = ICTPCalculator(model, device=device, dtype=dtype, skin=skin, compile=compile_)

        def driver_steps(n: int) -> dict:
            settings = MDSettings(structure=START, model=model, temperature_K=300.0, steps=n, skin=skin,
                                  device=device, dtype=dtype, output_dir=os.path.join(tmp, "md"), compile=compile_)
            return run_md(settings, overwrite=True, calculator=driver_calc, progress=None)

        def ase_steps(n: int) -> float:
            work = atoms.copy()
            work.calc = driver_calc
            MaxwellBoltzmannDistribution(work, temperature_K=300, rng=np.random.default_rng(0))
            dyn = Langevin(work, 0.5 * units.fs, temperature_K=300, friction=0.01 / units.fs, fixcm=False,
                           rng=np.random.default_rng(0))
            dyn.run(5)
            start = time.perf_counter()
            dyn.run(n)
            return (time.perf_counter() - start) / n

        for _ in range(5):
            bare()
        driver_steps(20)  # warm-up: allocator, kernels (and compiling the run's capacities)
        # Rounds alternate the three measurements, so that a drifting load hits each alike; medians.
        model_times, run_steps, ase_step_times, runs = [], [], [], []
        for _ in range(rounds):
            model_times += [bare() for _ in range(max(1, repeats // rounds))]
            runs.append(driver_steps(steps))
            run_steps.append(1.0 / runs[-1].steps_per_s)
            ase_step_times.append(ase_steps(steps))
    model_s, run_step, ase_step = (statistics.median(v) for v in (model_times, run_steps, ase_step_times))
    result_run = runs[run_steps.index(sorted(run_steps)[len(run_steps) // 2])]  # the median round's
    result = {
        "model": os.path.basename(model) if not stand_in else "stand-in (random, configs/3bpa.toml)",
        "device": str(calc.device), "dtype": str(calc.dtype).replace("torch.", ""), "n_atoms": len(atoms),
        "threads": torch.get_num_threads(), "model_s": model_s, "ase_step_s": ase_step, "run_step_s": run_step,
        "steps_per_s": result_run.steps_per_s, "ns_per_day": result_run.ns_per_day,
        "overhead_pct": 100 * (run_step - model_s) / model_s, "driver_pct": 100 * (run_step - ase_step) / model_s,
    }
    for name, value in result.items():
        print(f"  {name}: {value:.5g}" if isinstance(value, float) else f"  {name}: {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
