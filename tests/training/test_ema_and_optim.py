"""EMA arithmetic and swapping; optimizer parameter groups and weight decay."""

import pytest
import torch
from training_helpers import TINY_MODEL

from ictp_calc.model import ModelConfig, build_model
from ictp_calc.training import ExponentialMovingAverage, TrainingConfig
from ictp_calc.training.optim import make_optimizer, make_scheduler


def _model():
    return build_model(ModelConfig(atomic_numbers=(13, 29), **TINY_MODEL), seed=1)


def test_ema_follows_the_warmup_formula():
    layer = torch.nn.Linear(2, 1, bias=False).double()
    ema = ExponentialMovingAverage(layer, decay=0.99)
    start = layer.weight.detach().clone()
    expected = start.clone()
    for step in range(1, 40):
        with torch.no_grad():
            layer.weight.add_(0.1 * step)
        ema.update()
        decay = min(0.99, (1 + step) / (10 + step))
        expected = decay * expected + (1 - decay) * layer.weight.detach()
    assert torch.allclose(ema.shadow[0], expected, rtol=1e-12, atol=1e-12)
    assert ema.current_decay() == pytest.approx(min(0.99, 40 / 49))


def test_ema_applied_swaps_in_averages_and_restores_bitwise():
    model = _model()
    ema = ExponentialMovingAverage(model, decay=0.9)
    live = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.5)
    ema.update()
    changed = {k: v.clone() for k, v in model.state_dict().items()}
    with ema.applied():
        inside = model.embedding_weight.detach().clone()
    assert not torch.equal(inside, changed["embedding_weight"])
    assert not torch.equal(inside, live["embedding_weight"])
    for key, value in model.state_dict().items():
        assert torch.equal(value, changed[key]), key
    state = ema.state_dict()
    other = ExponentialMovingAverage(_model(), decay=0.5)
    other.load_state_dict(state)
    assert other.num_updates == 1 and other.decay == 0.9
    assert all(torch.equal(a, b) for a, b in zip(other.shadow, ema.shadow))


def test_weight_decay_only_on_product_weights_and_linear_second():
    model = _model()
    optimizer = make_optimizer(model, TrainingConfig(weight_decay=1e-3))
    groups = {g["name"]: g for g in optimizer.param_groups}
    decayed = set(groups["decay"]["parameter_names"])
    assert groups["decay"]["weight_decay"] == 1e-3 and groups["no_decay"]["weight_decay"] == 0.0
    assert decayed and all(".product.weights." in n or ".interaction.linear_second." in n for n in decayed)
    names = {n for n, _ in model.named_parameters()}
    expected = {n for n in names if ".product.weights." in n or ".interaction.linear_second." in n}
    assert decayed == expected
    assert names == decayed | set(groups["no_decay"]["parameter_names"])
    assert optimizer.defaults["amsgrad"] is True


def test_plateau_scheduler_uses_the_config():
    model = _model()
    config = TrainingConfig(lr=0.01, scheduler_factor=0.5, scheduler_patience=1)
    optimizer = make_optimizer(model, config)
    scheduler = make_scheduler(optimizer, config)
    for loss in (1.0, 2.0, 2.0):
        scheduler.step(loss)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.005)
