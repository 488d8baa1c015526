"""Compiling that fails on a machine (no working C++ compiler for inductor, say): a typed error
naming the cause, or, where asked, a warning and the eager model.

The failure is simulated by replacing the compiled function (``CompiledPotential._compile``), so
these tests take seconds and need no broken toolchain.
"""

import json
import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from inference_helpers import CUTOFF, batch_of, structures, tiny_model

from ictp_calc import keys
from ictp_calc.calculator import ICTPCalculator
from ictp_calc.cli import main
from ictp_calc.inference import MIN_TORCH, CompiledPotential, CompileFailedError, CompileFallbackWarning
from ictp_calc.inference import compiled as compiled_module
from ictp_calc.inference.compiled import torch_release

BPA_START = __import__("pathlib").Path(__file__).resolve().parents[2] / "examples" / "data" / "3bpa_start.xyz"

pytestmark = pytest.mark.skipif(
    torch_release(torch.__version__) < MIN_TORCH, reason="the compiled path needs torch >= 2.11"
)


def _no_compiler(model, graph, stress):
    raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\n(inductor's long explanation)")


def _compiles_once():
    """A compiled function whose first call works (evaluated eagerly) and every later one fails."""
    calls = []

    def run(model, graph, stress):
        calls.append(stress)
        if len(calls) > 1:
            raise RuntimeError("out of memory")
        return compiled_module._energy_forces_stress(model, graph, stress)

    return run


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()  # ictp-md run sets the threads of its (here: this) process
    yield
    torch.set_num_threads(before)


def test_a_failed_compilation_is_a_typed_error_naming_its_cause(monkeypatch):
    monkeypatch.setattr(CompiledPotential, "_compile", lambda self, n_atoms: _no_compiler)
    model = tiny_model("float64")
    graph = batch_of(model, structures()[:1], CUTOFF)
    potential = CompiledPotential(model)
    potential.prepare(graph)
    with pytest.raises(CompileFailedError) as raised:
        potential(graph)
    err = raised.value
    assert isinstance(err, ValueError) and isinstance(err.__cause__, RuntimeError)
    assert err.reason == "torch.compile (inductor) failed on this machine: RuntimeError: InvalidCxxCompiler: " \
                         "No working C++ compiler found"
    assert "--no-compile" in str(err) and "long explanation" not in str(err)


def test_only_the_first_call_of_a_capacity_counts_as_compiling(monkeypatch):
    """An error of a later call is the caller's (not relabeled); a new capacity or stress compiles again."""
    monkeypatch.setattr(CompiledPotential, "_compile", lambda self, n_atoms: _compiles_once())
    model = tiny_model("float64")
    graph = batch_of(model, structures()[1:2], CUTOFF)  # the periodic box: stress as well
    potential = CompiledPotential(model)
    potential.prepare(graph)
    assert torch.isfinite(potential(graph)[keys.FORCES]).all()  # compiled (here: evaluated) once
    with pytest.raises(RuntimeError, match="out of memory") as raised:
        potential(graph)
    assert not isinstance(raised.value, CompileFailedError)
    with pytest.raises(CompileFailedError, match="out of memory"):
        potential(graph, stress=True)  # another compiled function


@pytest.mark.parametrize("fallback", [False, True])
def test_the_calculator_raises_or_falls_back_to_the_eager_model(monkeypatch, fallback):
    monkeypatch.setattr(CompiledPotential, "_compile", lambda self, n_atoms: _no_compiler)
    model = tiny_model("float64")
    atoms = structures()[1]
    calc = ICTPCalculator(model, device="cpu", compile=True, compile_fallback=fallback)
    if not fallback:
        with pytest.raises(CompileFailedError, match="InvalidCxxCompiler"):
            calc.get_forces(atoms.copy())
        assert calc.compiled is not None and calc.results == {}
        return
    reference = ICTPCalculator(model, device="cpu")
    with pytest.warns(CompileFallbackWarning, match="InvalidCxxCompiler.*evaluating without compiling"):
        forces = calc.get_forces(atoms.copy())
    assert calc.compiled is None and calc.todict()["compile"] is False
    np.testing.assert_array_equal(forces, reference.get_forces(atoms.copy()))
    moved = atoms.copy()
    moved.positions[0] += 0.01
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once, not at every call
        np.testing.assert_array_equal(calc.get_stress(moved.copy()), reference.get_stress(moved.copy()))


def test_ictp_md_run_fails_clearly_with_compile_and_falls_back_without(monkeypatch, tmp_path, restore_threads):
    """``--compile`` asked for: exit code 5, the cause, no directory left behind. Chosen by the run's
    length (here forced): a warning line, the run completes eagerly, the manifest says so."""
    import ictp_calc.cli.run as run_module

    monkeypatch.setattr(CompiledPotential, "_compile", lambda self, n_atoms: _no_compiler)
    out = tmp_path / "asked"
    args = ["run", str(BPA_START), "--steps", "3", "--device", "cpu", "--no-progress", "--output-dir"]
    result = CliRunner().invoke(main, [*args, str(out), "--compile"])
    assert result.exit_code == 5, result.output
    assert "Error: torch.compile (inductor) failed on this machine: RuntimeError: InvalidCxxCompiler" in result.output
    assert "Traceback" not in result.output and not out.exists()

    monkeypatch.setattr(run_module, "compile_pays", lambda *args: True)
    out = tmp_path / "auto"
    result = CliRunner().invoke(main, [*args, str(out)])
    assert result.exit_code == 0, result.output
    assert "Warning: torch.compile (inductor) failed on this machine" in result.output
    assert "evaluating without compiling" in result.output and "steps 0-3 of 27 atoms" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["compile"] is True and manifest["segments"][-1]["compiled"] is False
