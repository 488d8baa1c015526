"""Turn a training run's best model into the shipped model file and its card numbers.

    python models/export_model.py runs/3bpa-f32-le2 models/ictp-3bpa.pt --dtype float64 \\
        --data ../shared/data/3bpa/train_300K.xyz

* The best (EMA) weights of ``RUN/best_model.pt`` are written as a model file in ``--dtype``
  (weights upcast exactly; the training metadata is kept and the conversion recorded).
* ``<output>.json`` gets the run's summary and the validation errors of the *exported* file,
  recomputed with :func:`ictp_calc.training.evaluate_file` on the recorded validation structures;
  ``ictp-md eval OUTPUT DATA --valid-split`` reproduces them, and a test checks that it does.
"""

import json
import os

import click

from ase.io import read

from ictp_calc.data import compute_statistics
from ictp_calc.io import file_checksum, load_model, save_model
from ictp_calc.model import ICTPModel
from ictp_calc.training import evaluate_file


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float64", show_default=True)
@click.option("--data", "data_file", type=click.Path(exists=True, dir_okay=False), required=True,
              help="The training data file (for the validation errors).")
def main(run_dir, output, dtype, data_file):
    """Export RUN_DIR's best model to OUTPUT (see the module docstring)."""
    trained, metadata = load_model(os.path.join(run_dir, "best_model.pt"))
    model = ICTPModel(trained.config.replace(dtype=dtype))
    model.load_state_dict(trained.state_dict())
    metadata = dict(metadata)
    metadata["exported"] = {"from_dtype": trained.config.dtype, "dtype": dtype, "run": os.path.basename(run_dir)}
    statistics = metadata["training"].setdefault("statistics", {})
    if not statistics.get("shortest_distances_A"):
        # Runs trained before the out-of-domain check recorded no shortest distances: take them
        # from the recorded training structures, as training does now.
        frames = read(data_file, ":")
        train = [frames[i] for i in metadata["training"]["data"]["train_indices"]]
        computed = compute_statistics(train, trained.config.atomic_numbers, trained.config.cutoff)
        statistics["shortest_distances_A"] = computed.shortest_distances_A
    save_model(model, output, metadata)
    training = metadata["training"]
    errors = evaluate_file(model.eval(), data_file, indices=training["data"]["valid_indices"]).to_dict()
    errors["file"] = os.path.basename(errors["file"])
    summary_path = os.path.join(run_dir, "summary.json")
    summary = json.load(open(summary_path)) if os.path.exists(summary_path) else {}
    card = {
        "model": os.path.basename(output),
        "sha256": file_checksum(output),
        "dtype": dtype,
        "trained_dtype": trained.config.dtype,
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "validation": errors,
        "validation_during_training": training["validation"],
        "best_epoch": training["best_epoch"],
        "epochs_done": training["epochs_done"],
        "split_seed": training["data"]["split_seed"],
        "n_train": training["data"]["n_train"],
        "n_valid": training["data"]["n_valid"],
        "train_file_sha256": training["data"]["train_file_sha256"],
        "summary": summary,
    }
    with open(os.path.splitext(output)[0] + ".json", "w") as handle:
        json.dump(card, handle, indent=2, default=str)
    click.echo(json.dumps(errors, indent=2))


if __name__ == "__main__":
    main()
