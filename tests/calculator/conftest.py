"""Fixtures of the calculator tests (plain helpers live in ``calc_helpers.py``)."""

import pytest
from calc_helpers import small_model

from ictp_calc.io import save_model


@pytest.fixture(scope="module")
def model():
    """A small float64 model (module-scoped: the calculator never mutates a model passed to it)."""
    return small_model("float64")


@pytest.fixture
def model_file(tmp_path, model):
    path = tmp_path / "model.pt"
    save_model(model, path, metadata={"note": "calculator tests"})
    return path
