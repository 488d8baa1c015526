"""Ctrl-C and SIGTERM in ``ictp-md optimize`` and ``ictp-md train``: exit 130 / 143 with a message."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ase.calculators.calculator import Calculator, all_changes
from cli_helpers import write_config

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "md"))  # the MD tests' helpers
from md_helpers import BPA_START, tiny_model  # noqa: E402

from ictp_calc.calculator import ICTPCalculator  # noqa: E402
from ictp_calc.md import RunInterrupted, optimize  # noqa: E402

ICTP_MD = shutil.which("ictp-md", path=os.path.dirname(sys.executable)) or shutil.which("ictp-md")
needs_script = pytest.mark.skipif(ICTP_MD is None, reason="the ictp-md script is not installed next to this Python")


class _CtrlCAfter(Calculator):
    """Delegates to an ICTPCalculator and raises KeyboardInterrupt at its ``n``-th calculation."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, inner, n):
        super().__init__()
        self.inner, self.n, self.calls = inner, n, 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        self.inner.calculate(self.atoms, ["energy", "forces"], system_changes)
        self.results = {k: self.inner.results[k] for k in ("energy", "free_energy", "forces")}


def test_optimize_turns_ctrl_c_into_run_interrupted_with_the_last_structure(tmp_path):
    calc = _CtrlCAfter(ICTPCalculator(tiny_model(tmp_path / "m.pt"), device="cpu"), n=4)
    out = tmp_path / "opt.extxyz"
    with pytest.raises(RunInterrupted, match="BFGS interrupted at step") as info:
        optimize(str(BPA_START), calculator=calc, fmax=1e-9, steps=100, output=str(out), trajectory=None)
    assert info.value.exit_code == 130 and out.is_file()


def _default_sigint():
    """Ctrl-C as a terminal sends it: a shell's background job (e.g. a CI step) inherits SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(cwd, *args):
    return subprocess.Popen([ICTP_MD, *map(str, args)], cwd=cwd, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)


def _wait_for(path: Path, process, timeout=180.0):
    start = time.monotonic()
    while not (path.exists() and path.stat().st_size > 0):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() - start < timeout, f"{path} never appeared"
        time.sleep(0.1)


@needs_script
def test_optimize_ctrl_c_exits_130(tmp_path):
    # The shipped model from its own minimum with FIRE: it stays put (a random model could collapse the
    # molecule and stop the optimization before the signal arrives).
    process = _start(tmp_path, "optimize", BPA_START, "--optimizer", "FIRE", "--fmax", 1e-12, "--steps", 1000000,
                     "--device", "cpu", "--output", tmp_path / "o.extxyz", "--trajectory", tmp_path / "t.extxyz")
    _wait_for(tmp_path / "t.extxyz", process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr and "Aborted" not in stderr
    assert (tmp_path / "o.extxyz").is_file()


@needs_script
def test_train_sigterm_exits_143_and_keeps_the_checkpoint(tmp_path):
    config = write_config(tmp_path, epochs=100000)
    process = _start(tmp_path, "train", config, "--no-progress")
    _wait_for(tmp_path / "run" / "checkpoint.pt", process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert "training was interrupted by SIGTERM" in stderr and "--resume" in stderr and "Traceback" not in stderr
    assert (tmp_path / "run" / "checkpoint.pt").is_file()
