"""Learning-curve and parity plots (PNG), drawn with matplotlib's object API.

``matplotlib.figure.Figure`` is used directly, never ``pyplot``: no global backend or figure
registry is touched, so plotting from a library call does not change the caller's matplotlib
state, and it works without a display. matplotlib comes with ASE; it is imported lazily.
"""

from __future__ import annotations

from typing import Any, Dict, Sequence

import numpy as np

__all__ = ["plot_learning_curve", "plot_parity"]


def _figure(n_cols: int, n_rows: int = 1, size=(4.2, 3.6)):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * n_cols, size[1] * n_rows), layout="constrained")
    return fig, fig.subplots(n_rows, n_cols, squeeze=False)


def plot_learning_curve(history: Sequence[Dict[str, Any]], path: str) -> None:
    """Loss, energy RMSE, force RMSE (train and validation) and learning rate per epoch."""
    fig, axes = _figure(2, 2)
    epochs = [r["epoch"] for r in history]
    marker = "." if len(epochs) < 30 else None  # a short run would otherwise show bare segments
    panels = [
        ("loss", "loss per structure", True),
        ("energy_rmse", "energy RMSE / meV", True),
        ("forces_rmse", "force RMSE / meV/Å", True),
    ]
    for ax, (name, label, log) in zip(axes.flat, panels):
        for split, style in (("train", "-"), ("valid", "--")):
            ax.plot(epochs, [r[f"{split}_{name}"] for r in history], style, marker=marker, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        if log:
            ax.set_yscale("log")
        ax.legend()
    ax = axes[1, 1]
    ax.plot(epochs, [r["lr"] for r in history], color="k", marker=marker)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    fig.savefig(path, dpi=120)


def plot_parity(results: Sequence[Dict[str, Any]], path: str) -> None:
    """Predicted vs reference energy per atom and force components, one colour per data set.

    Args:
        results: dicts with ``label`` and the arrays of
            :meth:`~ictp_calc.training.metrics.ErrorAccumulator.arrays` (eV, eV/Å).
    """
    fig, axes = _figure(2)
    for entry in results:
        e_ref, e_pred, n = (np.asarray(entry[k], float) for k in ("e_ref", "e_pred", "n_atoms"))
        keep = np.isfinite(e_ref)
        axes[0, 0].plot(e_ref[keep] / n[keep], e_pred[keep] / n[keep], ".", ms=3, label=entry["label"])
        f_ref, f_pred = np.asarray(entry["f_ref"], float).ravel(), np.asarray(entry["f_pred"], float).ravel()
        keep = np.isfinite(f_ref)
        axes[0, 1].plot(f_ref[keep], f_pred[keep], ".", ms=1.5, label=entry["label"])
    for ax, quantity in zip(axes[0], ("energy per atom / eV", "force component / eV/Å")):
        lo, hi = ax.get_xlim()
        lo, hi = min(lo, ax.get_ylim()[0]), max(hi, ax.get_ylim()[1])
        ax.plot([lo, hi], [lo, hi], color="0.5", lw=0.8)
        ax.set_xlabel(f"reference {quantity}")
        ax.set_ylabel(f"predicted {quantity}")
        ax.legend(markerscale=4, fontsize="small")
    fig.savefig(path, dpi=120)
