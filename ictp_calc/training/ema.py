"""Exponential moving average of model parameters (spec §3: decay 0.99, updated every step).

``shadow <- d * shadow + (1 - d) * param`` with the warm-up ``d = min(decay, (1 + n) / (10 + n))``
after ``n`` updates, so that the first steps do not drag the average towards the random
initialization. Evaluation and model selection use the shadow weights via :meth:`applied`.
"""

from __future__ import annotations

import contextlib
from typing import Any, Dict, Iterator, List

import torch

__all__ = ["ExponentialMovingAverage", "UniformAverage"]


class ExponentialMovingAverage:
    """Shadow copies of a module's parameters.

    Args:
        module: the model whose parameters are averaged (in ``named_parameters`` order).
        decay: the asymptotic decay ``d``.
        warmup: use the ``(1 + n) / (10 + n)`` warm-up of the decay.
    """

    def __init__(self, module: torch.nn.Module, decay: float = 0.99, warmup: bool = True):
        self.module = module
        self.decay = float(decay)
        self.warmup = warmup
        self.num_updates = 0
        self.shadow: List[torch.Tensor] = [p.detach().clone() for p in self._parameters()]

    def _parameters(self) -> List[torch.nn.Parameter]:
        return [p for p in self.module.parameters() if p.requires_grad]

    def current_decay(self) -> float:
        if not self.warmup:
            return self.decay
        return min(self.decay, (1.0 + self.num_updates) / (10.0 + self.num_updates))

    @torch.no_grad()
    def update(self) -> None:
        """Fold the module's current parameters into the average (call after each optimizer step)."""
        self.num_updates += 1
        weight = 1.0 - self.current_decay()
        for shadow, param in zip(self.shadow, self._parameters()):
            shadow.lerp_(param.detach(), weight)

    @torch.no_grad()
    def copy_to(self, module: torch.nn.Module) -> None:
        """Overwrite ``module``'s parameters (same architecture) with the averages."""
        params = [p for p in module.parameters() if p.requires_grad]
        for shadow, param in zip(self.shadow, params):
            param.copy_(shadow)

    @contextlib.contextmanager
    def applied(self) -> Iterator[torch.nn.Module]:
        """Temporarily put the averaged weights into the module; the live weights come back after.

        Copies (not swaps of tensor objects), so the optimizer's references stay valid and the
        restored weights are bitwise the ones before.
        """
        params = self._parameters()
        backup = [p.detach().clone() for p in params]
        self.copy_to(self.module)
        try:
            yield self.module
        finally:
            with torch.no_grad():
                for param, saved in zip(params, backup):
                    param.copy_(saved)

    def state_dict(self) -> Dict[str, Any]:
        return {
            "decay": self.decay,
            "warmup": self.warmup,
            "num_updates": self.num_updates,
            "shadow": list(self.shadow),
        }

    @torch.no_grad()
    def load_state_dict(self, state: Dict[str, Any]) -> None:
        if len(state["shadow"]) != len(self.shadow):
            raise ValueError(f"EMA state has {len(state['shadow'])} tensors, the model {len(self.shadow)}")
        self.decay, self.warmup = float(state["decay"]), bool(state["warmup"])
        self.num_updates = int(state["num_updates"])
        for shadow, saved in zip(self.shadow, state["shadow"]):
            shadow.copy_(saved)


class UniformAverage(ExponentialMovingAverage):
    """Equal-weight running mean of a module's parameters (stochastic weight averaging).

    After ``n`` updates the shadow is the mean of the ``n`` parameter snapshots taken at the
    updates; the initial copy does not count (the first update replaces it).
    """

    def __init__(self, module: torch.nn.Module):
        super().__init__(module, decay=0.0, warmup=False)

    def current_decay(self) -> float:
        # update() increments num_updates first: weight 1/n for the n-th snapshot.
        return 1.0 - 1.0 / max(self.num_updates, 1)
