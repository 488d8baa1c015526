"""``ictp-md export-lammps MODEL OUT``: a model for LAMMPS's ``pair_style mliap unified``."""

from __future__ import annotations

import click

from ..io import ModelFileError
from ..io.shipped import resolve_model
from ..lammps import export_lammps

__all__ = ["export_lammps_command"]


@click.command("export-lammps")
@click.argument("model")
@click.argument("out", type=click.Path(dir_okay=False, writable=True))
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default=None,
              help="Inference precision. [default: the model's]")
@click.option("--device", default="cpu", show_default=True, help="'cpu' or a CUDA device ('cuda', 'cuda:N').")
@click.option("--skin", type=float, default=2.0, show_default=True,
              help="Neighbor skin of the LAMMPS input, Å (LAMMPS's default for units metal is 2).")
@click.option("--no-ghost-shell-check", is_flag=True,
              help="Do not refuse to run when the ghost atoms end short of the receptive field "
                   "(only for a molecule in vacuum split over MPI ranks, with the printed comm cutoff set).")
def export_lammps_command(model, out, dtype, device, skin, no_ghost_shell_check):
    """Write OUT, the file 'pair_style mliap unified OUT 1' loads, and print the LAMMPS input lines.

    MODEL is a model file or a shipped model's name (ictp-md info lists them).

    OUT is a pickle of the model (not a .pt file, which LAMMPS would torch.load). The printed lines turn on
    ghost neighbor lists and set the communication cutoff to layers x cutoff + skin: without both,
    LAMMPS would compute wrong forces silently, and the model refuses to run. LAMMPS must use
    'units metal' and run with ictp_calc importable (see the LAMMPS guide). Exit code 5 for a bad
    model file or output name.
    """
    try:
        settings = export_lammps(
            resolve_model(model), out, dtype=dtype, device=device, skin=skin, check_ghost_shell=not no_ghost_shell_check
        )
    except (ModelFileError, ValueError, OSError) as err:
        click.echo(f"Error: {err}", err=True)
        raise click.exceptions.Exit(5) from err
    click.echo(f"# {settings.elements} model, cutoff {settings.cutoff:g} Å, {settings.n_layers} layers: "
               f"wrote {settings.path}")
    click.echo(settings.input_lines())
