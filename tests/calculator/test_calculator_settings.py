"""Model sources, precision, devices, units and the calculator's description."""

import numpy as np
import pytest
import torch
from calc_helpers import ForwardCounter, molecule_atoms, slab_atoms, triclinic_atoms

from ictp_calc import __version__, keys
from ictp_calc.calculator import ICTPCalculator
from ictp_calc.io import file_checksum, load_model

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")


def _all(atoms):
    out = dict(energy=atoms.get_potential_energy(), forces=atoms.get_forces(),
               energies=atoms.get_potential_energies())
    if atoms.pbc.all():
        out["stress"] = atoms.get_stress()
    return out


def test_file_and_in_memory_model_agree(model, model_file):
    atoms = triclinic_atoms()
    atoms.calc = ICTPCalculator(model, device="cpu")
    from_memory = _all(atoms)
    atoms.calc = ICTPCalculator.from_file(model_file, device="cpu")
    from_file = _all(atoms)
    for name, value in from_memory.items():
        np.testing.assert_array_equal(from_file[name], value)


def test_user_model_is_not_modified(model):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    calc = ICTPCalculator(model, device="cpu", dtype="float32")
    atoms = molecule_atoms()
    atoms.calc = calc
    atoms.get_forces()
    assert calc.model is not model
    assert all(p.requires_grad for p in model.parameters())
    assert model.dtype == torch.float64 and model.config.dtype == "float64"
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert not any(p.requires_grad for p in calc.model.parameters())
    assert not calc.model.training


def test_two_precisions_in_one_process(model, model_file):
    """float32 and float64 calculators side by side each keep their own precision."""
    default = torch.get_default_dtype()
    atoms = triclinic_atoms()
    calc64 = ICTPCalculator(model_file, device="cpu")
    calc32 = ICTPCalculator(model_file, device="cpu", dtype="float32")
    results = {}
    for step, calc in enumerate((calc64, calc32, calc64, calc32)):  # alternate: neither affects the other
        counter = ForwardCounter(calc.model)
        atoms.calc = calc
        results.setdefault(calc.dtype, _all(atoms))  # the first two steps see the same structure
        counter.remove()
        atoms.positions[0] += 0.01 * step
        graph_dtypes = {counter.graph[key].dtype for key in (keys.POSITIONS, keys.CELL, keys.CELL_SHIFTS)}
        assert graph_dtypes == {calc.dtype}
        assert {p.dtype for p in calc.model.parameters()} == {calc.dtype}
    assert calc32.model.config.dtype == "float32" and calc64.model.config.dtype == "float64"
    assert torch.get_default_dtype() == default
    for name in ("energy", "forces", "stress"):
        a, b = results[torch.float64][name], results[torch.float32][name]
        scale = np.abs(a).max()
        difference = np.abs(a - b).max() / scale
        assert 1e-10 < difference < 1e-4, (name, difference)  # float32 rounding, not float64's


def test_float32_model_promoted_to_float64(tmp_path):
    """The dtype override works both ways: a float32 model evaluated in float64."""
    from calc_helpers import small_model

    from ictp_calc.io import save_model

    model32 = small_model("float32")
    save_model(model32, tmp_path / "m32.pt")
    atoms = molecule_atoms()
    calc = ICTPCalculator(tmp_path / "m32.pt", device="cpu", dtype=torch.float64)
    assert calc.model.dtype == torch.float64
    atoms.calc = calc
    e64 = atoms.get_potential_energy()
    atoms.calc = ICTPCalculator(model32, device="cpu")
    np.testing.assert_allclose(atoms.get_potential_energy(), e64, rtol=1e-5)


