"""ICTP in LAMMPS (ML-IAP unified, 1 and 2 MPI ranks) against the ASE path, and NVE energy conservation.

``speed``: seconds per NVE step (0.5 fs, velocity Verlet) of a :mod:`bench_model` system
(``3bpa``, ``box1k``, ``box8k``) with a model file (default the shipped 3BPA model, float64):

* ``ase_s``: ASE's ``VelocityVerlet`` through :class:`ICTPCalculator` (skin ``--skin``), median of
  ``--steps`` steps after one warm-up step;
* ``lammps_<n>rank_s``: LAMMPS's ``Loop time`` of ``run --steps`` divided by the steps (the run's
  setup, which imports Python and makes the first model call, is not in it), for each ``--ranks``.

``adapter``: without LAMMPS, the adapter's call (:class:`~ictp_calc.lammps.ICTPUnified` on the
stand-in of one rank's ML-IAP data, ``tests/lammps_coupling/standin.py``: owned atoms, ghosts
``--comm-cutoff`` deep, ghost neighbor lists on, pairs within cutoff + ``--skin``) against one
energy + forces call of the ASE path on the same structure, calls interleaved in one process
(``adapter_s``, ``ase_s``: medians of ``--repeats`` each). It isolates the model's share of a
LAMMPS step from LAMMPS itself.

``nve``: ``--steps`` steps (default 1000) of NVE from the same 300 K velocities in LAMMPS and in ASE
for the 3BPA molecule: energy drift (last minus first total energy) and peak-to-peak spread.

Needs the LAMMPS of ``tools/build_lammps.sh`` (``eval "$(bash tools/build_lammps.sh)"``). The
last line printed is a JSON object. On a shared machine, pin with ``taskset`` and set
``OMP_NUM_THREADS=1``; two ranks on one pinned core share it (they measure overhead, not speedup).

Usage::

    python benchmarks/bench_lammps.py speed --system box1k --steps 5 --ranks 1 --ranks 2
    python benchmarks/bench_lammps.py adapter --system box8k --repeats 3
    python benchmarks/bench_lammps.py nve --steps 1000
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import json  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import click  # noqa: E402
import numpy as np  # noqa: E402
from ase import units  # noqa: E402
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary, ZeroRotation  # noqa: E402
from ase.md.verlet import VelocityVerlet  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO / "tests" / "lammps_coupling"))
from bench_model import build_system  # noqa: E402
from lammps_runner import find_lammps, run_lammps, write_data  # noqa: E402

from ictp_calc.calculator import ICTPCalculator  # noqa: E402
from ictp_calc.lammps import export_lammps  # noqa: E402

SHIPPED = REPO / "models" / "ictp-3bpa.pt"
_LOOP = re.compile(r"Loop time of ([0-9.eE+-]+) on (\d+) procs for (\d+) steps")


def _start(atoms, seed: int):
    """300 K velocities without drift (and, for a molecule, without rotation); a molecule gets a box."""
    atoms = atoms.copy()
    MaxwellBoltzmannDistribution(atoms, temperature_K=300.0, rng=np.random.default_rng(seed))
    Stationary(atoms)
    if not atoms.pbc.any():
        ZeroRotation(atoms)
        atoms.cell = np.eye(3) * (np.ptp(atoms.positions, axis=0).max() + 40.0)
        atoms.pbc = True
        atoms.center()
    return atoms


def _lammps_script(settings, body: str) -> str:
    return (
        "units metal\natom_style atomic\natom_modify map array\nboundary p p p\nread_data data.lmp\n"
        f"neighbor {settings.skin:g} bin\n{settings.comm_modify}\n{settings.pair_style}\n{settings.pair_coeff}\n"
        "timestep 0.0005\nfix nve all nve\n" + body
    )


def _lammps_seconds_per_step(found, workdir: Path, settings, steps: int, ranks: int) -> float:
    # The run's setup evaluates the forces once (Python imports, first model call, ghost checks);
    # LAMMPS's Loop time covers only the steps after it.
    done = run_lammps(found, workdir, _lammps_script(settings, f"thermo {steps}\nrun {steps}\n"), ranks, 3600)
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-3000:])
    log = (workdir / "log.lammps").read_text()
    if "MPI task timing breakdown:" in log:  # where LAMMPS spent the loop: Pair (the model), Neigh, Comm, ...
        breakdown = log.split("MPI task timing breakdown:")[-1].split("\nNlocal")[0]
        click.echo(f"LAMMPS, {ranks} rank(s):{breakdown.rstrip()}", err=True)
    for line in done.stdout.splitlines():  # the adapter's own split (ICTP_LAMMPS_TIMINGS=1)
        if line.startswith("ICTPUnified:"):
            click.echo(f"  rank output: {line}", err=True)
    seconds, _, n = _LOOP.findall(log)[-1]
    return float(seconds) / int(n)


def _ase_seconds_per_step(atoms, model: Path, dtype: str, skin: float, steps: int) -> float:
    atoms = atoms.copy()
    atoms.calc = ICTPCalculator(model, device="cpu", dtype=dtype, skin=skin)
    dyn = VelocityVerlet(atoms, timestep=0.5 * units.fs)
    dyn.run(1)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        dyn.run(1)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@click.group()
def main():
    """LAMMPS benchmarks (see the module docstring)."""


@main.command()
@click.option("--system", type=click.Choice(["3bpa", "box1k", "box8k"]), default="box1k", show_default=True)
@click.option("--model", type=click.Path(exists=True, dir_okay=False), default=str(SHIPPED), show_default=True)
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float64", show_default=True)
@click.option("--steps", default=5, show_default=True, type=click.IntRange(1))
@click.option("--ranks", multiple=True, type=int, default=(1, 2), show_default=True)
@click.option("--skin", default=1.0, show_default=True)
def speed(system, model, dtype, steps, ranks, skin):
    found = find_lammps()
    if found is None:
        raise click.ClickException("LAMMPS is not built: eval \"$(bash tools/build_lammps.sh)\"")
    atoms = _start(build_system(system), seed=0)
    row = {"system": system, "atoms": len(atoms), "dtype": dtype, "steps": steps}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        settings = export_lammps(model, tmp / "model.pkl", dtype=dtype, skin=skin)
        write_data(tmp / "data.lmp", atoms, velocities=True)
        # Interleaved: ASE, then each rank count, so that drifts of a shared machine hit all alike.
        row["ase_s"] = _ase_seconds_per_step(atoms, Path(model), dtype, skin, steps)
        for n in ranks:
            row[f"lammps_{n}rank_s"] = _lammps_seconds_per_step(found, tmp, settings, steps, n)
    for n in ranks:
        row[f"lammps_{n}rank_over_ase"] = row[f"lammps_{n}rank_s"] / row["ase_s"]
    print(json.dumps(row))


@main.command()
@click.option("--system", type=click.Choice(["3bpa", "box1k", "box8k"]), default="box1k", show_default=True)
@click.option("--model", type=click.Path(exists=True, dir_okay=False), default=str(SHIPPED), show_default=True)
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float64", show_default=True)
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(1))
@click.option("--comm-cutoff", default=11.0, show_default=True, help="Ghost shell depth (Å), as comm_modify cutoff.")
@click.option("--skin", default=1.0, show_default=True, help="Pairs are listed within cutoff + skin, as in LAMMPS.")
def adapter(system, model, dtype, repeats, comm_cutoff, skin):
    import warnings

    from standin import rank_data

    from ictp_calc.lammps import ICTPUnified

    atoms = build_system(system)
    if not atoms.pbc.all():
        raise click.ClickException("the stand-in lays out periodic boxes only: use box1k or box8k")
    unified = ICTPUnified(model, dtype=dtype)
    species = np.array([unified.element_types.index(s) for s in atoms.get_chemical_symbols()])
    data = rank_data(atoms, species, unified.cutoff + skin, comm_cutoff)
    calc = ICTPCalculator(model, device="cpu", dtype=dtype, skin=0.0)
    atoms.calc = calc

    def ase_call():
        calc.results = {}
        calc.calculate(atoms, ["energy", "forces"], ["positions"])

    calls = {"ase_s": ase_call, "adapter_s": lambda: unified.compute_forces(data)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random packings leave a few close contacts
        for call in calls.values():  # warm-up
            call()
        times = {name: [] for name in calls}
        for _ in range(repeats):  # interleaved
            for name, call in calls.items():
                start = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - start)
    row = {"system": system, "atoms": len(atoms), "owned": data.nlocal, "ghosts": data.ntotal - data.nlocal,
           "pairs": data.npairs, "dtype": dtype, "repeats": repeats}
    row.update({name: statistics.median(t) for name, t in times.items()})
    row["adapter_over_ase"] = row["adapter_s"] / row["ase_s"]
    print(json.dumps(row))


@main.command()
@click.option("--model", type=click.Path(exists=True, dir_okay=False), default=str(SHIPPED), show_default=True)
@click.option("--steps", default=1000, show_default=True, type=click.IntRange(10))
@click.option("--every", default=10, show_default=True, type=click.IntRange(1))
def nve(model, steps, every):
    found = find_lammps()
    if found is None:
        raise click.ClickException("LAMMPS is not built: eval \"$(bash tools/build_lammps.sh)\"")
    atoms = _start(build_system("3bpa"), seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        settings = export_lammps(model, tmp / "model.pkl", skin=1.0)
        write_data(tmp / "data.lmp", atoms, velocities=True)
        body = (f"fix out all print {every} \"$(step) $(pe:%.15g) $(etotal:%.15g)\" file nve.txt screen no\n"
                f"thermo {steps}\nrun {steps}\n")
        done = run_lammps(found, tmp, _lammps_script(settings, body), 1, 3600)
        if done.returncode != 0:
            raise click.ClickException(done.stdout[-3000:])
        lammps = np.loadtxt(tmp / "nve.txt")[:, 2]
    md = atoms.copy()
    md.pbc = False
    md.calc = ICTPCalculator(model, device="cpu", dtype="float64", skin=1.0)
    ase = []
    dyn = VelocityVerlet(md, timestep=0.5 * units.fs)
    dyn.attach(lambda: ase.append(md.get_total_energy()), every)
    dyn.run(steps)
    ase = np.array(ase)
    row = {"steps": steps, "timestep_fs": 0.5, "atoms": len(atoms)}
    for name, e in (("lammps", lammps), ("ase", ase)):
        row[f"{name}_drift_eV"] = float(e[-1] - e[0])
        row[f"{name}_spread_eV"] = float(np.ptp(e))
    print(json.dumps(row))


if __name__ == "__main__":
    main()
