"""A wheel carries the shipped model: built, installed into a fresh virtual environment outside the
checkout, and used by ``ictp-md run`` and ``ICTPCalculator("ictp-3bpa")`` there, without ``--model``.

The wheel is built offline (``--no-build-isolation``, with this environment's setuptools) from a copy
of the package's sources; the fresh environment gets the wheel alone (``--no-deps``) and borrows
torch, ASE and the rest from this environment through ``PYTHONPATH``.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BPA_START = REPO / "examples" / "data" / "3bpa_start.xyz"
SOURCES = ["setup.py", "setup.cfg", "pyproject.toml", "MANIFEST.in", "README.md", "LICENSE"]


def _sh(*args, **kwargs):
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300, **kwargs)
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python, ictp-md, environment) of a fresh virtual environment holding the built wheel."""
    root = tmp_path_factory.mktemp("packaging")
    src = root / "src"
    src.mkdir()
    for name in SOURCES:
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "ictp_calc", src / "ictp_calc", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(REPO / "models", src / "models", ignore=shutil.ignore_patterns("training", "__pycache__"))
    _sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
        "-w", root / "dist", src)
    (wheel,) = (root / "dist").glob("ictp_calc-*.whl")
    venv = root / "venv"
    _sh(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    _sh(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel)
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"], "OMP_NUM_THREADS": "1"}
    return wheel, python, venv / "bin" / "ictp-md", env


def test_the_wheel_holds_the_shipped_model(installed):
    wheel = installed[0]
    names = zipfile.ZipFile(wheel).namelist()
    assert "ictp_calc/shipped_models/ictp-3bpa.pt" in names
    shipped = zipfile.ZipFile(wheel).read("ictp_calc/shipped_models/ictp-3bpa.pt")
    assert shipped == (REPO / "models" / "ictp-3bpa.pt").read_bytes()


def test_installed_package_finds_its_model_by_name(installed, tmp_path):
    _, python, _, env = installed
    code = (
        "import sys, ictp_calc; assert 'torch' not in sys.modules; "
        "from ictp_calc import ICTPCalculator; from ictp_calc.io import shipped_models; "
        "calc = ICTPCalculator('ictp-3bpa', device='cpu'); "
        "print(ictp_calc.__file__); print(calc.model_path); print(sorted(shipped_models()))"
    )
    package, model, names = _sh(python, "-c", code, cwd=tmp_path, env=env).splitlines()
    venv = str(python.parent.parent)
    assert package.startswith(venv) and model.startswith(venv), (package, model)
    assert model.endswith(os.path.join("ictp_calc", "shipped_models", "ictp-3bpa.pt"))
    assert names == "['ictp-3bpa']"


def test_installed_ictp_md_runs_3bpa_without_model_option(installed, tmp_path):
    _, _, ictp_md, env = installed
    shutil.copy2(BPA_START, tmp_path / "start.xyz")
    result = subprocess.run([str(ictp_md), "run", "start.xyz", "--steps", "4", "--interval", "2", "--device", "cpu",
                             "--no-progress"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((tmp_path / "start_md" / "manifest.json").read_text())
    assert manifest["model_path"].startswith(str(ictp_md.parent.parent))
    assert manifest["segments"][-1]["status"] == "completed" and manifest["segments"][-1]["last_step"] == 4
    assert "steps 0-4 of 27 atoms" in result.stdout
