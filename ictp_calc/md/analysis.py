"""Numbers from a run's CSV log: energy drift and temperature statistics."""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np

__all__ = ["energy_drift", "temperature_summary"]


def energy_drift(log: Dict[str, np.ndarray], n_atoms: int, column: str = "conserved_eV") -> Optional[float]:
    """Drift of the conserved energy, meV/atom/ps: slope of a least-squares line through ``column``.

    A fitted slope rather than (last - first) / time, so that the bounded oscillation of a
    symplectic integrator's energy does not read as drift. None with fewer than three rows.
    """
    if column not in log or len(log["time_ps"]) < 3:
        return None
    slope = np.polyfit(log["time_ps"], log[column], 1)[0]  # eV/ps
    return float(1000.0 * slope / n_atoms)


def temperature_summary(log: Dict[str, np.ndarray], skip_ps: float = 0.0) -> Dict[str, float]:
    """Mean, standard deviation and maximum of the logged temperature (K) after ``skip_ps`` ps."""
    keep = log["time_ps"] >= skip_ps
    temperature = log["temperature_K"][keep]
    return {"mean_K": float(temperature.mean()), "std_K": float(temperature.std()), "max_K": float(temperature.max()),
            "n_rows": int(keep.sum())}

