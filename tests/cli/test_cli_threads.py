"""Threads of the command line: the default, --threads, and OpenMP's wait policy."""

import os
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "md"))  # the MD tests' helpers
from md_helpers import BPA_START, tiny_model  # noqa: E402

from ictp_calc.cli import main  # noqa: E402
from ictp_calc.inference import SMALL_SYSTEM_ATOMS, choose_threads  # noqa: E402
from ictp_calc.inference.threads import available_cores  # noqa: E402


def test_choose_threads_by_request():
    assert choose_threads(None) == available_cores()
    assert choose_threads(3) == 3
    with pytest.raises(ValueError, match=">= 1"):
        choose_threads(0)


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("args,expected", [([], None), (["--threads", "2"], 2)])
def test_run_sets_the_threads_of_its_process(tmp_path, restore_threads, monkeypatch, args, expected):
    """All cores by default; a molecule's evaluations still run on one (the calculator's threads="auto")."""
    import ictp_calc.calculator as calculator_module

    seen = []
    real = calculator_module.compute_properties
    monkeypatch.setattr(calculator_module, "compute_properties",
                        lambda *a, **k: seen.append(torch.get_num_threads()) or real(*a, **k))
    model = tiny_model(tmp_path / "tiny.pt")
    torch.set_num_threads(3)  # not what the command should leave behind
    result = CliRunner().invoke(main, ["run", str(BPA_START), "--model", str(model), "--steps", "2", "--device", "cpu",
                                       "--output-dir", str(tmp_path / "out"), "--no-progress", *args])
    assert result.exit_code == 0, result.output
    assert torch.get_num_threads() == (expected or available_cores())
    assert seen and set(seen) == {1}  # 3BPA: a graph of a few hundred edges


@pytest.mark.parametrize("args,expected", [([], None), (["--threads", "2"], 2)])
def test_serve_sets_the_threads_of_its_process(monkeypatch, restore_threads, args, expected):
    """An i-PI client sets its process's threads like ``run``."""
    import ictp_calc.cli.serve as serve_module
    from ictp_calc.ipi import StructureMismatch

    seen = {}

    def fake_serve_structure(structure, **kwargs):
        seen["threads"] = torch.get_num_threads()
        raise StructureMismatch("stop here")

    monkeypatch.setattr(serve_module, "serve_structure", fake_serve_structure)
    torch.set_num_threads(3)
    result = CliRunner().invoke(main, ["serve", str(BPA_START), "--unix", "x", *args])
    assert result.exit_code == 5 and "stop here" in result.output
    assert seen["threads"] == (expected or available_cores())


def test_threads_below_one_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["optimize", str(BPA_START), "--threads", "0"])
    assert result.exit_code == 2 and "--threads" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("given,expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_cli_sets_a_passive_wait_policy_before_torch_loads(given, expected):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    # A meta-path spy prints the policy at the moment torch (and with it OpenMP) starts loading.
    code = (
        "import os, sys\n"
        "class Spy:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch':\n"
        "            print(os.environ.get('OMP_WAIT_POLICY'), flush=True)\n"
        "sys.meta_path.insert(0, Spy())\n"
        "import ictp_calc.cli\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == [expected, "True"]


@pytest.mark.parametrize("args,expected", [
    ([], False),  # 2 steps: compiling would not pay
    (["--compile"], True),
    (["--no-compile"], False),
    (["--steps", "20000"], True),  # AUTO_COMPILE_STEPS of a 27-atom molecule on a CPU
    (["--steps", "19999"], False),
    (["--steps", "20000", "--no-compile"], False),
    (["--time-ps", "10"], True),  # 20,000 steps of 0.5 fs
])
def test_run_passes_compile_to_the_calculator(tmp_path, monkeypatch, restore_threads, args, expected):
    """``--compile`` and the default by run length reach ``make_calculator`` (stopped there)."""
    import ictp_calc.inference.compiled as compiled
    import ictp_calc.md.runner as runner
    from ictp_calc.md import InputError

    seen = {}

    def fake_make_calculator(model, **kwargs):
        seen.update(kwargs)
        raise InputError("stop here")

    monkeypatch.setattr(runner, "make_calculator", fake_make_calculator)
    monkeypatch.setattr(compiled, "cpp_compiler_found", lambda: True)  # whatever this machine has
    steps = [] if "--steps" in args or "--time-ps" in args else ["--steps", "2"]
    result = CliRunner().invoke(main, ["run", str(BPA_START), *steps, "--device", "cpu",
                                       "--output-dir", str(tmp_path / "out"), "--no-progress", *args])
    assert result.exit_code == 5 and "stop here" in result.output
    assert seen["compile"] is expected
    assert ("compiling the model first" in result.output) == (expected and "--compile" not in args)


def test_compile_pays_for_long_runs_of_small_systems_on_a_cpu(monkeypatch):
    import ictp_calc.inference.compiled as compiled
    from ictp_calc.inference import AUTO_COMPILE_STEPS, compile_pays

    monkeypatch.setattr(compiled, "cpp_compiler_found", lambda: True)
    assert compile_pays(AUTO_COMPILE_STEPS, 27, "cpu")
    assert not compile_pays(AUTO_COMPILE_STEPS - 1, 27, "cpu")
    assert not compile_pays(AUTO_COMPILE_STEPS, SMALL_SYSTEM_ATOMS, "cpu")  # large: the eager path
    assert not compile_pays(AUTO_COMPILE_STEPS, 27, "cuda")  # not measured on a GPU
    monkeypatch.setattr(compiled.torch, "__version__", "2.10.0+cu128")
    assert not compile_pays(AUTO_COMPILE_STEPS, 27, "cpu")  # this torch cannot compile the model
    monkeypatch.setattr(compiled.torch, "__version__", "2.13.0+cpu")
    monkeypatch.setattr(compiled, "cpp_compiler_found", lambda: False)
    assert not compile_pays(AUTO_COMPILE_STEPS, 27, "cpu")  # inductor would fail without one
