"""Per-step cost of driving 3BPA through i-PI's socket (UNIX and TCP) against a plain ASE MD loop.

    python benchmarks/bench_ipi.py [--steps 400] [--model models/ictp-3bpa.pt [--batch 4] [--compile]] [--repeats 3]

Both sides run Langevin NVT at 300 K (0.5 fs) with the same calculator: by default a null one
(zero energy and forces) so that only the driver is timed; ``--model`` times an ICTP model too.
i-PI runs as a subprocess; the client (:func:`ictp_calc.ipi.serve`) runs in this process. The time
per step is the median interval between successive force calls, which leaves out start-up; the
overhead is i-PI's median minus the plain loop's. ``--batch N`` also times N structures in one
model call (i-PI's ``<batch_size>``) against N single calls, per structure. The runs are interleaved (plain, UNIX, TCP,
plain, ...) so that a machine that gets busier affects all three. ``--compile`` evaluates the model
through the compiled path (``ictp-md serve --compile``), compiled before the first run. Prints a table
and a JSON line.
"""

import argparse
import json
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase import units
from ase.calculators.calculator import Calculator, all_changes
from ase.io import read
from ase.md.langevin import Langevin

from ictp_calc.ipi import serve
from ictp_calc.ipi.launch import IPIRun, prepare_input, unique_address, write_ipi_xyz

REPO = Path(__file__).resolve().parents[1]
START = REPO / "examples" / "data" / "3bpa_start.xyz"
NVT_XML = REPO / "examples" / "ipi" / "nvt.xml"


class Stamped(Calculator):
    """Wraps a calculator (or none: zero energy and forces) and records the start time of each call."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, inner=None):
        super().__init__()
        self.inner, self.stamps = inner, []

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        self.stamps.append(time.perf_counter())
        super().calculate(atoms, properties, system_changes)
        if self.inner is None:
            self.results = {"energy": 0.0, "free_energy": 0.0, "forces": np.zeros((len(self.atoms), 3))}
        else:
            probe = self.atoms.copy()
            probe.calc = self.inner
            energy = probe.get_potential_energy()
            self.results = {"energy": energy, "free_energy": energy, "forces": probe.get_forces()}


def median_interval_ms(stamps) -> float:
    return float(np.median(np.diff(stamps[2:]))) * 1e3  # skip the first calls (start-up)


def plain(steps: int, inner) -> float:
    atoms = read(START)
    calc = Stamped(inner)
    atoms.calc = calc
    dynamics = Langevin(atoms, 0.5 * units.fs, temperature_K=300, friction=0.01, fixcm=False,
                        rng=np.random.default_rng(0))
    dynamics.run(steps)
    return median_interval_ms(calc.stamps)


def through_ipi(steps: int, inner, tcp: bool, work: Path) -> float:
    run_dir = Path(tempfile.mkdtemp(dir=work))
    structure = write_ipi_xyz(read(START), run_dir / "init.xyz")
    port = None
    if tcp:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
    address = "127.0.0.1" if tcp else unique_address("ictp-bench")
    xml = prepare_input(NVT_XML, run_dir, address=address, port=port, total_steps=steps)
    atoms = read(START)
    calc = Stamped(inner)
    atoms.calc = calc
    with IPIRun(xml, structure, address, port=port) as run:
        run.start_ipi()
        serve(atoms, unix=None if tcp else address, host=address if tcp else None, port=port, connect_timeout_s=120)
        outcome = run.wait(120)
    if outcome.ipi_rc != 0:
        sys.exit(f"i-PI failed (exit code {outcome.ipi_rc}); see {run_dir / 'ipi.log'}")
    return median_interval_ms(calc.stamps)


def batch_against_single(model: str, batch_size: int, repeats: int, compile: bool = False) -> dict:
    """ms per structure: one batched model call (:func:`evaluate_batch`) against one call per structure."""
    from ictp_calc.calculator import ICTPCalculator
    from ictp_calc.ipi.batched import evaluate_batch
    from ictp_calc.ipi.client import evaluate

    atoms, single = read(START), read(START)
    # Two calculators: a compiled one keeps the largest capacity it has seen (the batch's).
    atoms.calc = ICTPCalculator(model, device="cpu", skin=0.0, compile=compile)
    single.calc = ICTPCalculator(model, device="cpu", skin=0.0, compile=compile)
    rng = np.random.default_rng(0)
    positions = (atoms.positions + rng.normal(0.0, 0.02, (batch_size, len(atoms), 3))) / units.Bohr
    cells = np.zeros((batch_size, 3, 3))
    times = {"batched": [], "single": []}
    evaluate_batch(atoms, cells, positions)  # compiles, where compiling
    evaluate(single, cells[0], positions[0])
    for _ in range(repeats):  # interleaved
        tick = time.perf_counter()
        evaluate_batch(atoms, cells, positions)
        times["batched"].append((time.perf_counter() - tick) / batch_size)
        tick = time.perf_counter()
        for frame in positions:
            evaluate(single, cells[0], frame)
        times["single"].append((time.perf_counter() - tick) / batch_size)
    return {k: float(np.median(v[1:])) * 1e3 for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", help="also time this ICTP model (default: the null calculator only)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=0,
                        help="with --model: also time a batch of this many structures in one call against single calls")
    parser.add_argument("--compile", action="store_true", help="with --model: evaluate through the compiled path")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)  # a script owns its process
    calculators = {"null": None}
    if args.model:
        from ictp_calc.calculator import ICTPCalculator

        calculators["model"] = ICTPCalculator(args.model, device="cpu", skin=0.5, compile=args.compile)
        calculators["model"].get_forces(read(START))  # the first call compiles, where compiling
    results = {}
    with tempfile.TemporaryDirectory() as work:
        for name, inner in calculators.items():
            times = {"plain": [], "unix": [], "tcp": []}
            for _ in range(args.repeats):
                times["plain"].append(plain(args.steps, inner))
                times["unix"].append(through_ipi(args.steps, inner, False, Path(work)))
                times["tcp"].append(through_ipi(args.steps, inner, True, Path(work)))
            medians = {k: float(np.median(v)) for k, v in times.items()}
            results[name] = {
                "ms_per_step": medians,
                "overhead_ms": {k: medians[k] - medians["plain"] for k in ("unix", "tcp")},
            }
            print(f"{name:6s} ms/step: plain ASE {medians['plain']:.2f}, i-PI UNIX {medians['unix']:.2f} "
                  f"(+{results[name]['overhead_ms']['unix']:.2f}), i-PI TCP {medians['tcp']:.2f} "
                  f"(+{results[name]['overhead_ms']['tcp']:.2f})   [medians of {args.repeats} runs]")
    if args.model and args.batch > 1:
        batch = batch_against_single(args.model, args.batch, max(5, 4 * args.repeats), args.compile)
        results["batch"] = {"size": args.batch, "ms_per_structure": batch}
        print(f"batch of {args.batch}: {batch['batched']:.2f} ms per structure in one call, "
              f"{batch['single']:.2f} ms in single calls")
    print(json.dumps({"steps": args.steps, "repeats": args.repeats, "threads": args.threads, "compile": args.compile,
                      **results}))


if __name__ == "__main__":
    main()
