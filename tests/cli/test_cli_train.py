"""``ictp-md train`` through click's CliRunner: outputs, resume, budget, errors."""

import json

import pytest
from cli_helpers import write_config
from click.testing import CliRunner

from ictp_calc.cli import main
from ictp_calc.cli.options import DURATION


def test_train_writes_every_artifact_and_resumes(tmp_path):
    config = write_config(tmp_path, epochs=2)
    runner = CliRunner()
    result = runner.invoke(main, ["train", str(config)])
    assert result.exit_code == 0, result.output
    assert "epoch 1/2" in result.output and "epoch 2/2" in result.output and "done:" in result.output
    run = tmp_path / "run"
    for name in ("best_model.pt", "checkpoint.pt", "log.jsonl", "learning_curve.png", "config.toml", "summary.json"):
        assert (run / name).is_file(), name
    # Starting again over an existing run is refused; --resume with more epochs continues it.
    again = runner.invoke(main, ["train", str(config)])
    assert again.exit_code == 5 and "--resume" in again.output
    more = runner.invoke(main, ["train", str(config), "--resume", "--epochs", "3"])
    assert more.exit_code == 0, more.output
    assert "resuming" in more.output and "epoch 3/3" in more.output
    assert len((run / "log.jsonl").read_text().splitlines()) == 3
    # The resolved config in the output directory is itself a valid config of the same run.
    assert 'train_file = "' in (run / "config.toml").read_text()


def test_overrides_and_time_budget(tmp_path):
    config = write_config(tmp_path, epochs=5)
    out = tmp_path / "other"
    result = CliRunner().invoke(
        main, ["train", str(config), "--output-dir", str(out), "--max-time", "0s", "--seed", "4",
               "--dtype", "float32", "--set", "training.lr=0.003"],
    )
    assert result.exit_code == 0, result.output
    assert "stopped after epoch 1/5" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["finished"] is False and summary["epochs_done"] == 1
    assert summary["config"]["training"]["seed"] == 4 and summary["config"]["model"]["dtype"] == "float32"
    assert summary["config"]["training"]["lr"] == 0.003


def test_config_errors_are_reported_without_traceback(tmp_path):
    config = write_config(tmp_path, extra_training="learning_rate = 1.0")
    result = CliRunner().invoke(main, ["train", str(config)])
    assert result.exit_code == 5
    assert "Error:" in result.output and "learning_rate" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("text, seconds", [("3600", 3600.0), ("45m", 2700.0), ("1h30m", 5400.0), ("2.5h", 9000.0)])
def test_duration_parsing(text, seconds):
    assert DURATION.convert(text, None, None) == seconds


def test_bad_duration_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["train", str(write_config(tmp_path)), "--max-time", "soon"])
    assert result.exit_code == 2 and "not a duration" in result.output


def test_init_from_fine_tunes_a_model_file_or_a_shipped_model(tmp_path):
    config = write_config(tmp_path, epochs=1)
    runner = CliRunner()
    assert runner.invoke(main, ["train", str(config), "--no-progress"]).exit_code == 0
    base = tmp_path / "run" / "best_model.pt"
    tuned = tmp_path / "tuned"
    result = runner.invoke(main, ["train", str(config), "--init-from", str(base), "--output-dir", str(tuned),
                                  "--no-progress"])
    assert result.exit_code == 0, result.output
    assert f"fine-tuning {base}" in result.output and "E0 from the fine-tuned model" in result.output
    summary = json.loads((tuned / "summary.json").read_text())
    assert summary["init_from"]["file"] == "best_model.pt" and summary["config"]["init_from"] == str(base)
    # A shipped model by name: its architecture is not the config's [model] (a typed error, exit 5).
    other = runner.invoke(main, ["train", str(config), "--init-from", "ictp-3bpa", "--output-dir",
                                 str(tmp_path / "x"), "--no-progress"])
    assert other.exit_code == 5 and "cannot fine-tune 'ictp-3bpa'" in other.output, other.output
    assert "n_hidden_feats = 4 (the model has 64)" in other.output and "Traceback" not in other.output
    missing = runner.invoke(main, ["train", str(config), "--init-from", str(tmp_path / "nope.pt"), "--output-dir",
                                   str(tmp_path / "y"), "--no-progress"])
    assert missing.exit_code == 5 and "does not exist" in missing.output
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
