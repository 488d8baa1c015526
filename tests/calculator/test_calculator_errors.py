"""Every documented error of the calculator: its type and a message that says what is wrong."""

import numpy as np
import pytest
import torch
from ase import Atoms
from calc_helpers import ForwardCounter, molecule_atoms, small_model, triclinic_atoms

from ictp_calc.calculator import ICTPCalculator
from ictp_calc.data.checks import (
    CloseAtomsError,
    DegenerateCellError,
    EmptyStructureError,
    NonFiniteOutputError,
    NonFinitePositionsError,
    StructureError,
    UnknownElementError,
)
from ictp_calc.io import ModelFileError


@pytest.fixture
def calc(model):
    return ICTPCalculator(model, device="cpu")


def test_unknown_element_raises_when_attached(calc):
    counter = ForwardCounter(calc.model)
    atoms = molecule_atoms()
    atoms.calc = calc  # known elements: attaching computes nothing
    assert counter.count == 0
    atoms = Atoms("CSiOCl", positions=np.arange(12.0).reshape(4, 3))
    with pytest.raises(UnknownElementError, match=r"Si, Cl .*H, C, N, O"):
        atoms.calc = calc
    with pytest.raises(UnknownElementError, match="Si"):  # and again when computing
        atoms.get_potential_energy()
    assert counter.count == 0


def test_unknown_element_raises_when_computing_unattached_atoms(calc):
    atoms = Atoms("HeH", positions=[[0, 0, 0], [0, 0, 1.0]])
    with pytest.raises(UnknownElementError, match="He"):
        calc.get_potential_energy(atoms)


def test_unknown_element_at_construction_with_atoms(model):
    with pytest.raises(UnknownElementError, match="Fe"):
        ICTPCalculator(model, device="cpu", atoms=Atoms("Fe"))


def test_empty_atoms(calc):
    atoms = Atoms()
    atoms.calc = calc  # an empty structure has no unknown element
    with pytest.raises(EmptyStructureError, match="no atoms"):
        atoms.get_potential_energy()


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_positions(calc, value):
    atoms = molecule_atoms()
    atoms.positions[4, 1] = value
    atoms.calc = calc
    with pytest.raises(NonFinitePositionsError, match=r"indices 4\b"):
        atoms.get_forces()


def test_close_atoms_name_the_pair(calc):
    atoms = molecule_atoms()
    atoms.positions[6] = atoms.positions[2] + [0.05, 0.0, 0.0]
    atoms.calc = calc
    with pytest.raises(CloseAtomsError, match=r"atoms (2 \(\w+\) and 6|6 \(\w+\) and 2) .*0\.05 Å apart"):
        atoms.get_forces()


def test_close_periodic_image(calc):
    atoms = Atoms("CO", positions=[[0.0, 0.0, 0.0], [1.5, 0.0, 0.0]], cell=[3.0, 3.0, 3.0], pbc=True)
    atoms.positions[1] = [2.95, 0.0, 0.0]  # 0.05 Å from the image of atom 0 at (3, 0, 0)
    atoms.calc = calc
    with pytest.raises(CloseAtomsError, match=r"periodic image"):
        atoms.get_forces()


def test_min_distance_is_configurable(model):
    atoms = Atoms("HH", positions=[[0, 0, 0], [0.3, 0, 0]])
    atoms.calc = ICTPCalculator(model, device="cpu")
    atoms.get_potential_energy()  # 0.3 Å is allowed by default (0.1 Å)
    atoms.calc = ICTPCalculator(model, device="cpu", min_distance=0.5)
    with pytest.raises(CloseAtomsError, match="minimum distance 0.5 Å"):
        atoms.get_potential_energy()
    atoms.positions[1] = [0, 0, 0]
    atoms.calc = ICTPCalculator(model, device="cpu", min_distance=0.0)  # disabled: the model fails
    with pytest.raises(NonFiniteOutputError):
        atoms.get_potential_energy()


