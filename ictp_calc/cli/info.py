"""``ictp-md info [MODEL]``: the model card in the terminal."""

from __future__ import annotations

import json

import click

from ..io import ModelFileError, format_model_card, model_card
from ..md.inputs import resolve_model_path
from .md_common import exit_codes

__all__ = ["info_command"]


@click.command("info")
@click.argument("model", type=click.Path(exists=True, dir_okay=False), required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the card as JSON.")
def info_command(model, as_json):
    """Show MODEL's card: elements, cutoff, dtype, size, training data, validation errors.

    MODEL defaults to the shipped 3BPA model.
    """
    with exit_codes():
        path = resolve_model_path(model)
    try:
        card = model_card(path)
    except ModelFileError as err:
        click.echo(f"Error: {err}", err=True)
        raise click.exceptions.Exit(5) from err
    click.echo(json.dumps(card, indent=1) if as_json else format_model_card(card))
