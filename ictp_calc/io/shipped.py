"""Shipped models: model files that come with the package, found by name (``"ictp-3bpa"``).

The files live in the repository's ``models/`` folder (``models/NAME.pt``); building a wheel copies
them into the package as ``ictp_calc/shipped_models/NAME.pt`` (see ``setup.py``), so that a
non-editable install finds them too. Lookup order: the installed package data, then the
``models/`` folder of the checkout the package was imported from (editable installs).

A model argument is resolved by :func:`resolve_model`: an existing file is used as given; otherwise
a shipped model's name (with or without ``.pt``); ``None`` means :data:`DEFAULT_MODEL`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Union

from .model_file import ModelFileError

__all__ = ["DEFAULT_MODEL", "shipped_model_dirs", "shipped_models", "resolve_model"]

DEFAULT_MODEL = "ictp-3bpa"
"""Name of the model used when none is given (the 3BPA model; see ``models/README.md``)."""

_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # .../ictp_calc


def shipped_model_dirs() -> List[Path]:
    """Folders searched for shipped models, in order: package data, then the checkout's ``models/``.

    The second exists only when the package is imported from a repository checkout (next to its
    ``setup.cfg``), never for an install into ``site-packages``.
    """
    folders = [_PACKAGE_DIR / "shipped_models"]
    if (_PACKAGE_DIR.parent / "setup.cfg").is_file():
        folders.append(_PACKAGE_DIR.parent / "models")
    return folders


def shipped_models() -> Dict[str, str]:
    """Shipped models as ``{name: absolute path}`` (the first folder that holds a name wins), sorted."""
    found: Dict[str, str] = {}
    for folder in shipped_model_dirs():
        if folder.is_dir():
            for path in sorted(folder.glob("*.pt")):
                found.setdefault(path.stem, str(path))
    return dict(sorted(found.items()))


def resolve_model(model: Union[None, str, "os.PathLike[str]"]) -> str:
    """The absolute path of a model file given as a path, a shipped model's name, or None (the default).

    Args:
        model: an existing file (used as given), a shipped model's name such as ``"ictp-3bpa"`` (or
            ``"ictp-3bpa.pt"``), or None for :data:`DEFAULT_MODEL`.

    Raises:
        ModelFileError: neither an existing file nor a shipped model; the message lists the shipped
            models.
    """
    name = DEFAULT_MODEL if model is None else os.fspath(model)
    if model is not None and os.path.isfile(name):
        return os.path.abspath(name)
    shipped = shipped_models()
    key = name[:-3] if name.endswith(".pt") else name
    if key in shipped:
        return shipped[key]
    available = ", ".join(shipped) or "none found"
    if model is None:
        folders = " or ".join(str(d) for d in shipped_model_dirs())
        raise ModelFileError(
            f"the default model {DEFAULT_MODEL!r} was not found in {folders}; reinstall ictp_calc, or give a "
            "model file"
        )
    if os.path.isdir(name):
        raise ModelFileError(f"model {name!r} is a directory, not a model file")
    raise ModelFileError(
        f"model {name!r} does not exist: it is neither a file nor a shipped model (shipped models: {available})"
    )