@pytest.mark.parametrize(
    "cell, pbc, message",
    [
        (np.zeros((3, 3)), True, "vector 0 .* zero"),
        ([[3, 0, 0], [0, 3, 0], [0, 0, 0]], True, "vector 2 .* zero"),
        ([[3, 0, 0], [0, 0.05, 0], [0, 0, 3]], True, "vector 1 .* shorter than 0.1 Å"),
        ([[3, 0, 0], [0, 3, 0], [3, 3, 0]], True, "linearly dependent"),
        ([[3, 0, 0], [6, 0, 0], [0, 0, 0]], [True, True, False], "linearly dependent"),
        ([[3, 0, 0], [0, np.nan, 0], [0, 0, 3]], True, "non-finite"),
    ],
)
def test_degenerate_cell(calc, cell, pbc, message):
    atoms = Atoms("CO", positions=[[0.1, 0.2, 0.3], [1.2, 0.9, 0.4]], cell=cell, pbc=pbc)
    atoms.calc = calc
    with pytest.raises(DegenerateCellError, match=message):
        atoms.get_forces()


def test_zero_vectors_along_open_directions_are_fine(calc):
    """A wire: periodic along a1 only; the zero a2, a3 are not periodic, so they do not matter."""
    atoms = Atoms("CCO", positions=[[0, 0, 0], [1.3, 0.4, -0.2], [2.2, -0.3, 1.0]],
                  cell=[[3.4, 0, 0], [0, 0, 0], [0, 0, 0]], pbc=[True, False, False])
    atoms.calc = calc
    assert np.isfinite(atoms.get_forces()).all()


def test_non_finite_model_output(tmp_path):
    broken = small_model()
    with torch.no_grad():
        broken.energy_shift[0] = float("nan")  # hydrogen
    atoms = molecule_atoms()
    atoms.calc = ICTPCalculator(broken, device="cpu")
    with pytest.raises(NonFiniteOutputError, match="energy"):
        atoms.get_potential_energy()
    assert atoms.calc.results == {}


def test_error_types_are_value_errors():
    for error in (EmptyStructureError, NonFinitePositionsError, CloseAtomsError, DegenerateCellError):
        assert issubclass(error, StructureError)
    for error in (StructureError, UnknownElementError, NonFiniteOutputError, ModelFileError):
        assert issubclass(error, ValueError)


def test_failed_call_leaves_no_stale_results(calc):
    atoms = molecule_atoms()
    atoms.calc = calc
    atoms.get_forces()
    bad = atoms.copy()
    bad.positions[0, 0] = np.nan
    with pytest.raises(NonFinitePositionsError):
        calc.calculate(bad, ["energy"])
    assert calc.results == {}
    with pytest.raises(NonFinitePositionsError):  # the same structure again: no cached answer
        calc.get_potential_energy(bad)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(dtype="float16"), ValueError, "dtype"),
        (dict(device="tpu"), ValueError, "device"),
        (dict(device="not a device"), ValueError, "device"),
        (dict(skin=-1.0), ValueError, "skin"),
        (dict(min_distance=5.0), ValueError, "min_distance"),
        (dict(min_distance=-0.1), ValueError, "min_distance"),
        (dict(energy_units_to_eV=0.0), ValueError, "energy_units_to_eV"),
        (dict(length_units_to_A=float("nan")), ValueError, "length_units_to_A"),
    ],
)
def test_bad_arguments(model, kwargs, error, message):
    with pytest.raises(error, match=message):
        ICTPCalculator(model, **({"device": "cpu"} | kwargs))


def test_bad_model_arguments(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        ICTPCalculator(tmp_path / "missing.pt", device="cpu")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelFileError):
        ICTPCalculator(junk, device="cpu")
    with pytest.raises(TypeError, match="ICTPModel"):
        ICTPCalculator(torch.nn.Linear(2, 2), device="cpu")
    with pytest.raises(TypeError, match="skn"):
        ICTPCalculator(tmp_path / "missing.pt", device="cpu", skn=0.5)  # misspelled, not swallowed


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised when CUDA is absent")
def test_cuda_requested_without_cuda(model):
    with pytest.raises(ValueError, match="CUDA is not available"):
        ICTPCalculator(model, device="cuda")
    assert ICTPCalculator(model).device == torch.device("cpu")  # "auto"


def test_stress_policy_does_not_hide_other_properties(model):
    """Asking a slab for stress raises, but energy and forces of the same structure stay available."""
    from ase.calculators.calculator import PropertyNotImplementedError

    atoms = triclinic_atoms()
    atoms.pbc = [True, False, True]
    atoms.calc = ICTPCalculator(model, device="cpu")
    with pytest.raises(PropertyNotImplementedError):
        atoms.get_stress()
    assert np.isfinite(atoms.get_forces()).all()
