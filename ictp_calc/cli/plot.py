"""``ictp-md plot LOG``: temperature and energies of a run against time, as a PNG."""

from __future__ import annotations

import json
import os

import click

from ..md import plot_log

__all__ = ["plot_command"]


@click.command("plot")
@click.argument("log", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="PNG file [default: LOG with .png].")
@click.option("--target-temperature-K", "target_K", type=float,
              help="Draw this target temperature [default: from manifest.json next to LOG, if any].")
def plot_command(log, output, target_K):
    """Plot the CSV LOG of an ``ictp-md run`` (log.csv) into a PNG.

    Exit codes: 0 success, 2 usage error, 5 LOG is not a run's log, or the PNG cannot be written.
    """
    output = output or os.path.splitext(log)[0] + ".png"
    manifest = os.path.join(os.path.dirname(os.path.abspath(log)), "manifest.json")
    if target_K is None and os.path.exists(manifest):
        with open(manifest, encoding="utf-8") as handle:
            settings = json.load(handle).get("settings", {})
        if settings.get("ensemble") != "nve":
            target_K = settings.get("temperature_K")
    try:
        plot_log(log, output, target_K)
    except (ValueError, KeyError, IndexError) as err:
        click.echo(f"Error: cannot plot {log}: {err}", err=True)
        raise click.exceptions.Exit(5) from err
    except OSError as err:  # the PNG cannot be written
        click.echo(f"Error: cannot write {output}: {err.strerror or err}", err=True)
        raise click.exceptions.Exit(5) from err
    click.echo(f"plot: {output}")
