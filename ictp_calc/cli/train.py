"""``ictp-md train CONFIG``: train a model from a TOML run configuration."""

from __future__ import annotations

import click

from ..data.dataset import DatasetError
from ..data.graph import UnknownElementError
from ..training import ConfigError, TrainingError, load_run_config, train
from ..training.checkpoint import CheckpointError
from ..training.progress import ClickReporter
from .options import DURATION, apply_threads, threads_option

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
@threads_option
@click.option("--set", "assignments", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override any setting, e.g. --set model.n_hidden_feats=32 (repeatable).")
@click.option("--progress/--no-progress", default=None, help="Progress bars (default: on a terminal).")
def train_command(config, resume, max_time, epochs, device, dtype, seed, split_seed, output_dir, threads, assignments,
                  progress):
    """Train an ICTP model as described by the TOML file CONFIG.

    Writes best_model.pt, checkpoint.pt, log.jsonl, learning_curve.png, config.toml and
    summary.json to the output directory. Relative paths in CONFIG are relative to the working
    directory.
    """
    apply_threads(threads, None)  # batches of several structures: all cores by default
    try:
        run = load_run_config(config).with_overrides(
            assignments, epochs=epochs, device=device, dtype=dtype, seed=seed, split_seed=split_seed,
            output_dir=output_dir,
        )
        train(run, resume=resume, max_time=max_time, reporter=ClickReporter(progress))
    except (ConfigError, DatasetError, UnknownElementError, TrainingError, CheckpointError) as err:
        raise click.ClickException(str(err)) from err
