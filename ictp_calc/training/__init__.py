"""Training (configuration now; the loop arrives with the training pipeline)."""

from .config import TrainingConfig

__all__ = ["TrainingConfig"]
