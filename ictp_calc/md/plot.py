"""PNG of a run's log: temperature, energies (and volume and pressure for NPT) against time.

Drawn with ``matplotlib.figure.Figure`` (no pyplot, no global state, no display needed);
matplotlib is imported only when a plot is made.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .outputs import read_log

__all__ = ["plot_log"]


def plot_log(log_path: str, png_path: str, target_temperature_K: Optional[float] = None, title: str = "") -> str:
    """Plot the CSV log at ``log_path`` into ``png_path``; returns ``png_path``.

    Panels: temperature (K, with the target as a dashed line when given); energies relative to their
    first value (eV): potential, kinetic, their sum and the conserved energy when logged; for NPT
    runs, volume (Å^3) and pressure (bar).
    """
    from matplotlib.figure import Figure

    log = read_log(log_path)
    time = log["time_ps"]
    npt = "volume_A3" in log
    fig = Figure(figsize=(7.0, 7.5 if npt else 5.5), layout="constrained")
    axes = fig.subplots(3 if npt else 2, 1, sharex=True, squeeze=False)[:, 0]
    ax = axes[0]
    ax.plot(time, log["temperature_K"], lw=0.8, color="C3")
    if target_temperature_K:
        ax.axhline(target_temperature_K, ls="--", color="k", lw=0.8, label=f"target {target_temperature_K:g} K")
        ax.legend(loc="best")
    ax.set_ylabel("temperature / K")
    if title:
        ax.set_title(title)
    ax = axes[1]
    total = log["epot_eV"] + log["ekin_eV"]
    series = [("potential", log["epot_eV"]), ("kinetic", log["ekin_eV"])]
    conserved = log.get("conserved_eV")
    if conserved is None or not np.allclose(conserved, total, rtol=0.0, atol=1e-6):  # NVE: they coincide
        series.append(("potential + kinetic", total))
    if conserved is not None:
        series.append(("conserved", conserved))
    for label, values in series:
        ax.plot(time, values - values[0], lw=0.8, label=label)
    ax.set_ylabel("energy − initial / eV")
    ax.legend(loc="best")
    if npt:
        ax = axes[2]
        ax.plot(time, log["volume_A3"], color="C0", lw=0.8)
        ax.set_ylabel("volume / Å³", color="C0")
        twin = ax.twinx()
        twin.plot(time, log["pressure_bar"], color="C1", lw=0.6)
        twin.set_ylabel("pressure / bar", color="C1")
    axes[-1].set_xlabel("time / ps")
    fig.savefig(png_path, dpi=120)
    return png_path
