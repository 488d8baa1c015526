"""``ictp-md run``: every ensemble writes its files; restart through the CLI; exit codes of failures."""

import json
import os
import sys

import numpy as np
import pytest
from ase.io import read
from click.testing import CliRunner

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "md"))  # the MD tests' helpers
from md_helpers import BPA_START, bpa_box, tiny_model  # noqa: E402

from ictp_calc.cli import main  # noqa: E402
from ictp_calc.md import EXIT_CODES  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("model") / "tiny.pt")


def _run(*args):
    return CliRunner().invoke(main, ["run", *map(str, args)])


CASES = [
    ("nve", []),
    ("nvt-langevin", []),
    ("nvt-bussi", []),
    ("nvt-nose-hoover", []),
    ("npt", ["--barostat", "mtk"]),
    ("npt", ["--barostat", "berendsen", "--format", "traj"]),
]


@pytest.mark.parametrize("ensemble,extra", CASES, ids=[f"{e}{'-' + x[1] if x else ''}" for e, x in CASES])
def test_each_ensemble_writes_its_files(tmp_path, model, ensemble, extra):
    structure = bpa_box(tmp_path / "box.xyz") if ensemble == "npt" else BPA_START
    out = tmp_path / "out"
    result = _run(structure, "--model", model, "--ensemble", ensemble, "--steps", 20, "--interval", 5,
                  "--device", "cpu", "--output-dir", out, *extra)
    assert result.exit_code == 0, result.output
    fmt = "traj" if "traj" in extra else "extxyz"
    frames = read(out / f"trajectory.{fmt}", ":")
    assert [f.info["step"] for f in frames] == [0, 5, 10, 15, 20]
    assert np.isfinite(frames[-1].get_forces()).all() and frames[-1].get_momenta().any()
    header = (out / "log.csv").read_text().splitlines()[0].split(",")
    assert header[:5] == ["step", "time_ps", "epot_eV", "ekin_eV", "temperature_K"]
    has_conserved = ensemble in ("nve", "nvt-bussi", "nvt-nose-hoover") or "mtk" in extra
    assert ("conserved_eV" in header) == has_conserved
    assert ("pressure_bar" in header and "volume_A3" in header) == (ensemble == "npt")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["ensemble"] == ensemble and manifest["seed"] == 0
    assert len(manifest["model_sha256"]) == 64 and manifest["segments"][0]["status"] == "completed"
    assert manifest["segments"][0]["dtype"] == "torch.float64" and "ase" in manifest["segments"][0]["versions"]
    assert (out / "checkpoint.npz").exists()
    assert "steps/s" in result.output and "ns/day" in result.output
    assert ("NVE energy drift" in result.output) == (ensemble == "nve")


def test_time_ps_plot_and_defaults(tmp_path, model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _run(BPA_START, "--model", model, "--time-ps", 0.005, "--timestep-fs", 0.25, "--plot", "--device", "cpu")
    assert result.exit_code == 0, result.output
    out = tmp_path / "3bpa_start_md"  # default output directory: STEM_md
    assert (out / "log.csv").read_text().splitlines()[-1].startswith("20,")
    assert (out / "plot.png").stat().st_size > 1000


def test_restart_takes_options_from_the_checkpoint(tmp_path, model):
    common = ["--model", model, "--device", "cpu", "--interval", 5]
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert _run(BPA_START, *common, "--ensemble", "nvt-bussi", "--steps", 30, "--output-dir", straight).exit_code == 0
    assert _run(BPA_START, *common, "--ensemble", "nvt-bussi", "--steps", 15, "--output-dir", split).exit_code == 0
    # Only the new length: ensemble, interval and the rest come from the checkpoint.
    result = _run(BPA_START, "--restart", "--steps", 30, "--output-dir", split, "--model", model)
    assert result.exit_code == 0, result.output
    for name in ("trajectory.extxyz", "log.csv"):
        assert (straight / name).read_bytes() == (split / name).read_bytes()
    segments = json.loads((split / "manifest.json").read_text())["segments"]
    assert [(s["first_step"], s["last_step"]) for s in segments] == [(0, 15), (15, 30)]


@pytest.mark.parametrize("args,message", [
    (["--restart"], "no checkpoint"),
    (["--ensemble", "npt"], "periodic"),
    (["--steps", 5, "--time-ps", 1.0], "either --steps or --time-ps"),
])
def test_input_errors_exit_with_code_5(tmp_path, model, args, message):
    result = _run(BPA_START, "--model", model, "--device", "cpu", "--output-dir", tmp_path / "out", *args)
    assert result.exit_code == EXIT_CODES["input"] == 5, result.output
    assert message in result.output


@pytest.mark.parametrize("option,value", [("--timestep-fs", -1), ("--friction", 0), ("--skin", -0.1),
                                          ("--temperature-K", -5)])
def test_bad_option_values_are_usage_errors_naming_the_option(tmp_path, model, option, value):
    result = _run(BPA_START, "--model", model, "--output-dir", tmp_path / "out", option, value)
    assert result.exit_code == EXIT_CODES["usage"] == 2, result.output
    assert f"Invalid value for '{option}'" in result.output and not (tmp_path / "out").exists()


def test_other_failures_have_distinct_codes(tmp_path, model):
    bad = tmp_path / "bad.xyz"
    bad.write_text("not a structure\n")
    assert _run(bad, "--model", model).exit_code == 5
    oxygen_free_model = tmp_path / "hc.pt"
    from ictp_calc.io import save_model
    from ictp_calc.model import ModelConfig, build_model

    save_model(build_model(ModelConfig(atomic_numbers=(1, 6), n_hidden_feats=4, n_product_feats=4,
                                       l_max_edge_attrs=1, correlation=1)), oxygen_free_model)
    result = _run(BPA_START, "--model", oxygen_free_model, "--output-dir", tmp_path / "o")
    assert result.exit_code == 5 and "N" in result.output  # unknown elements N, O
    # --model takes a file or a shipped model's name: neither is an input error naming both.
    missing = _run(BPA_START, "--model", tmp_path / "missing.pt")
    assert missing.exit_code == EXIT_CODES["input"] and "neither a file nor a shipped model" in missing.output
    assert _run(BPA_START, "--ensemble", "nvt").exit_code == 2
    out = tmp_path / "twice"
    assert _run(BPA_START, "--model", model, "--steps", 2, "--output-dir", out, "--device", "cpu").exit_code == 0
    again = _run(BPA_START, "--model", model, "--steps", 2, "--output-dir", out, "--device", "cpu")
    assert again.exit_code == 5 and "--overwrite" in again.output
    changed = _run(BPA_START, "--model", model, "--restart", "--steps", 4, "--output-dir", out, "--seed", 3)
    assert changed.exit_code == 5 and "seed" in changed.output


def test_health_stop_exits_with_code_3(tmp_path, model):
    out = tmp_path / "boom"
    result = _run(BPA_START, "--model", model, "--timestep-fs", 20, "--temperature-K", 600, "--steps", 200,
                  "--output-dir", out, "--device", "cpu")
    assert result.exit_code == EXIT_CODES["health"] == 3, result.output
    assert "health monitor stopped the run" in result.output
    report = json.loads((out / "health_stop.json").read_text())
    frame = read(out / "last_good_frame.extxyz")
    assert frame.info["step"] == report["last_good_step"] == report["step"] - 1
    assert json.loads((out / "manifest.json").read_text())["segments"][0]["status"].startswith("health_stop")
