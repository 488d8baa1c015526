"""One training epoch and one evaluation pass.

Each training step runs with the thread count of :func:`~ictp_calc.inference.auto_threads`: one
for a batch of fewer edges than :data:`~ictp_calc.inference.ONE_THREAD_TRAINING_EDGES` (3000 in
float64, 6000 in float32; 3BPA has about 440 per structure), on a worker thread where torch has
more, else torch's count; each evaluated batch likewise with
:data:`~ictp_calc.inference.ONE_THREAD_EDGES`. Measurements in ``benchmarks/README.md``, "One
thread for small graphs".

Reported losses are per structure: the summed loss of spec §3 divided by the number of
structures, so that training and validation values (different set sizes) compare directly.
ReduceLROnPlateau and best-epoch selection are unaffected by that constant factor.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch

from .. import keys
from ..data.checks import NonFiniteOutputError
from ..data.dataset import GraphDataset
from ..inference.threads import ONE_THREAD_TRAINING_EDGES, auto_threads, run_with_threads
from ..model import compute_properties
from .config import TrainingConfig
from .ema import ExponentialMovingAverage
from .loss import WeightedLoss
from .metrics import ErrorAccumulator
from .progress import Reporter

__all__ = ["NonFiniteLossError", "to_device", "train_epoch", "evaluate"]

Graph = Dict[str, torch.Tensor]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite: the run diverged (``ictp-md train`` exits with code 3).

    Checked once per epoch (one host synchronization), before anything of that epoch is saved, so
    the output directory keeps the last good checkpoint and best model.
    """


def _check_predictions(out: Graph, batch: Graph) -> None:
    bad_structures = ~torch.isfinite(out[keys.ENERGY]).view(-1)
    bad_atoms = (~torch.isfinite(out[keys.FORCES])).any(dim=-1)
    bad_structures[batch[keys.BATCH][bad_atoms]] = True
    bad = bad_structures.nonzero().view(-1).tolist()
    if bad:
        raise NonFiniteOutputError(
            f"the model predicts non-finite energies or forces for {len(bad)} structure(s) of a batch (positions "
            f"{bad[:10]} in it); the structures are probably far outside its training data"
        )


def _check_finite(total: torch.Tensor, what: str) -> None:
    if not torch.isfinite(total).item():
        raise NonFiniteLossError(
            f"the {what} loss became non-finite ({total.item()}); the run diverged and was stopped. The last "
            "good checkpoint and best model (if any) are kept; lower the learning rate, or check the data"
        )


def to_device(batch: Graph, device: torch.device) -> Graph:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def train_epoch(
    model: torch.nn.Module,
    dataset: GraphDataset,
    loss_fn: WeightedLoss,
    optimizer: torch.optim.Optimizer,
    config: TrainingConfig,
    generator: torch.Generator,
    device: torch.device,
    ema: Optional[ExponentialMovingAverage] = None,
    reporter: Optional[Reporter] = None,
    label: str = "",
) -> Tuple[float, Dict[str, float]]:
    """Shuffle (from ``generator``), drop the last incomplete batch, step after every batch.

    Returns:
        The mean loss per structure and the running metrics of the epoch (with the weights as
        they were at each step, not re-evaluated at the end).
    """
    reporter = reporter or Reporter()
    metrics = ErrorAccumulator()
    total = torch.zeros((), dtype=torch.float64, device=device)
    n_structures = 0
    batches = dataset.batches(config.batch_size, shuffle=True, generator=generator, drop_last=True)
    with reporter.progress(batches, dataset.n_batches(config.batch_size, drop_last=True), label) as bar:
        for batch in bar:
            batch = to_device(batch, device)
            # A small batch trains fastest on one thread (as ICTPCalculator evaluates a molecule).
            threads = auto_threads(batch[keys.EDGE_INDEX].shape[1], _dtype(model), device, ONE_THREAD_TRAINING_EDGES)
            out, loss = run_with_threads(threads, _train_step, model, batch, loss_fn, optimizer, config, ema)
            total += loss.detach().double()
            metrics.update(out, batch)
            n_structures += batch["n_atoms"].shape[0]
    _check_finite(total, f"training ({label})" if label else "training")
    return total.item() / max(n_structures, 1), metrics.result()


def _train_step(model, batch: Graph, loss_fn: WeightedLoss, optimizer: torch.optim.Optimizer,
                config: TrainingConfig, ema: Optional[ExponentialMovingAverage]) -> Tuple[Graph, torch.Tensor]:
    """One optimizer step on ``batch``: its predictions and loss."""
    optimizer.zero_grad(set_to_none=True)
    # Forces are always computed (metrics need them); training=True keeps their graph.
    out = compute_properties(model, batch, forces=True, stress=loss_fn.needs_stress, training=True)
    loss = loss_fn(out, batch)
    loss.backward()
    if config.max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
    optimizer.step()
    if ema is not None:
        ema.update()
    return out, loss


def _dtype(model: torch.nn.Module) -> torch.dtype:
    return next(model.parameters()).dtype


def evaluate(
    model: torch.nn.Module,
    dataset: GraphDataset,
    batch_size: int,
    device: torch.device,
    loss_fn: Optional[WeightedLoss] = None,
    stress: bool = False,
    keep_values: bool = False,
) -> Tuple[float, ErrorAccumulator]:
    """Energies and forces (and stress) of every structure, batched, without a training graph.

    Returns:
        The mean loss per structure (NaN without ``loss_fn``) and the filled accumulator.
    """
    metrics = ErrorAccumulator(keep_values=keep_values)
    total = torch.zeros((), dtype=torch.float64, device=device)
    stress = stress or (loss_fn is not None and loss_fn.needs_stress)
    for batch in dataset.batches(batch_size):
        batch = to_device(batch, device)
        threads = auto_threads(batch[keys.EDGE_INDEX].shape[1], _dtype(model), device)
        with torch.enable_grad():  # forces are derivatives, even when the caller disabled grad
            out = run_with_threads(threads, compute_properties, model, batch, forces=True, stress=stress,
                                   training=False)
        out = {k: v.detach() for k, v in out.items()}
        if loss_fn is None:  # evaluation of a model: a NaN prediction must not read as "no labels"
            _check_predictions(out, batch)
        if loss_fn is not None:
            total += loss_fn(out, batch).double()
        metrics.update(out, batch)
    if loss_fn is not None:
        _check_finite(total, "validation")
    loss = total.item() / max(len(dataset), 1) if loss_fn is not None else float("nan")
    return loss, metrics
