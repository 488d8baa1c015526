"""Forces, virial and stress by automatic differentiation of the energy (spec §2.8)."""

from __future__ import annotations

from typing import Dict, Optional

import torch

from .. import keys

__all__ = ["compute_properties"]


def compute_properties(
    model: torch.nn.Module,
    graph: Dict[str, torch.Tensor],
    forces: bool = True,
    stress: bool = False,
    training: bool = False,
    strain: Optional[torch.Tensor] = None,
) -> Dict[str, torch.Tensor]:
    """Evaluate ``model`` on ``graph`` and differentiate its energy.

    Forces are ``-dE/dx``. For the virial a symmetric strain ``eps`` (one per graph) deforms
    positions, cell and image shifts as row vectors, ``x <- x (I + eps)``; then
    ``virial = -dE/d eps`` and ``stress = (1/V) dE/d eps`` (ASE's sign; ``V = |det cell|``,
    NaN for a graph whose cell has no volume). With ``training`` the graph of the derivatives is
    kept so that a loss on forces can be differentiated again.

    Positions that are already a leaf requiring grad, and a given ``strain`` (zeros ``[G, 3, 3]``
    requiring grad), are differentiated as they are: a caller compiled by ``torch.compile`` creates
    them outside the compiled function, since dynamo of torch 2.11 cannot trace ``requires_grad_()``
    (:class:`~ictp_calc.inference.CompiledPotential`).

    Returns the model's outputs plus ``forces [N, 3]`` and ``virial``/``stress [G, 3, 3]`` as asked.
    """
    graph = dict(graph)
    positions, cell = graph[keys.POSITIONS], graph[keys.CELL]
    inputs = []
    if forces or stress:
        if not (positions.requires_grad and positions.is_leaf):
            positions = positions.detach().requires_grad_(True)
        inputs.append(positions)
    if stress:
        if strain is None:
            strain = torch.zeros_like(cell).requires_grad_(True)  # [G, 3, 3]
        inputs.append(strain)
        sym = 0.5 * (strain + strain.transpose(1, 2))
        deform = sym.index_select(0, graph[keys.BATCH])  # [N, 3, 3]
        graph[keys.POSITIONS] = positions + torch.bmm(positions.unsqueeze(1), deform).squeeze(1)
        graph[keys.CELL] = cell + torch.bmm(cell, sym)
    else:
        graph[keys.POSITIONS] = positions
    out = model(graph)
    if not inputs:
        return out
    if not out[keys.ENERGY].requires_grad:
        # Frozen weights and no edges (isolated atoms): the energy does not depend on anything.
        grads = [None] * len(inputs)
    else:
        grads = torch.autograd.grad(
            out[keys.ENERGY].sum(), inputs, create_graph=training, retain_graph=training, allow_unused=True
        )
    if forces:
        out[keys.FORCES] = -grads[0] if grads[0] is not None else torch.zeros_like(positions)
    if stress:
        grad = grads[-1] if grads[-1] is not None else torch.zeros_like(cell)
        volume = torch.linalg.det(cell).abs()
        volume = torch.where(volume > 0, volume, torch.full_like(volume, float("nan")))
        out[keys.VIRIAL] = -grad
        out[keys.STRESS] = grad / volume.view(-1, 1, 1)
    return out
