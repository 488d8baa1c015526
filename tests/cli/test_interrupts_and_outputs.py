"""Signals, unwritable outputs and the manifest's command line of ``ictp-md``.

SIGTERM (batch schedulers) and SIGINT (Ctrl-C) go to a real ``ictp-md`` process: the run writes its
checkpoint, marks the manifest and exits with 128 + the signal number.
"""

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "md"))  # the MD tests' helpers
from md_helpers import BPA_START, tiny_model  # noqa: E402

from ictp_calc.cli import main  # noqa: E402
from ictp_calc.md import InputError, MDSettings, optimize, run_md  # noqa: E402

ICTP_MD = shutil.which("ictp-md", path=os.path.dirname(sys.executable)) or shutil.which("ictp-md")


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _start(tmp_path, *args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([ICTP_MD, *map(str, args)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, process, timeout=120.0):
    start = time.monotonic()
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() - start < timeout, f"{path} never appeared"
        time.sleep(0.1)


@pytest.mark.skipif(ICTP_MD is None, reason="the ictp-md script is not installed next to this Python")
@pytest.mark.parametrize("signum,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_signal_writes_checkpoint_marks_manifest_and_exits(tmp_path, signum, code):
    model = tiny_model(tmp_path / "m.pt")
    out = tmp_path / "my run"
    # A random model, at 1 K with 0.01 fs steps and no health monitor (a random model heats up): nothing
    # stops the run before the signal, however late it comes (checked for 5000 steps).
    process = _start(tmp_path, "run", BPA_START, "--model", model, "--steps", 100000, "--device", "cpu",
                     "--output-dir", out, "--no-progress", "--interval", 1, "--temperature-K", 1,
                     "--timestep-fs", 0.01, "--no-health", "--no-compile")  # not compiled for its 100,000 steps
    _wait_for(out / "log.csv", process)
    time.sleep(0.5)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr
    assert f"interrupted by {signal.Signals(signum).name}" in stderr and "Traceback" not in stderr
    manifest = json.loads((out / "manifest.json").read_text())
    segment = manifest["segments"][-1]
    assert segment["status"] == f"interrupted: {signal.Signals(signum).name}"
    assert (out / "checkpoint.npz").exists() and segment["last_step"] > 0
    # The recorded command is quoted: it splits back into this very command line (path with a space).
    argv = shlex.split(segment["command"])
    assert argv[0] == "ictp-md" and argv[argv.index("--output-dir") + 1] == str(out)
    # --restart continues from the checkpoint.
    result = _invoke("run", BPA_START, "--restart", "--output-dir", out, "--steps", segment["last_step"] + 2,
                     "--model", model)
    assert result.exit_code == 0, result.output


def test_killed_before_first_checkpoint_restart_and_rerun_agree(tmp_path):
    model = tiny_model(tmp_path / "m.pt")
    out = tmp_path / "out"
    out.mkdir()
    (out / "log.csv").write_text("step,time_ps\n0,0\n")  # what a run killed (SIGKILL) at once leaves
    restart = _invoke("run", BPA_START, "--model", model, "--restart", "--output-dir", out)
    assert restart.exit_code == 5 and "start it afresh without --restart" in restart.output
    rerun = _invoke("run", BPA_START, "--model", model, "--steps", 2, "--output-dir", out, "--device", "cpu",
                    "--no-progress")
    assert rerun.exit_code == 0, rerun.output
    assert len((out / "log.csv").read_text().splitlines()) == 2  # the header and step 0 (interval 10), afresh


def test_unwritable_outputs_exit_5_with_a_message(tmp_path):
    model = tiny_model(tmp_path / "m.pt")
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    inside = blocker / "sub"
    result = _invoke("run", BPA_START, "--model", model, "--output-dir", inside, "--device", "cpu")
    assert result.exit_code == 5 and "cannot create the output directory" in result.output
    with pytest.raises(InputError, match="cannot create the output directory"):
        run_md(MDSettings(structure=str(BPA_START), model=model, output_dir=str(inside)))
    result = _invoke("optimize", BPA_START, "--model", model, "--output", inside / "x.extxyz", "--device", "cpu")
    assert result.exit_code == 5 and f"{str(blocker)!r} is a file, not a folder" in result.output
    with pytest.raises(InputError, match="is a file, not a folder"):
        optimize(str(BPA_START), model, output=str(inside / "x.extxyz"), trajectory=None, device="cpu")
    ok = _invoke("run", BPA_START, "--model", model, "--steps", 2, "--output-dir", tmp_path / "r", "--device", "cpu",
                 "--no-progress")
    assert ok.exit_code == 0, ok.output
    plot = _invoke("plot", tmp_path / "r" / "log.csv", "--output", inside / "p.png")
    assert plot.exit_code == 5 and "cannot write" in plot.output and "Traceback" not in plot.output


def test_input_failure_leaves_no_empty_output_directory(tmp_path):
    out = tmp_path / "never"
    result = _invoke("run", BPA_START, "--model", tmp_path / "missing.pt", "--output-dir", out)
    assert result.exit_code == 5 and not out.exists()
    existing = tmp_path / "mine"
    existing.mkdir()
    assert _invoke("run", BPA_START, "--model", tmp_path / "missing.pt", "--output-dir", existing).exit_code == 5
    assert existing.is_dir()  # a folder the user made stays


def test_option_errors_name_the_option_and_exit_2(tmp_path):
    for args, option in ((["run", BPA_START, "--steps", "-3"], "--steps"),
                         (["run", BPA_START, "--ensemble", "nvt"], "--ensemble"),
                         (["optimize", BPA_START, "--optimizer", "SD"], "--optimizer"),
                         (["train", tmp_path / "none.toml"], "CONFIG")):
        result = _invoke(*args)
        assert result.exit_code == 2 and option in result.output, result.output
