"""Learning-rate schedules, the second stage and its weight average (issue 9 recipe options)."""

import json
import math

import pytest
import torch
from training_helpers import assert_bitwise_equal, final_weights, tiny_run

from ictp_calc.io import load_model
from ictp_calc.training import OUTPUT_FILES, TrainingConfig, train
from ictp_calc.training.ema import UniformAverage
from ictp_calc.training.trainer import STAGE_ONE_MODEL
from ictp_calc.training.schedule import loss_weights, scheduled_lr, stage_of


def _lrs(**settings):
    config = TrainingConfig(**settings)
    return [scheduled_lr(config, e) for e in range(1, config.max_epoch + 1)]


def test_plateau_leaves_the_learning_rate_to_its_scheduler():
    assert _lrs(max_epoch=5) == [None] * 5


def test_cosine_runs_from_lr_to_lr_min_over_the_run():
    lrs = _lrs(schedule="cosine", lr=0.01, lr_min=0.001, max_epoch=11)
    assert lrs[0] == pytest.approx(0.01) and lrs[-1] == pytest.approx(0.001)
    assert lrs[5] == pytest.approx(0.0055)  # the midpoint of (1 + cos) / 2
    assert all(a > b for a, b in zip(lrs, lrs[1:]))


def test_warmup_is_linear_then_the_schedule_starts_at_lr():
    lrs = _lrs(schedule="cosine", lr=0.01, lr_min=0.0, warmup_epochs=4, max_epoch=14)
    assert lrs[:4] == pytest.approx([0.0025, 0.005, 0.0075, 0.01])
    assert lrs[4] == pytest.approx(0.01) and lrs[-1] == pytest.approx(0.0)


def test_wsd_is_stable_then_decays_linearly_to_lr_min():
    lrs = _lrs(schedule="wsd", lr=0.01, lr_min=0.002, decay_epochs=4, max_epoch=10)
    assert lrs[:6] == pytest.approx([0.01] * 6)
    assert lrs[6:] == pytest.approx([0.008, 0.006, 0.004, 0.002])


def test_stage_two_switches_loss_weights_and_lr():
    config = TrainingConfig(schedule="wsd", lr=0.01, lr_min=0.002, decay_epochs=2, max_epoch=8,
                            stage_two_start=7, stage_two_lr=5e-4, stage_two_energy_weight=1000.0,
                            stage_two_forces_weight=100.0, energy_weight=1.0, forces_weight=10.0)
    assert [stage_of(config, e) for e in range(1, 9)] == [1] * 6 + [2, 2]
    # The decay ends where stage one ends (epoch 6), not at max_epoch.
    assert [scheduled_lr(config, e) for e in range(4, 9)] == pytest.approx([0.01, 0.006, 0.002, 5e-4, 5e-4])
    assert loss_weights(config, 6)[:2] == (1.0, 10.0)
    assert loss_weights(config, 7)[:2] == (1000.0, 100.0)


@pytest.mark.parametrize("bad", [dict(schedule="step"), dict(lr_min=0.5), dict(stage_two_average="mean"),
                                 dict(stage_two_start=-1), dict(stage_two_energy_weight=0, stage_two_forces_weight=0)])
def test_invalid_schedule_settings_are_rejected(bad):
    with pytest.raises(ValueError):
        TrainingConfig(**bad)


def test_uniform_average_is_the_mean_of_the_snapshots():
    torch.manual_seed(0)  # only for the module's own default init; the snapshots are set below
    module = torch.nn.Linear(3, 2)
    average = UniformAverage(module)
    gen = torch.Generator().manual_seed(1)
    snapshots = []
    for _ in range(5):
        with torch.no_grad():
            for p in module.parameters():
                p.copy_(torch.randn(p.shape, generator=gen))
        snapshots.append([p.detach().clone() for p in module.parameters()])
        average.update()
    with average.applied() as averaged:
        for i, p in enumerate(averaged.parameters()):
            torch.testing.assert_close(p, torch.stack([s[i] for s in snapshots]).mean(0))
    # The live weights are back afterwards.
    for p, s in zip(module.parameters(), snapshots[-1]):
        assert torch.equal(p, s)


def _stage_two_run(tmp_path, **changes):
    settings = dict(schedule="cosine", lr_min=0.002, max_epoch=6, stage_two_start=5, stage_two_lr=0.001,
                    stage_two_energy_weight=100.0, stage_two_forces_weight=10.0)
    settings.update(changes)
    return tiny_run(tmp_path, **settings)


def test_stage_two_is_logged_selects_anew_and_resumes_exactly(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    whole = train(_stage_two_run(tmp_path / "a"))
    with open(tmp_path / "a" / "run" / OUTPUT_FILES["log"]) as handle:
        log = [json.loads(line) for line in handle]
    assert [r["stage"] for r in log] == [1, 1, 1, 1, 2, 2]
    assert [r["lr"] for r in log[4:]] == [0.001, 0.001]
    assert whole.best_epoch in (5, 6)  # selection restarted with the stage-two loss
    stage_one = load_model(tmp_path / "a" / "run" / STAGE_ONE_MODEL)[1]
    assert stage_one["training"]["best_epoch"] <= 4
    # Split across the stage boundary: 4 epochs, then resume with the same settings.
    train(_stage_two_run(tmp_path / "b", max_epoch=4))
    train(_stage_two_run(tmp_path / "b"), resume=True)
    assert_bitwise_equal(final_weights(tmp_path / "a" / "run"), final_weights(tmp_path / "b" / "run"))
    state = torch.load(tmp_path / "b" / "run" / "checkpoint.pt", weights_only=True)
    assert state["stage"] == 2 and state["swa"]["num_updates"] == 2


def test_a_schedule_can_be_chosen_on_resume(tmp_path):
    """A plateau run continued as WSD with a second stage (how a long campaign is finished)."""
    train(tiny_run(tmp_path, max_epoch=2))
    result = train(_stage_two_run(tmp_path, schedule="wsd", decay_epochs=2, max_epoch=5, stage_two_start=5),
                   resume=True)
    assert result.epochs_done == 5
    with open(tmp_path / "run" / OUTPUT_FILES["log"]) as handle:
        log = [json.loads(line) for line in handle]
    assert [r["lr"] for r in log[2:]] == pytest.approx([0.011, 0.002, 0.001])
    assert all(math.isfinite(r["valid_loss"]) for r in log)
