"""The ICTP model: configuration, energy model, derivatives and construction."""

from .build import build_model
from .config import DTYPES, ModelConfig
from .derivatives import compute_properties
from .ictp import ICTPModel

__all__ = ["DTYPES", "ICTPModel", "ModelConfig", "build_model", "compute_properties"]
