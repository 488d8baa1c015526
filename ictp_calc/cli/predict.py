"""``ictp-md predict MODEL STRUCTURES... --output OUT.extxyz``: predictions for unlabeled structures."""

from __future__ import annotations

import sys

import click

from ..data.checks import NonFiniteOutputError, StructureError, UnknownElementError
from ..data.dataset import DatasetError
from ..devices import DeviceError
from ..io import ModelFileError
from .md_common import exit_codes

__all__ = ["predict_command"]


@click.command("predict")
@click.argument("model")
@click.argument("structures", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="Predictions, extxyz.")
@click.option("--batch-size", type=click.IntRange(min=1), default=10, show_default=True,
              help="Structures per model evaluation.")
@click.option("--device", default="cpu", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: on a terminal).")
def predict_command(model, structures, output, batch_size, device, progress):
    """Predict energies, per-atom energies, forces (and stress for periodic cells) with MODEL.

    MODEL is a model file or a shipped model's name. STRUCTURES are files ASE reads; FILE@INDEX
    selects structures (e.g. data.xyz@:5). Labels in them are ignored; OUT gets every structure with
    the predictions (energy, free_energy and stress in the comment line; energies and forces as
    columns). Exit codes: 0 success, 2 usage error, 5 unusable model, structure, device or output,
    130 interrupted.
    """
    from ..predict import predict_files

    show = sys.stderr.isatty() if progress is None else progress
    with exit_codes("the prediction"):
        bar = None
        try:
            def report(done, total):
                nonlocal bar
                if show:
                    if bar is None:
                        bar = click.progressbar(length=total, label="predicting", file=sys.stderr)
                        bar.__enter__()
                    bar.update(done - bar.pos)

            n = predict_files(model, structures, output, batch_size, device, progress=report)
        except (ModelFileError, DatasetError, StructureError, UnknownElementError, NonFiniteOutputError,
                DeviceError) as err:
            click.echo(f"Error: {err}", err=True)
            raise click.exceptions.Exit(5) from err
        except OSError as err:  # the output cannot be written
            click.echo(f"Error: cannot write {output}: {err.strerror or err}", err=True)
            raise click.exceptions.Exit(5) from err
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
    click.echo(f"{n} structures predicted: {output}")
