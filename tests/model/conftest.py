"""Fixtures of the model tests (plain helpers live in ``model_helpers.py``)."""

import pytest
import torch

# Whole-model outputs in float32 accumulate rounding over several layers and over edge vectors
# x_i - x_j - S @ cell of ~10 Å coordinates: 1e-5 is too tight there, 1e-4 still catches real errors.
MODEL_TOLERANCES = {torch.float32: dict(rtol=1e-4, atol=1e-4), torch.float64: dict(rtol=1e-10, atol=1e-10)}


@pytest.fixture
def mtol(dtype):
    """``assert_close`` tolerances for outputs of a whole model in the current dtype."""
    return MODEL_TOLERANCES[dtype]
