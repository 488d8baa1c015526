"""The ``ictp-md`` command line: a click group with one thin module per subcommand.

Subcommands only parse arguments and call library functions (:mod:`ictp_calc.training`).
"""

import click

from .. import __version__
from .eval import eval_command
from .export_lammps import export_lammps_command
from .info import info_command
from .optimize import optimize_command
from .plot import plot_command
from .predict import predict_command
from .run import run_command
from .serve import serve_command
from .train import train_command

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
