"""Molecular dynamics and geometry optimization with ICTP models: the library behind ``ictp-md``.

Every command of the command line is a function here first:

* :func:`run_md` (``ictp-md run``): NVE, NVT (Langevin, Bussi, Nose-Hoover chain) and NPT (MTK,
  Berendsen) with a health monitor, trajectory/log/manifest outputs and exact restarts;
* :func:`optimize` (``ictp-md optimize``): BFGS, LBFGS or FIRE, optionally with the cell;
* :func:`plot_log` (``ictp-md plot``): temperature and energies against time.

Failures are typed (:mod:`ictp_calc.md.errors`), each with its exit code.
"""

from .errors import EXIT_CODES, HealthStop, InputError, MDError, NotConvergedError, RestartError, RunInterrupted
from .inputs import default_model_path, make_calculator, read_structure
from .optimize import OptimizeResult, optimize
from .plot import plot_log
from .runner import MDResult, run_md
from .settings import ENSEMBLES, MDSettings, steps_for_time

__all__ = [
    "ENSEMBLES",
    "EXIT_CODES",
    "HealthStop",
    "InputError",
    "MDError",
    "MDResult",
    "MDSettings",
    "NotConvergedError",
    "OptimizeResult",
    "RestartError",
    "RunInterrupted",
    "default_model_path",
    "make_calculator",
    "optimize",
    "plot_log",
    "read_structure",
    "run_md",
    "steps_for_time",
]