@pytest.mark.parametrize("make_atoms", [triclinic_atoms, slab_atoms], ids=["periodic", "slab"])
def test_unit_factors(model, make_atoms):
    """A model in units of (l Å, e eV) on a structure equals the unit model on the structure scaled by 1/l."""
    length, energy = 0.52917721, 27.211386  # Bohr and Hartree in Å and eV
    atoms = make_atoms()
    atoms.set_cell(atoms.cell.array * length, scale_atoms=True)  # keep atoms apart at the model's scale
    atoms.calc = ICTPCalculator(model, device="cpu", energy_units_to_eV=energy, length_units_to_A=length)
    scaled = atoms.copy()
    scaled.set_cell(atoms.cell.array / length, scale_atoms=True)
    scaled.calc = ICTPCalculator(model, device="cpu")
    got, ref = _all(atoms), _all(scaled)
    np.testing.assert_allclose(got["energy"], energy * ref["energy"], rtol=1e-12)
    np.testing.assert_allclose(got["energies"], energy * ref["energies"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["forces"], energy / length * ref["forces"], rtol=1e-10, atol=1e-10)
    if "stress" in ref:
        np.testing.assert_allclose(got["stress"], energy / length**3 * ref["stress"], rtol=1e-10, atol=1e-10)
    assert atoms.calc.cutoff == pytest.approx(model.config.cutoff * length)


def test_todict_and_repr(model, model_file):
    calc = ICTPCalculator(model_file, device="cpu", dtype="float32", skin=0.25)
    info = calc.todict()
    assert info["model_path"] == str(model_file.resolve())
    assert info["model_sha256"] == file_checksum(model_file) and len(info["model_sha256"]) == 64
    assert (info["dtype"], info["device"], info["package_version"]) == ("float32", "cpu", __version__)
    assert info["skin"] == 0.25
    assert calc.metadata["note"] == "calculator tests"
    text = repr(calc)
    for part in (str(model_file.resolve()), info["model_sha256"][:16], "float32", "cpu", __version__):
        assert part in text
    memory = ICTPCalculator(model, device="cpu")
    assert memory.todict()["model_path"] is None and memory.todict()["model_sha256"] is None
    assert "in-memory" in repr(memory) and "float64" in repr(memory)


def test_results_survive_a_trajectory_round_trip(model, tmp_path):
    """ASE writes ``calc.todict()`` and the results into trajectories; both must serialize."""
    from ase.io import read, write

    atoms = triclinic_atoms()
    atoms.calc = ICTPCalculator(model, device="cpu")
    energy = atoms.get_potential_energy()
    atoms.get_stress()
    write(tmp_path / "t.traj", atoms)
    back = read(tmp_path / "t.traj")
    assert back.get_potential_energy() == energy


@requires_cuda
@pytest.mark.parametrize("skin", [0.0, 0.3])
def test_cuda_matches_cpu(model_file, skin):
    atoms = triclinic_atoms()
    cpu = ICTPCalculator(model_file, device="cpu", skin=skin)
    gpu = ICTPCalculator(model_file, device="cuda", skin=skin)
    assert next(gpu.model.parameters()).device.type == "cuda"
    for step in range(3):
        atoms.positions[step] += 0.05
        atoms.calc = cpu
        expected = _all(atoms)
        atoms.calc = gpu
        got = _all(atoms)
        for name, value in expected.items():
            np.testing.assert_allclose(got[name], value, rtol=1e-9, atol=1e-9)
    assert gpu.todict()["device"].startswith("cuda")


@requires_cuda
def test_auto_device_prefers_cuda(model):
    assert ICTPCalculator(model).device.type == "cuda"


def test_load_model_unchanged_by_calculator(model_file):
    """Loading a file for a calculator gives the same weights as load_model."""
    reference, _ = load_model(model_file)
    calc = ICTPCalculator(model_file, device="cpu")
    for (name, a), b in zip(reference.state_dict().items(), calc.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_ase_keywords_pass_through(model, tmp_path):
    atoms = molecule_atoms()
    calc = ICTPCalculator(model, device="cpu", atoms=atoms, directory=str(tmp_path / "run"))
    assert atoms.calc is calc and calc.directory == str(tmp_path / "run")
    assert np.isfinite(atoms.get_potential_energy())
