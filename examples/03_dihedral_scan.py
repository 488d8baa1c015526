"""Example 03: relaxed scan of a backbone dihedral of 3BPA.

For each angle, the chosen dihedral (``beta`` by default: C3-O-CH2-C(ipso), see
``bpa_dihedrals.py``) is set by rigidly rotating the far side of its central bond, held there with
ASE's ``FixInternals`` constraint, and every other degree of freedom is optimized. The energies
relative to the lowest point form the torsional profile, written to ``scan.csv`` and plotted to
``scan.png``. Each angle starts from the previous optimized structure, so the scan follows one
continuous path.

Usage (from the repository root)::

    python examples/03_dihedral_scan.py                           # beta, every 15 degrees
    python examples/03_dihedral_scan.py --dihedral gamma --step 10
    python examples/03_dihedral_scan.py --short --model tiny.pt   # 3 angles, 3 steps each; tests
"""

import argparse
import os

import numpy as np
from ase.constraints import FixInternals
from ase.io import read, write
from ase.optimize import BFGS

from bpa_dihedrals import NAMES, backbone_dihedrals, dihedral, moving_side
from ictp_calc.calculator import ICTPCalculator
from ictp_calc.md import default_model_path

HERE = os.path.dirname(os.path.abspath(__file__))
START = os.path.join(HERE, "data", "3bpa_start.xyz")


def relaxed_point(atoms, indices, side, angle, calc, fmax, steps):
    """Set the dihedral to ``angle`` (degrees), optimize the rest; returns (energy eV, converged)."""
    atoms.set_constraint()
    atoms.set_dihedral(*indices, angle, indices=side)
    atoms.set_constraint(FixInternals(dihedrals_deg=[[angle, list(indices)]]))
    atoms.calc = calc
    converged = BFGS(atoms, logfile=None).run(fmax=fmax, steps=steps)
    return atoms.get_potential_energy(), bool(converged)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="model file [default: the shipped models/ictp-3bpa.pt]")
    parser.add_argument("--dihedral", choices=NAMES, default="beta")
    parser.add_argument("--step", type=float, default=15.0, help="angle increment, degrees")
    parser.add_argument("--fmax", type=float, default=0.02, help="eV/Å")
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps per angle")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--output-dir", default="03_dihedral_scan_output")
    parser.add_argument("--short", action="store_true", help="3 angles, 3 optimizer steps each")
    args = parser.parse_args()
    os.makedirs(args.output_dir, exist_ok=True)

    atoms = read(START)
    indices = backbone_dihedrals(atoms)[args.dihedral]
    side = moving_side(atoms, indices)
    calc = ICTPCalculator(args.model or default_model_path(), device=args.device, dtype="float64")
    start_angle = dihedral(atoms, indices)
    n = 3 if args.short else int(round(360.0 / args.step))
    angles = start_angle + args.step * np.arange(n)  # once around, starting where the molecule is
    steps = 3 if args.short else args.steps

    rows, frames = [], []
    for angle in angles:
        energy, converged = relaxed_point(atoms, indices, side, float(angle), calc, args.fmax, steps)
        wrapped = (angle + 180.0) % 360.0 - 180.0
        rows.append((wrapped, energy, converged))
        frames.append(atoms.copy())
        print(f"{args.dihedral} = {wrapped:7.1f} deg: E = {energy:.6f} eV{'' if converged else ' (not converged)'}")

    rows.sort()
    e_min = min(e for _, e, _ in rows)
    csv = os.path.join(args.output_dir, "scan.csv")
    with open(csv, "w", encoding="utf-8") as handle:
        handle.write("angle_deg,energy_eV,relative_meV,converged\n")
        handle.writelines(f"{a:.2f},{e:.8f},{1000 * (e - e_min):.3f},{c}\n" for a, e, c in rows)
    write(os.path.join(args.output_dir, "scan_structures.extxyz"), frames)

    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.5), layout="constrained")
    ax = fig.subplots()
    ax.plot([r[0] for r in rows], [1000 * (r[1] - e_min) for r in rows], "o-")
    ax.set_xlabel(f"{args.dihedral} ({'-'.join(map(str, indices))}) / degree")
    ax.set_ylabel("relaxed energy / meV")
    fig.savefig(os.path.join(args.output_dir, "scan.png"), dpi=120)
    print(f"profile: {csv}, {os.path.join(args.output_dir, 'scan.png')}")


if __name__ == "__main__":
    main()
