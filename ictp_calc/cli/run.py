"""``ictp-md run STRUCTURE``: molecular dynamics with the shipped or a given model."""

from __future__ import annotations

import os
import sys

import click
from click.core import ParameterSource

from ..devices import resolve_device
from ..inference.compiled import AUTO_COMPILE_STEPS, compile_pays
from ..inference.threads import SMALL_SYSTEM_ATOMS
from ..md import ENSEMBLES, InputError, MDSettings, plot_log, run_md, steps_for_time
from ..md.inputs import read_structure
from ..md.restart import load_settings, merge_settings
from ..md.settings import BAROSTATS, TRAJECTORY_FORMATS
from .md_common import EXIT_CODE_HELP, command_line, exit_codes, model_option
from .options import apply_threads, threads_option

__all__ = ["run_command"]

POSITIVE, NON_NEGATIVE = click.FloatRange(min=0, min_open=True), click.FloatRange(min=0)
# CLI parameter -> MDSettings field, where the names differ.
_FIELDS = {"friction": "friction_per_ps", "min_distance": "min_distance_A", "trajectory_format": "trajectory_format"}
_NOT_SETTINGS = {"restart", "overwrite", "time_ps", "plot", "progress", "threads"}


@click.command("run", epilog=EXIT_CODE_HELP)
@click.argument("structure", type=click.Path(exists=True, dir_okay=False))
@model_option
@click.option("--ensemble", type=click.Choice(ENSEMBLES), default="nvt-langevin", show_default=True,
              help="nve: velocity Verlet; nvt-*: thermostats; npt: periodic cells only (see --barostat).")
@click.option("--temperature-K", "temperature_K", type=NON_NEGATIVE, default=300.0, show_default=True,
              help="Target temperature and initial Maxwell-Boltzmann temperature, K.")
