"""The ``ictp-md`` command line: a click group with one thin module per subcommand.

Subcommands only parse arguments and call library functions (:mod:`ictp_calc.training`).
The command owns its process: before torch (and with it OpenMP) is loaded, idle OpenMP threads
are told not to spin (``OMP_WAIT_POLICY=PASSIVE`` unless the environment sets a policy), and each
subcommand sets torch's thread count (``--threads``).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read once, when OpenMP loads with torch

import click  # noqa: E402

from .. import __version__  # noqa: E402
from .eval import eval_command  # noqa: E402
from .export_lammps import export_lammps_command  # noqa: E402
from .info import info_command  # noqa: E402
from .optimize import optimize_command  # noqa: E402
from .plot import plot_command  # noqa: E402
from .predict import predict_command  # noqa: E402
from .run import run_command  # noqa: E402
from .serve import serve_command  # noqa: E402
from .train import train_command  # noqa: E402

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ictp-md")
def main():
    """ICTP machine-learned interatomic potentials: train and evaluate models."""


main.add_command(train_command)
main.add_command(eval_command)
main.add_command(predict_command)
main.add_command(run_command)
main.add_command(optimize_command)
main.add_command(info_command)
main.add_command(plot_command)
main.add_command(serve_command)
main.add_command(export_lammps_command)
