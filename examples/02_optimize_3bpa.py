"""Example 02: a scripted geometry optimization of 3BPA with ICTPCalculator and an ASE optimizer.

Everything ``ictp-md optimize`` does, written out: attach the calculator, run an optimizer until the
largest force is below ``fmax``, check convergence, and write the result. This is how the committed
starting geometry ``examples/data/3bpa_start.xyz`` is meant to be refreshed with the shipped model
(it is now the hand-built geometry of ``benchmarks/bench_model.py``, not a minimum of any model).

Usage (from the repository root)::

    python examples/02_optimize_3bpa.py                                # shipped model, fmax 0.01 eV/Å
    python examples/02_optimize_3bpa.py --output examples/data/3bpa_start.xyz   # refresh the start
    python examples/02_optimize_3bpa.py --short --model tiny.pt        # 3 steps; used by the tests

The same from the shell::

    ictp-md optimize examples/data/3bpa_start.xyz --fmax 0.01 --optimizer BFGS
"""

import argparse
import os

import numpy as np
from ase.io import read
from ase.optimize import BFGS

from ictp_calc.calculator import ICTPCalculator
from ictp_calc.md import default_model_path

HERE = os.path.dirname(os.path.abspath(__file__))
START = os.path.join(HERE, "data", "3bpa_start.xyz")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="model file [default: the shipped models/ictp-3bpa.pt]")
    parser.add_argument("--fmax", type=float, default=0.01, help="convergence threshold, eV/Å")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--output", default=os.path.join("02_optimize_3bpa_output", "3bpa_optimized.xyz"))
    parser.add_argument("--short", action="store_true", help="3 optimizer steps (a smoke test)")
    args = parser.parse_args()

    atoms = read(START)
    # float64 for optimization: tight force thresholds need more than float32's 7 digits of energy.
    atoms.calc = ICTPCalculator(args.model or default_model_path(), device=args.device, dtype="float64")
    e_start = atoms.get_potential_energy()
    f_start = np.linalg.norm(atoms.get_forces(), axis=1).max()

    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)  # outputs in a folder of their own
    trajectory = os.path.splitext(args.output)[0] + ".traj"
    optimizer = BFGS(atoms, trajectory=trajectory, logfile="-")  # logs each step to stdout
    converged = optimizer.run(fmax=args.fmax, steps=3 if args.short else args.steps)

    f_end = np.linalg.norm(atoms.get_forces(), axis=1).max()
    moved = np.sqrt(((atoms.positions - read(START).positions) ** 2).sum(1).mean())
    print(f"energy {e_start:.6f} -> {atoms.get_potential_energy():.6f} eV, largest force {f_start:.4f} -> "
          f"{f_end:.4f} eV/Å, RMS displacement {moved:.3f} Å, {optimizer.nsteps} steps")
    # Write a plain structure (no calculator results): a starting geometry, not a labelled frame.
    atoms.calc = None
    model_name = os.path.basename(args.model or default_model_path())
    atoms.info = {"source": f"BFGS minimum (fmax {args.fmax} eV/Å) of the model {model_name}"}
    atoms.write(args.output, format="extxyz")
    print(f"{'converged' if converged else 'NOT converged'}; structure: {args.output}, trajectory: {trajectory}")
    if not converged and not args.short:
        raise SystemExit(4)  # as ictp-md optimize: 4 = not converged


if __name__ == "__main__":
    main()
