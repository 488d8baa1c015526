"""Fixtures of the LAMMPS coupling tests (plain helpers live in ``lammps_helpers.py``)."""

import pytest
from lammps_helpers import small_model

from ictp_calc.io import save_model


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("lammps_model") / "model.pt"
    save_model(small_model("float64"), path)
    return path
