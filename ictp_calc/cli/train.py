"""``ictp-md train CONFIG``: train a model from a TOML run configuration."""

from __future__ import annotations

import click

from ..data.checks import StructureError
from ..data.dataset import DatasetError
from ..data.graph import UnknownElementError
from ..devices import DeviceError
from ..io import ModelFileError
from ..md.errors import InputError
from ..training import ConfigError, TrainingError, load_run_config, train
from ..training.checkpoint import CheckpointError
from ..training.loop import NonFiniteLossError
from ..training.progress import ClickReporter
from .md_common import exit_codes
from .options import DURATION, apply_threads, threads_option

# Failures caused by what the user gave (exit code 5): configuration, data, model, device, outputs.
INPUT_ERRORS = (ConfigError, DatasetError, StructureError, UnknownElementError, TrainingError, CheckpointError,
                DeviceError, ModelFileError)

__all__ = ["train_command"]


@click.command("train")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--resume", is_flag=True, help="Continue from OUTPUT_DIR/checkpoint.pt (exactly).")
@click.option("--max-time", type=DURATION, help="Wall-clock budget (3600, 45m, 2h, 1h30m); stops after an epoch.")
@click.option("--epochs", type=int, help="Override training.max_epoch.")
@click.option("--device", help="Override training.device (cpu, cuda, cuda:N).")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), help="Override model.dtype.")
@click.option("--seed", type=int, help="Override training.seed (initialization and shuffling).")
@click.option("--split-seed", type=int, help="Override data.seed (train/validation split).")
@click.option("--output-dir", type=click.Path(file_okay=False), help="Override output_dir.")
@click.option("--init-from", metavar="FILE|NAME",
              help="Fine-tune this model file or shipped model (overrides init_from): same architecture, new data; "
                   "new E0s only from data.e0_file.")
@threads_option
@click.option("--set", "assignments", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override any setting, e.g. --set model.n_hidden_feats=32 (repeatable).")
@click.option("--progress/--no-progress", default=None, help="Progress bars (default: on a terminal).")
def train_command(config, resume, max_time, epochs, device, dtype, seed, split_seed, output_dir, init_from, threads,
                  assignments, progress):
    """Train an ICTP model as described by the TOML file CONFIG.

    Writes best_model.pt, checkpoint.pt, log.jsonl, learning_curve.png, config.toml and
    summary.json to the output directory. Relative paths in CONFIG are relative to the working
    directory.

    With --init-from (or init_from in CONFIG) the run fine-tunes an existing model instead of
    initializing a new one: the model's architecture and elements (a [model] setting that differs
    is an error; dtype may change), its E0s unless data.e0_file gives new ones, new data.

    Exit codes: 0 success, 2 usage error, 3 the loss became non-finite (the run diverged; the last
    good checkpoint is kept), 5 unusable configuration, data, model, device, checkpoint or output
    directory (the message names the file and the structure), 130 interrupted by Ctrl-C, 143
    stopped by SIGTERM (the last checkpoint is kept; --resume continues from it).
    """
    apply_threads(threads)  # batches of several structures: all cores by default
    overrides = dict(epochs=epochs, device=device, dtype=dtype, seed=seed, split_seed=split_seed,
                     output_dir=output_dir, init_from=init_from)
    with exit_codes("training", "; the last checkpoint is kept, continue with --resume"):
        _train(config, resume, max_time, overrides, assignments, progress)


def _train(config, resume, max_time, overrides, assignments, progress):
    try:
        run = load_run_config(config).with_overrides(assignments, **overrides)
        train(run, resume=resume, max_time=max_time, reporter=ClickReporter(progress))
    except NonFiniteLossError as err:
        click.echo(f"Error: {err}", err=True)
        raise click.exceptions.Exit(3) from err
    except INPUT_ERRORS as err:
        raise InputError(str(err)) from err
    except OSError as err:  # the output directory cannot be written
        raise InputError(f"cannot write {err.filename or 'the outputs'}: {err.strerror or err}") from err
