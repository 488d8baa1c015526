"""Train a model from a :class:`RunConfig`: setup, epochs, checkpoints, artifacts.

Files in ``output_dir``:

* ``best_model.pt``: the best validation epoch's (EMA) weights, a model file with metadata; in a
  run with a second stage, the best of that stage (stage one's best is kept as
  ``best_model_stage_one.pt``);
* ``checkpoint.pt``: the last resumable state (every ``checkpoint_every`` epochs and at the end);
* ``log.jsonl``: one JSON record per epoch (metrics in meV, meV/atom, meV/Å);
* ``learning_curve.png``, ``config.toml`` (the resolved configuration) and ``summary.json``
  (validation errors of the best model, split, data checksums, timing: the model card's numbers).
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass
from typing import Any, Dict, Optional

import torch

from ..data import compute_statistics
from ..data.dataset import GraphDataset
from ..data.statistics import DatasetStatistics
from ..devices import DeviceError, resolve_device
from ..io import file_checksum, save_model
from ..model import ICTPModel, build_model
from .checkpoint import config_differences, load_checkpoint, save_checkpoint
from .data_setup import PreparedData, prepare_data
from .finetune import InitModel, fine_tune_config, fine_tune_model, load_init_model
from .loop import evaluate, train_epoch
from .loss import WeightedLoss
from .progress import Reporter, format_duration, format_epoch
from .run_config import RunConfig
from .schedule import loss_weights, scheduled_lr, stage_of
from .state import TrainState

__all__ = ["OUTPUT_FILES", "STAGE_ONE_MODEL", "TrainingError", "TrainResult", "train"]

OUTPUT_FILES = {
    "model": "best_model.pt",
    "checkpoint": "checkpoint.pt",
    "log": "log.jsonl",
    "plot": "learning_curve.png",
    "config": "config.toml",
    "summary": "summary.json",
}
STAGE_ONE_MODEL = "best_model_stage_one.pt"  # written when a second stage starts


class TrainingError(RuntimeError):
    """A run that cannot start or resume (existing output, mismatched checkpoint, no device)."""


@dataclass
class TrainResult:
    """Outcome of :func:`train`; ``finished`` is False when ``max_time`` stopped it early."""

    output_dir: str
    epochs_done: int
    max_epoch: int
    finished: bool
    best_epoch: int
    best_metrics: Dict[str, float]
    model_path: Optional[str]


def _device(name: str) -> torch.device:
    try:
        return resolve_device(name)
    except DeviceError as err:
        raise TrainingError(f"training.device: {err}") from err


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


@dataclass
class _Setup:
    """What a run trains and evaluates on: data, statistics, the model and the data sets."""

    data: PreparedData
    statistics: DatasetStatistics
    model: ICTPModel
    train_set: GraphDataset
    valid_set: GraphDataset
    init: Optional[InitModel] = None  # the model a fine-tuning run starts from


def _new_model(run: RunConfig):
    """Data, statistics and a freshly initialized model (seeded by ``training.seed``)."""
    data = prepare_data(run.data, run.model.get("atomic_numbers"))
    config = run.model_config(data.atomic_numbers).replace(atomic_energies=data.e0)
    statistics = compute_statistics(data.train, config.atomic_numbers, config.cutoff, data.e0,
                                    config.compute_regression_shift)
    return data, statistics, build_model(config, statistics, seed=run.training.seed)


def _fine_tuned_model(run: RunConfig, init: InitModel):
    """Data, statistics and the ``init_from`` model (see :mod:`~ictp_calc.training.finetune`)."""
    config = fine_tune_config(run.model, init)
    kept = None
    if run.data.e0_file is None:
        kept = (config.atomic_energies or [0.0] * config.n_species, f"the fine-tuned model {init.name}")
    data = prepare_data(run.data, config.atomic_numbers, kept_e0=kept)
    statistics = compute_statistics(data.train, config.atomic_numbers, config.cutoff, data.e0,
                                    config.compute_regression_shift)
    new_e0 = data.e0 if run.data.e0_file is not None else None
    model, statistics = fine_tune_model(init, config, new_e0, statistics)
    return data, statistics, model


def _setup(run: RunConfig, device: torch.device) -> _Setup:
    """Read the data and build (or load, to fine-tune) the model; nothing is written yet."""
    init = load_init_model(run.init_from) if run.init_from is not None else None
    data, statistics, model = _new_model(run) if init is None else _fine_tuned_model(run, init)
    model = model.to(device)
    c = model.config
    train_set = GraphDataset(data.train, c.atomic_numbers, c.cutoff, model.dtype)
    valid_set = GraphDataset(data.valid, c.atomic_numbers, c.cutoff, model.dtype)
    batch_size = run.training.batch_size
    if len(train_set) < batch_size:
        raise TrainingError(f"{len(train_set)} training structures are fewer than one batch ({batch_size})")
    return _Setup(data, statistics, model, train_set, valid_set, init)


def _metadata(run: RunConfig, setup: _Setup, state: TrainState) -> Dict[str, Any]:
    statistics = setup.statistics
    training = {
        "data": setup.data.summary,
        "seed": run.training.seed,
        "best_epoch": state.best_epoch,
        "epochs_done": state.epoch,
        "validation": state.best_metrics,
        "statistics": {
            "avg_n_neighbors": statistics.avg_n_neighbors,
            "energy_scale": statistics.energy_scale,
            "energy_shift": list(statistics.energy_shift),
            "shortest_distances_A": statistics.shortest_distances_A,
        },
        "config": run.to_dict(),
    }
    if setup.init is not None:
        training["init_from"] = setup.init.record()
    return {"training": training}


def _write_best(model: ICTPModel, state: TrainState, path: str, metadata: Dict[str, Any]) -> None:
    """Save the best weights through a CPU copy of the model (the live model keeps its weights)."""
    copy = ICTPModel(model.config)
    copy.load_state_dict(state.best_weights)
    save_model(copy, path, metadata)


def _write_log(path: str, history) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in history)


def _prepare_output(run: RunConfig, resume: bool) -> Optional[Dict[str, Any]]:
    """Check the output directory and return the checkpoint to resume from (or None)."""
    path = os.path.join(run.output_dir, OUTPUT_FILES["checkpoint"])
    if not resume:
        if os.path.exists(path):
            raise TrainingError(f"{path} exists: resume with --resume or choose another output directory")
        return None
    checkpoint = load_checkpoint(path)
    changed = config_differences(checkpoint["run_config"], run.to_dict())
    if changed:
        lines = ", ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in changed)
        raise TrainingError(f"cannot resume: the configuration differs from the checkpoint's ({lines})")
    return checkpoint


def _open_outputs(run, setup: _Setup, state: TrainState, checkpoint, device, reporter) -> Dict[str, str]:
    """Create the output directory, write the resolved config, restore a checkpoint; the paths."""
    os.makedirs(run.output_dir, exist_ok=True)
    paths = {k: os.path.join(run.output_dir, v) for k, v in OUTPUT_FILES.items()}
    with open(paths["config"], "w", encoding="utf-8") as handle:
        handle.write(run.to_toml())
    if checkpoint is not None:
        state.load_state_dict(checkpoint)
        # Epochs after the checkpoint (an interrupted chunk) are redone: drop their log lines,
        # and restore the best model file of the checkpoint (a later one may be on disk).
        _write_log(paths["log"], state.history)
        if state.best_weights is not None:
            _write_best(setup.model, state, paths["model"], _metadata(run, setup, state))
        reporter.line(f"resuming {run.output_dir} after epoch {state.epoch}")
    else:
        _write_log(paths["log"], [])
    c = setup.model.config
    n_params = sum(p.numel() for p in setup.model.parameters())
    if setup.init is not None:
        reporter.line(f"fine-tuning {setup.init.name} ({setup.init.path}, sha256 {setup.init.sha256[:12]})")
    reporter.line(
        f"{len(setup.train_set)} training / {len(setup.valid_set)} validation structures, elements "
        f"{list(c.atomic_numbers)}, E0 from {setup.data.e0_source}; {n_params} parameters, "
        f"{c.dtype} on {device}; train/valid pairs below, energies total"
    )
    return paths


def _enter_stage_two(run, setup: _Setup, state: TrainState, epoch: int, reporter) -> None:
    cfg = run.training
    if state.best_weights is not None:  # stage two selects anew: keep stage one's best
        stage_one = os.path.join(run.output_dir, STAGE_ONE_MODEL)
        _write_best(setup.model, state, stage_one, _metadata(run, setup, state))
    state.enter_stage_two()
    reporter.line(f"stage two from epoch {epoch}: loss weights {loss_weights(cfg, epoch)[:2]}, "
                  f"lr {cfg.stage_two_lr:g}, evaluated with {cfg.stage_two_average}")


def _run_epoch(run, setup: _Setup, state: TrainState, epoch: int, paths, device, reporter) -> Dict[str, Any]:
    """Train one epoch, evaluate, keep the best model and log; returns the epoch's log record."""
    cfg, model = run.training, setup.model
    t0 = time.monotonic()
    stage = stage_of(cfg, epoch)
    if stage == 2 and state.stage == 1:
        _enter_stage_two(run, setup, state, epoch, reporter)
    scheduled = scheduled_lr(cfg, epoch)
    if scheduled is not None:
        state.set_lr(scheduled)
    lr = state.lr
    loss_fn = WeightedLoss(*loss_weights(cfg, epoch))
    train_loss, train_metrics = train_epoch(
        model, setup.train_set, loss_fn, state.optimizer, cfg, state.generator, device, state.ema, reporter,
        label=f"epoch {epoch}",
    )
    if state.swa is not None:
        state.swa.update()
    state.epoch = epoch  # before the best model's metadata is written
    with state.evaluation_weights():
        valid_loss, accumulator = evaluate(model, setup.valid_set, cfg.eval_batch_size, device, loss_fn)
        valid_metrics = accumulator.result()
        improved = state.update_best(epoch, valid_loss, valid_metrics)
        if improved:  # written now, so that a crash later still leaves the best model
            save_model(model, paths["model"], _metadata(run, setup, state))
    if cfg.schedule == "plateau" and stage == 1:
        state.scheduler.step(valid_loss)
    epoch_time = time.monotonic() - t0
    state.elapsed += epoch_time
    record = {"epoch": epoch, "stage": stage, "lr": lr, "train_loss": train_loss, "valid_loss": valid_loss}
    record.update({f"train_{k}": v for k, v in train_metrics.items()})
    record.update({f"valid_{k}": v for k, v in valid_metrics.items()})
    record.update(epoch_time=epoch_time, elapsed=state.elapsed, best=improved)
    state.history.append(record)
    with open(paths["log"], "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    reporter.line(format_epoch(record, cfg.max_epoch))
    return record


def train(
    run: RunConfig, resume: bool = False, max_time: Optional[float] = None, reporter: Optional[Reporter] = None
) -> TrainResult:
    """Train (or resume) the run described by ``run``; see the module docstring for the outputs.

    With ``run.init_from`` (a model file or a shipped model's name) the run fine-tunes that model
    instead of initializing a new one (see :mod:`~ictp_calc.training.finetune`).

    Args:
        run: data, model, training settings, output directory, and the model to start from.
        resume: continue from ``output_dir/checkpoint.pt`` (model, EMA, optimizer, scheduler,
            shuffling RNG, epoch, best-so-far, history), bitwise identically on the CPU.
        max_time: wall-clock budget in seconds for this call: after each epoch, stop (writing a
            checkpoint) if the next epoch would likely end past it. At least one epoch runs.
        reporter: progress bars and epoch lines (silent by default).

    Raises:
        TrainingError: unusable output directory, device or run size; ConfigError (and its
            ArchitectureMismatchError), DatasetError, UnknownElementError, ModelFileError and
            CheckpointError for unusable inputs; NonFiniteLossError when the run diverges.
    """
    start = time.monotonic()
    reporter = reporter or Reporter()
    cfg = run.training
    device = _device(cfg.device)
    checkpoint = _prepare_output(run, resume)
    setup = _setup(run, device)
    state = TrainState(setup.model, cfg)
    paths = _open_outputs(run, setup, state, checkpoint, device, reporter)
    stopped = False
    for epoch in range(state.epoch + 1, cfg.max_epoch + 1):
        record = _run_epoch(run, setup, state, epoch, paths, device, reporter)
        stopped = (max_time is not None and epoch < cfg.max_epoch
                   and time.monotonic() - start + record["epoch_time"] > max_time)
        if epoch % cfg.checkpoint_every == 0 or epoch == cfg.max_epoch or stopped:
            save_checkpoint(paths["checkpoint"], {"run_config": run.to_dict(), **state.state_dict()})
        if stopped:
            break
    return _finish(run, setup, state, paths, stopped, device, reporter)


def _finish(run, setup: _Setup, state: TrainState, paths, stopped, device, reporter) -> TrainResult:
    """Final artifacts: checkpoint (if not current), best model, plot and summary."""
    cfg = run.training
    if state.epoch == 0 or not os.path.exists(paths["checkpoint"]):
        save_checkpoint(paths["checkpoint"], {"run_config": run.to_dict(), **state.state_dict()})
    model_path = None
    if state.best_weights is not None:
        _write_best(setup.model, state, paths["model"], _metadata(run, setup, state))
        model_path = paths["model"]
    if state.history:
        from .plots import plot_learning_curve

        plot_learning_curve(state.history, paths["plot"])
    finished = state.epoch >= cfg.max_epoch
    epoch_times = [r["epoch_time"] for r in state.history]
    summary = {
        "model": OUTPUT_FILES["model"] if model_path else None,
        "model_sha256": file_checksum(model_path) if model_path else None,
        "finished": finished,
        "epochs_done": state.epoch,
        "max_epoch": cfg.max_epoch,
        "best_epoch": state.best_epoch,
        "validation": state.best_metrics,
        "data": setup.data.summary,
        "init_from": None if setup.init is None else setup.init.record(),
        "seed": cfg.seed,
        "training_time_s": state.elapsed,
        "mean_epoch_time_s": sum(epoch_times) / len(epoch_times) if epoch_times else None,
        "hardware": _hardware(device),
        "torch_version": torch.__version__,
        "config": run.to_dict(),
    }
    with open(paths["summary"], "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=1)
    if stopped:
        reporter.line(
            f"stopped after epoch {state.epoch}/{cfg.max_epoch} (time budget); checkpoint written, "
            "continue with --resume"
        )
    else:
        e_rmse = state.best_metrics.get("energy_rmse", float("nan"))
        f_rmse = state.best_metrics.get("forces_rmse", float("nan"))
        reporter.line(
            f"done: {state.epoch} epochs in {format_duration(state.elapsed)}; best epoch {state.best_epoch}: "
            f"E rmse {e_rmse:.2f} meV, F rmse {f_rmse:.2f} meV/Å"
        )
    return TrainResult(
        run.output_dir, state.epoch, cfg.max_epoch, finished, state.best_epoch, state.best_metrics, model_path
    )