@click.option("--timestep-fs", type=POSITIVE, default=0.5, show_default=True, help="Time step, fs.")
@click.option("--steps", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Total length in steps (a restart continues up to this step).")
@click.option("--time-ps", type=NON_NEGATIVE, help="Total length in ps instead of --steps.")
@click.option("--friction", type=POSITIVE, default=10.0, show_default=True, help="Langevin friction, 1/ps.")
@click.option("--tau-fs", type=POSITIVE, default=100.0, show_default=True,
              help="Time constant of the Bussi and Nose-Hoover thermostats (and the MTK thermostat), fs.")
@click.option("--barostat", type=click.Choice(BAROSTATS), default="mtk", show_default=True,
              help="npt: isotropic Martyna-Tobias-Klein or Berendsen.")
@click.option("--pressure-bar", type=float, default=1.01325, show_default=True, help="npt: pressure, bar.")
@click.option("--tau-p-fs", type=POSITIVE, default=1000.0, show_default=True, help="npt: barostat time constant, fs.")
@click.option("--compressibility-per-bar", type=POSITIVE, default=4.57e-5, show_default=True,
              help="npt, Berendsen: compressibility, 1/bar.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of velocities and thermostat noise.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), help="Inference dtype [default: the model's].")
@click.option("--skin", type=NON_NEGATIVE, default=0.5, show_default=True, help="Verlet neighbor-list skin, Å.")
@threads_option
@click.option("--compile/--no-compile", "compile", default=None,
              help="Compile the model (torch.compile; the first step then takes a minute or more on a CPU) "
                   f"[default: on for runs of at least {AUTO_COMPILE_STEPS} steps of fewer than "
                   f"{SMALL_SYSTEM_ATOMS} atoms on a CPU, where it pays].")
@click.option("--interval", type=click.IntRange(min=1), default=10, show_default=True,
              help="Write a frame and a log row every this many steps.")
@click.option("--checkpoint-interval", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Write the restart checkpoint every this many steps (and at the end).")
@click.option("--output-dir", type=click.Path(file_okay=False), help="Output directory [default: STRUCTURE-STEM_md].")
@click.option("--format", "trajectory_format", type=click.Choice(TRAJECTORY_FORMATS), default="extxyz",
              show_default=True, help="Trajectory format.")
@click.option("--restart", is_flag=True,
              help="Continue the run in --output-dir from its checkpoint; options not given are taken from it.")
@click.option("--overwrite", is_flag=True, help="Start afresh in an output directory that holds a run.")
@click.option("--health/--no-health", default=True, show_default=True, help="Health monitor.")
@click.option("--min-distance", type=NON_NEGATIVE, default=0.5, show_default=True,
              help="Health: closest allowed pair, Å.")
@click.option("--max-temperature-factor", type=POSITIVE, default=3.0, show_default=True,
              help="Health: stop above this factor times --temperature-K.")
@click.option("--bond-stretch-factor", type=POSITIVE, default=1.5, show_default=True,
              help="Health (molecules): stop when a starting bond exceeds this factor times its length.")
@click.option("--plot", is_flag=True, help="Also write OUTPUT_DIR/plot.png (temperature and energies).")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress line on stderr.")
@click.pass_context
def run_command(ctx, structure, **options):
    """Run molecular dynamics of STRUCTURE (any file ASE reads; the last frame).

    Writes OUTPUT_DIR/trajectory.extxyz (or .traj), log.csv, manifest.json and checkpoint.npz;
    stops with a last good frame and health_stop.json when the simulation becomes unphysical.
    """
    time_ps, plot, progress = options.pop("time_ps"), options.pop("plot"), options.pop("progress")
    restart, overwrite, threads = options.pop("restart"), options.pop("overwrite"), options.pop("threads")
    if options["output_dir"] is None:
        options["output_dir"] = os.path.splitext(os.path.basename(structure))[0] + "_md"
    explicit = {_FIELDS.get(name, name): value for name, value in options.items()
                if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE}
    values = {_FIELDS.get(name, name): value for name, value in options.items() if name not in _NOT_SETTINGS}
    if values["compile"] is None:  # chosen below, from the run's length and size
        del values["compile"]
    with exit_codes("the run"):
        n_atoms = len(read_structure(structure))
        apply_threads(threads)
        if restart:
            stored = load_settings(values["output_dir"])
            settings = merge_settings(stored, {**explicit, "structure": structure, "output_dir": values["output_dir"]})
        else:
            settings = MDSettings(structure=structure, **values)
        if time_ps is not None:
            if "steps" in explicit:
                raise InputError("give either --steps or --time-ps, not both")
            settings = settings.replace(steps=steps_for_time(time_ps, settings.timestep_fs))
        if not restart and "compile" not in explicit:
            device = resolve_device(settings.device).type
            settings = settings.replace(compile=compile_pays(settings.steps, n_atoms, device))
            if settings.compile:
                click.echo(f"compiling the model first (a run of {settings.steps} steps of {n_atoms} atoms, "
                           f"at least {AUTO_COMPILE_STEPS}: it pays; --no-compile to skip)", err=True)
        # A compiled run the user did not ask for falls back to the eager model where compiling fails.
        result = run_md(settings, restart=restart, overwrite=overwrite, command=command_line(),
                        progress=sys.stderr if progress else None, compile_fallback="compile" not in explicit)
    click.echo(
        f"steps {result.first_step}-{result.last_step} of {result.n_atoms} atoms in {result.wall_s:.1f} s: "
        f"{result.steps_per_s:.2f} steps/s, {result.ns_per_day:.3f} ns/day"
    )
    if result.drift_meV_per_atom_ps is not None:
        click.echo(f"NVE energy drift: {result.drift_meV_per_atom_ps:.4g} meV/atom/ps (linear fit of the whole run)")
    click.echo(f"outputs in {settings.output_dir}: " + ", ".join(os.path.basename(p) for p in result.paths.values()))
    if plot:
        target = None if settings.ensemble == "nve" else settings.temperature_K
        path = plot_log(result.paths["log"], os.path.join(settings.output_dir, "plot.png"), target,
                        title=f"{os.path.basename(structure)}, {settings.ensemble}")
        click.echo(f"plot: {path}")
