"""Energies, forces, stress and force-loss gradients equal those of the starting commit 4defa54.

The reference numbers in ``data/reference_values.json`` were written by ``tools/reference_values.py``
run on that commit's package (see its docstring): they do not come from the code under test, so
every rewrite of the model's arithmetic (fused products, kept intermediates, other evaluation
orders) must reproduce them to rounding: 1e-10 relative in float64, 1e-5 in float32.
"""

import json
import pathlib
import sys

import pytest
import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import reference_values  # noqa: E402

from ictp_calc.nn import convolution as ictp_convolution  # noqa: E402

REFERENCE = json.loads((pathlib.Path(__file__).parent / "data" / "reference_values.json").read_text())
RTOL = {"float64": 1e-10, "float32": 1e-5}


def _assert_relative(actual, expected, rtol, what):
    actual, expected = torch.as_tensor(actual, dtype=torch.float64), torch.tensor(expected, dtype=torch.float64)
    scale = expected.abs().max().item()
    error = (actual - expected).abs().max().item()
    assert error <= rtol * scale, f"{what}: max error {error:.3g} vs scale {scale:.3g} (rtol {rtol})"


def _model(name, dtype):
    if name == "bench_small":
        return reference_values.bench_small(dtype)
    return reference_values.make_model({"float64": torch.float64, "float32": torch.float32}[dtype])


@pytest.mark.parametrize("convolution", ["default", "fused"])
@pytest.mark.parametrize("case", sorted(REFERENCE))
def test_outputs_equal_the_starting_commit(case, convolution, monkeypatch):
    """``fused``: every graph takes the fused convolution of large graphs (these are small)."""
    if convolution == "fused":
        monkeypatch.setattr(ictp_convolution, "SMALL_GRAPH", 0)
    name, dtype, system = case.split("/")
    expected = REFERENCE[case]
    atoms = reference_values.structures()[system]
    actual = reference_values.outputs(_model(name, dtype), atoms, gradients="gradient_projections" in expected)
    for key in ("energy", "forces", "stress"):
        if key in expected:
            _assert_relative(actual[key], expected[key], RTOL[dtype], f"{case} {key}")
    if "gradient_projections" in expected:
        names = sorted(expected["gradient_projections"])
        assert sorted(actual["gradient_projections"]) == names  # parameter names are the file contract
        values = [[d["gradient_projections"][n] for n in names] for d in (actual, expected)]
        _assert_relative(values[0], values[1], 1e3 * RTOL[dtype], f"{case} force-loss gradients")
