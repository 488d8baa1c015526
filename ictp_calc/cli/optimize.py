"""``ictp-md optimize STRUCTURE``: geometry (and cell) optimization."""

from __future__ import annotations

import os
import sys

import click

from ..md.optimize import OPTIMIZERS, optimize, parse_indices
from .md_common import EXIT_CODE_HELP, exit_codes, model_option
from .options import apply_threads, threads_option

__all__ = ["optimize_command"]


@click.command("optimize", epilog=EXIT_CODE_HELP)
@click.argument("structure", type=click.Path(exists=True, dir_okay=False))
@model_option
@click.option("--optimizer", type=click.Choice(OPTIMIZERS, case_sensitive=False), default="BFGS", show_default=True)
@click.option("--fmax", type=click.FloatRange(min=0, min_open=True), default=0.05, show_default=True,
              help="Converged when all forces are below this, eV/Å.")
@click.option("--steps", type=click.IntRange(min=0), default=500, show_default=True, help="Maximum optimizer steps.")
@click.option("--fix", "fix", default="", metavar="INDICES", help="Atoms kept fixed, 0-based, e.g. 0,3,5-8.")
@click.option("--relax-cell/--fixed-cell", default=None,
              help="Relax the cell too (FrechetCellFilter) [default: for cells periodic in all directions].")
@click.option("--pressure-bar", type=float, default=0.0, show_default=True, help="External pressure for the cell, bar.")
@click.option("--output", type=click.Path(dir_okay=False), help="Optimized structure [default: STEM_opt.extxyz].")
@click.option("--trajectory", type=click.Path(dir_okay=False),
              help="Optimization trajectory, extxyz or .traj [default: STEM_opt_traj.extxyz].")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), help="Inference dtype [default: the model's].")
@threads_option
@click.option("--quiet", is_flag=True, help="No per-step optimizer log.")
def optimize_command(structure, model, optimizer, fmax, steps, fix, relax_cell, pressure_bar, output, trajectory,
                     device, dtype, threads, quiet):
    """Relax STRUCTURE (any file ASE reads; the last frame) until every force is below --fmax."""
    stem = os.path.splitext(structure)[0]
    output = output or f"{stem}_opt.extxyz"
    trajectory = trajectory or f"{stem}_opt_traj.extxyz"
    with exit_codes("the optimization"):
        apply_threads(threads)
        result = optimize(
            structure, model, optimizer=optimizer, fmax=fmax, steps=steps, relax_cell=relax_cell,
            pressure_bar=pressure_bar, fixed=parse_indices(fix), output=output, trajectory=trajectory,
            device=device, dtype=dtype, log=None if quiet else sys.stdout,
        )
    click.echo(
        f"converged in {result.steps} steps: energy {result.energy_eV:.6f} eV, largest force "
        f"{result.fmax_eV_A:.4f} eV/Å; structure: {result.output}; trajectory: {result.trajectory}"
    )
