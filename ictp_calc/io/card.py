"""Model card: what a model file says about itself, as a dictionary and as text for the terminal."""

from __future__ import annotations

import os
from typing import Any, Dict, List

from .model_file import file_checksum, read_model_file

__all__ = ["model_card", "format_model_card"]

_UNITS = {"energy": "meV", "energy_per_atom": "meV/atom", "forces": "meV/Å", "stress": "meV/Å^3"}


def model_card(path: str) -> Dict[str, Any]:
    """The card of the model file at ``path``: file, architecture, size, training data, validation errors.

    Raises:
        ModelFileError: not a readable model file.
    """
    payload = read_model_file(path)
    config, meta = payload["config"], payload["metadata"]
    training = meta.get("training") or {}
    data = training.get("data") or {}
    statistics = training.get("statistics") or {}
    n_parameters = meta.get("n_parameters") or sum(int(t.numel()) for t in payload["state_dict"].values())
    return {
        "file": os.path.abspath(path),
        "sha256": file_checksum(path),
        "size_MB": os.path.getsize(path) / 1e6,
        "format_version": payload["format_version"],
        "package_version": meta.get("package_version"),
        "elements": meta.get("elements"),
        "cutoff_A": config.get("cutoff"),
        "dtype": config.get("dtype"),
        "units": meta.get("units"),
        "n_parameters": n_parameters,
        "architecture": {k: config.get(k) for k in (
            "n_interactions", "n_hidden_feats", "n_product_feats", "l_max_hidden_feats", "l_max_edge_attrs",
            "correlation", "n_basis", "radial_mlp", "readout_mlp", "avg_n_neighbors")},
        "atomic_energies_eV": dict(zip(meta.get("elements") or [], meta.get("atomic_energies") or [])),
        "energy_shift_eV": dict(zip(meta.get("elements") or [], statistics.get("energy_shift") or [])),
        "shortest_distances_A": statistics.get("shortest_distances_A"),
        "training": {
            "train_file": data.get("train_file"), "train_file_sha256": data.get("train_file_sha256"),
            "valid_file": data.get("valid_file"), "n_train": data.get("n_train"), "n_valid": data.get("n_valid"),
            "split_seed": data.get("split_seed"), "seed": training.get("seed"),
            "epochs_done": training.get("epochs_done"), "best_epoch": training.get("best_epoch"),
            "e0_source": data.get("e0_source"),
        } if training else None,
        "validation": training.get("validation"),
    }


def _unit(metric: str) -> str:
    base = metric.rsplit("_", 1)[0]
    return _UNITS.get(base, "")


def _units_text(units) -> str:
    if not units:
        return "eV, Å (not recorded; files of this age were all trained on eV and Å)"
    return f"energy {units.get('energy')}, length {units.get('length')}"


def format_model_card(card: Dict[str, Any]) -> str:
    """The card as aligned text lines (for ``ictp-md info``)."""
    arch = card["architecture"]
    lines: List[str] = [
        f"model        {card['file']}",
        f"sha256       {card['sha256']}",
        f"size         {card['size_MB']:.2f} MB, {card['n_parameters']:,} parameters, {card['dtype']}",
        f"format       version {card['format_version']} (written by ictp_calc {card['package_version']})",
        f"elements     {', '.join(card['elements'] or [])}",
        f"cutoff       {card['cutoff_A']} Å",
        f"units        {_units_text(card['units'])}",
        f"architecture {arch['n_interactions']} interactions, {arch['n_hidden_feats']} channels, "
        f"rank {arch['l_max_hidden_feats']} hidden / {arch['l_max_edge_attrs']} edge features, "
        f"correlation {arch['correlation']}",
    ]
    training = card["training"]
    if training is None:
        lines.append("training     none recorded (an untrained or hand-made model)")
    else:
        lines.append(
            f"training     {training['train_file']} ({training['n_train']} train / {training['n_valid']} valid, "
            f"split seed {training['split_seed']}), {training['epochs_done']} epochs, "
            f"best epoch {training['best_epoch']}"
        )
        if training.get("e0_source"):
            lines.append(f"E0           {training['e0_source']}")
    rows = (("atomic_energies_eV", "E0 values", "eV", 4), ("energy_shift_eV", "shifts", "eV", 4),
            ("shortest_distances_A", "closest", "Å", 3))
    for key, title, unit, digits in rows:
        if card[key]:
            values = ", ".join(f"{name} {value:.{digits}f}" for name, value in card[key].items())
            lines.append(f"{title:<12s} {values} {unit}")
    if card["shortest_distances_A"]:
        lines.append("             (shortest training distance per pair; the calculator warns below it)")
    validation = card["validation"] or {}
    if validation:
        lines.append("validation")
        for name, value in validation.items():
            lines.append(f"  {name:<24s} {value:10.3f} {_unit(name)}")
    return "\n".join(lines)
