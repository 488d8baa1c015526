"""An earlier commit's ``ictp_calc`` next to this tree's, for before/after timings in one process.

``import_baseline("4defa54")`` extracts that commit's package with ``git archive`` into a temporary
directory as ``ictp_baseline`` and imports it (the package's own imports are relative, so it runs
under another name). :func:`baseline_model` gives a model of that package with the same config
and weights as a model of this tree. Timing both alternately in one process lets drifts of a
shared machine hit both alike.
"""

import importlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def import_baseline(commit: str):
    """The package ``ictp_calc`` as of ``commit`` (a git revision), imported as ``ictp_baseline``."""
    archive = subprocess.run(["git", "-C", REPO, "archive", commit, "ictp_calc"], capture_output=True, check=True)
    root = tempfile.mkdtemp(prefix="ictp-baseline-")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(root, filter="data")
    os.rename(os.path.join(root, "ictp_calc"), os.path.join(root, "ictp_baseline"))
    sys.path.insert(0, root)
    for module in ("", ".model", ".calculator", ".io"):
        importlib.import_module("ictp_baseline" + module)
    return sys.modules["ictp_baseline"]


def baseline_model(package, model: torch.nn.Module) -> torch.nn.Module:
    """``model``'s config and weights in ``package``'s model class, frozen as ``model`` is."""
    config = package.model.ModelConfig(**model.config.to_dict())
    twin = package.model.ICTPModel(config)
    twin.load_state_dict(model.state_dict())
    frozen = not any(p.requires_grad for p in model.parameters())
    return twin.train(model.training).requires_grad_(not frozen)
