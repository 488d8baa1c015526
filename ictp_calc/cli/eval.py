"""``ictp-md eval MODEL DATA...``: energy and force errors of a model on labelled files."""

from __future__ import annotations

import json
import math
import os

import click

from ..data.checks import NonFiniteOutputError, StructureError
from ..data.dataset import DatasetError
from ..data.graph import UnknownElementError
from ..devices import DeviceError
from ..io import ModelFileError, file_checksum, load_model, resolve_model
from ..md.errors import InputError
from ..training.evaluation import evaluate_file, format_table, validation_indices
from ..training.metrics import METRIC_UNITS
from .md_common import exit_codes
from .options import apply_threads, threads_option

INPUT_ERRORS = (ModelFileError, DatasetError, StructureError, UnknownElementError, DeviceError, NonFiniteOutputError)

__all__ = ["eval_command"]


def _finite(value):
    """NaN (no labels) as JSON null: NaN is not valid JSON."""
    return None if isinstance(value, float) and math.isnan(value) else value


@click.command("eval")
@click.argument("model")
@click.argument("data", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--parity", type=click.Path(dir_okay=False), help="Write a parity plot (PNG) here.")
@click.option("--batch-size", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--device", default="cpu", show_default=True)
@threads_option
@click.option("--energy-key", default="energy", show_default=True, help="Energy label (info or calculator).")
@click.option("--forces-key", default="forces", show_default=True, help="Forces label (arrays or calculator).")
@click.option("--valid-split", is_flag=True,
              help="Evaluate only the validation structures recorded in MODEL (on its training file).")
def eval_command(model, data, as_json, parity, batch_size, device, threads, energy_key, forces_key, valid_split):
    """Evaluate MODEL (a file or a shipped model's name) on each DATA file.

    DATA files are extxyz; FILE@INDEX selects structures, e.g. data.xyz@:5.

    Energies: RMSE and MAE of the total energy (meV) and per atom (meV/atom); forces: per
    component (meV/Å).

    Exit codes: 0 success, 2 usage error, 5 unusable model, data file, structure, device or output
    (the message names the file and the structure), 130 interrupted by Ctrl-C.
    """
    apply_threads(threads)  # batches of several structures: all cores by default
    with exit_codes("the evaluation"):
        try:
            model = resolve_model(model)
            net, metadata = load_model(model)
            results = [
                evaluate_file(net, item, batch_size, device, energy_key, forces_key,
                              validation_indices(metadata, item) if valid_split else None, keep_values=bool(parity))
                for item in data
            ]
        except INPUT_ERRORS as err:
            raise InputError(str(err)) from err
        _report(model, results, as_json, parity)


def _report(model, results, as_json, parity):
    """The table or JSON on stdout, and the parity plot."""
    if as_json:
        payload = {
            "model": model,
            "model_sha256": file_checksum(model),
            "units": METRIC_UNITS,
            "files": [{k: _finite(v) for k, v in r.to_dict().items()} for r in results],
        }
        click.echo(json.dumps(payload, indent=1))
    else:
        click.echo(format_table(results))
    if parity:
        from ..training.plots import plot_parity

        try:
            plot_parity([{"label": os.path.basename(r.file), **r.values} for r in results], parity)
        except OSError as err:
            raise InputError(f"cannot write {parity}: {err.strerror or err}") from err
        if not as_json:
            click.echo(f"parity plot: {parity}")
