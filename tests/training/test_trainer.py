"""Whole training runs on a tiny EMT data set: learning, determinism, exact resume, artifacts."""

import contextlib
import json

import pytest
import torch
from training_helpers import assert_bitwise_equal, final_weights, tiny_run

from ictp_calc.io import file_checksum, load_model
from ictp_calc.training import OUTPUT_FILES, TrainingError, evaluate_file, train
from ictp_calc.training.progress import Reporter


class SimulatedCrash(Exception):
    pass


class CrashingReporter(Reporter):
    """Raises after the first batch of one epoch, as a killed process would stop mid-epoch."""

    def __init__(self, epoch):
        self.label = f"epoch {epoch}"

    @contextlib.contextmanager
    def progress(self, iterable, length, label):
        if label != self.label:
            yield iterable
            return

        def crash():
            iterator = iter(iterable)
            yield next(iterator)
            raise SimulatedCrash(label)

        yield crash()


def _log(output_dir):
    """Log records without the wall-clock fields."""
    with open(output_dir / OUTPUT_FILES["log"]) as handle:
        records = [json.loads(line) for line in handle]
    return [{k: v for k, v in r.items() if k not in ("epoch_time", "elapsed")} for r in records]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted 4-epoch run (checkpoints every 2 epochs, scheduler patience 0)."""
    base = tmp_path_factory.mktemp("reference")
    run = tiny_run(base)
    return base / "run", run, train(run)


def test_loss_decreases(reference):
    _, _, result = reference
    log = _log(reference[0])
    assert result.finished and result.epochs_done == 4
    assert log[-1]["train_loss"] < 0.7 * log[0]["train_loss"]
    assert min(r["valid_loss"] for r in log[1:]) < 0.7 * log[0]["valid_loss"]
    assert log[-1]["train_forces_rmse"] < log[0]["train_forces_rmse"]


def test_same_seed_same_result(reference, tmp_path):
    run = tiny_run(tmp_path)
    train(run)
    assert_bitwise_equal(final_weights(reference[0]), final_weights(run.output_dir))
    assert _log(reference[0]) == _log(tmp_path / "run")


def test_small_batches_train_on_one_thread_with_the_same_result(reference, tmp_path, two_threads, monkeypatch):
    """Torch at two threads: each step of these small batches runs on one thread (a worker's), and
    the run is bit for bit the reference's."""
    import ictp_calc.training.loop as loop

    counts = []
    real = loop.compute_properties
    monkeypatch.setattr(loop, "compute_properties",
                        lambda *a, **k: counts.append(torch.get_num_threads()) or real(*a, **k))
    run = tiny_run(tmp_path)
    train(run)
    assert counts and set(counts) == {1} and torch.get_num_threads() == 2
    assert_bitwise_equal(final_weights(reference[0]), final_weights(run.output_dir))


def test_other_seed_other_result(reference, tmp_path):
    run = tiny_run(tmp_path, seed=7)
    train(run)
    assert not torch.equal(final_weights(reference[0])["model"]["embedding_weight"],
                           final_weights(run.output_dir)["model"]["embedding_weight"])


def test_resume_after_crash_is_bitwise_identical(reference, tmp_path):
    run = tiny_run(tmp_path)
    with pytest.raises(SimulatedCrash):
        train(run, reporter=CrashingReporter(epoch=3))
    assert final_weights(run.output_dir)["epoch"] == 2  # the last checkpoint before the crash
    result = train(run, resume=True)
    assert result.finished and result.epochs_done == 4
    assert_bitwise_equal(final_weights(reference[0]), final_weights(run.output_dir))
    assert _log(reference[0]) == _log(tmp_path / "run")
    best_ref, _ = load_model(reference[0] / OUTPUT_FILES["model"])
    best, _ = load_model(tmp_path / "run" / OUTPUT_FILES["model"])
    assert_bitwise_equal(best_ref.state_dict(), best.state_dict())


def test_version_1_checkpoint_resumes_exactly(reference, tmp_path):
    """A checkpoint written before model format 2 (weights with the ``atomic_numbers`` buffer) resumes."""
    run = tiny_run(tmp_path, max_epoch=2)
    train(run)
    path = tmp_path / "run" / OUTPUT_FILES["checkpoint"]
    state = torch.load(path, weights_only=True)
    elements = torch.tensor([13, 29])
    state["checkpoint_version"] = 1
    state["model"] = {"atomic_numbers": elements, **state["model"]}
    state["best"]["weights"] = {"atomic_numbers": elements, **state["best"]["weights"]}
    torch.save(state, path)
    train(tiny_run(tmp_path, max_epoch=4), resume=True)
    after = torch.load(path, weights_only=True)
    assert after["checkpoint_version"] == 2 and "atomic_numbers" not in after["model"]
    assert_bitwise_equal(final_weights(reference[0]), final_weights(tmp_path / "run"))


def test_time_budget_stops_cleanly_and_resumes_exactly(reference, tmp_path):
    run = tiny_run(tmp_path)
    first = train(run, max_time=0.0)  # stops after the first epoch
    assert not first.finished and first.epochs_done == 1
    assert final_weights(run.output_dir)["epoch"] == 1
    summary = json.loads((tmp_path / "run" / OUTPUT_FILES["summary"]).read_text())
    assert summary["finished"] is False
    train(run, resume=True)
    assert_bitwise_equal(final_weights(reference[0]), final_weights(run.output_dir))


def test_more_epochs_on_resume_continue_exactly(reference, tmp_path):
    train(tiny_run(tmp_path, max_epoch=2))
    train(tiny_run(tmp_path, max_epoch=4), resume=True)
    assert_bitwise_equal(final_weights(reference[0]), final_weights(tmp_path / "run"))


def test_resume_refuses_a_different_configuration(reference, tmp_path):
    run = tiny_run(tmp_path, max_epoch=1)
    train(run)
    with pytest.raises(TrainingError, match="training.batch_size"):
        train(tiny_run(tmp_path, max_epoch=1, batch_size=3), resume=True)
    with pytest.raises(TrainingError, match="--resume"):
        train(run)


def test_plateau_settings_may_change_on_resume(tmp_path):
    train(tiny_run(tmp_path, max_epoch=1, scheduler_patience=50))
    checkpoint = tmp_path / "run" / OUTPUT_FILES["checkpoint"]
    saved = torch.load(checkpoint, weights_only=True)["scheduler"]
    assert saved["patience"] == 50
    train(tiny_run(tmp_path, max_epoch=2, scheduler_patience=3, scheduler_factor=0.5), resume=True)
    resumed = torch.load(checkpoint, weights_only=True)["scheduler"]
    assert (resumed["patience"], resumed["factor"]) == (3, 0.5)


def test_a_changed_learning_rate_on_resume_sets_the_current_one(tmp_path):
    train(tiny_run(tmp_path, max_epoch=1, scheduler_patience=50))
    train(tiny_run(tmp_path, max_epoch=2, scheduler_patience=50, lr=0.004), resume=True)
    optimizer = torch.load(tmp_path / "run" / OUTPUT_FILES["checkpoint"], weights_only=True)["optimizer"]
    assert {group["lr"] for group in optimizer["param_groups"]} == {0.004}


def test_artifacts_and_model_metadata(reference):
    output, run, result = reference
    for name in OUTPUT_FILES.values():
        assert (output / name).is_file(), name
    model, metadata = load_model(output / OUTPUT_FILES["model"])
    training = metadata["training"]
    assert training["data"]["train_file_sha256"] == file_checksum(run.data.train_file)
    assert (training["data"]["n_train"], training["data"]["n_valid"], training["data"]["split_seed"]) == (8, 4, 1)
    assert set(training["data"]["e0"]) == {"Al", "Cu"}
    assert training["best_epoch"] == result.best_epoch
    summary = json.loads((output / OUTPUT_FILES["summary"]).read_text())
    assert summary["validation"] == pytest.approx(result.best_metrics, rel=1e-12)
    # The saved best model reproduces the recorded validation errors on the recorded structures.
    check = evaluate_file(model, run.data.train_file, indices=training["data"]["valid_indices"])
    assert check.metrics == pytest.approx(training["validation"], rel=1e-9)
    # avg_n_neighbors comes from the training split, not the default of 1.
    assert model.config.avg_n_neighbors != 1.0
