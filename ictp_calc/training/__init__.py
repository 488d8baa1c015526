"""Training: configuration, loss, EMA, optimizer, loop, checkpoints, evaluation and plots.

Entry points: :func:`train` (a whole run from a :class:`RunConfig`, see
:func:`load_run_config`; with ``RunConfig.init_from`` it fine-tunes a model) and
:func:`evaluate_file` (errors of a model on a labelled file).
"""

from .config import TrainingConfig
from .ema import ExponentialMovingAverage
from .evaluation import FileEvaluation, evaluate_file, format_table
from .finetune import ArchitectureMismatchError
from .loss import WeightedLoss
from .metrics import METRIC_UNITS, ErrorAccumulator
from .run_config import ConfigError, DataConfig, RunConfig, load_run_config
from .trainer import OUTPUT_FILES, TrainingError, TrainResult, train

__all__ = [
    "ArchitectureMismatchError",
    "ConfigError",
    "DataConfig",
    "ErrorAccumulator",
    "ExponentialMovingAverage",
    "FileEvaluation",
    "METRIC_UNITS",
    "OUTPUT_FILES",
    "RunConfig",
    "TrainResult",
    "TrainingConfig",
    "TrainingError",
    "WeightedLoss",
    "evaluate_file",
    "format_table",
    "load_run_config",
    "train",
]
