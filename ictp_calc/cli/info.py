"""``ictp-md info [MODEL]``: the model card in the terminal, and the list of shipped models."""

from __future__ import annotations

import json

import click

from ..io import ModelFileError, format_model_card, model_card, shipped_models
from ..md.inputs import resolve_model_path
from .md_common import exit_codes

__all__ = ["info_command"]


def _shipped_lines() -> str:
    models = shipped_models()
    if not models:
        return "shipped models: none installed"
    width = max(map(len, models))
    return "shipped models (use the name with --model or ICTPCalculator(NAME)):\n" + "\n".join(
        f"  {name:<{width}s}  {path}" for name, path in models.items()
    )


@click.command("info")
@click.argument("model", metavar="[MODEL]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the card as JSON.")
@click.option("--list", "list_models", is_flag=True, help="Only list the shipped models.")
def info_command(model, as_json, list_models):
    """Show MODEL's card: elements, cutoff, dtype, units, size, training data, validation errors.

    MODEL is a model file or the name of a shipped model; it defaults to the shipped 3BPA model.
    The shipped models are listed after the card.
    """
    if list_models:
        if as_json:
            click.echo(json.dumps({"shipped_models": shipped_models()}, indent=1))
        else:
            click.echo(_shipped_lines())
        return
    with exit_codes():
        path = resolve_model_path(model)
    try:
        card = model_card(path)
    except ModelFileError as err:
        click.echo(f"Error: {err}", err=True)
        raise click.exceptions.Exit(5) from err
    if as_json:
        click.echo(json.dumps({**card, "shipped_models": shipped_models()}, indent=1))
    else:
        click.echo(format_model_card(card) + "\n" + _shipped_lines())
