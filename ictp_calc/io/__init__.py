"""Model files: save, load, validate (format version, config, metadata, weights)."""

from .card import format_model_card, model_card
from .model_file import FORMAT_VERSION, ModelFileError, file_checksum, load_model, read_model_file, save_model
from .shipped import DEFAULT_MODEL, resolve_model, shipped_models

__all__ = [
    "DEFAULT_MODEL", "FORMAT_VERSION", "ModelFileError", "file_checksum", "format_model_card", "load_model",
    "model_card", "read_model_file", "resolve_model", "save_model", "shipped_models",
]
