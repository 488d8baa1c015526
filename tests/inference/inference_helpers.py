"""Helpers of the inference tests: a small random model and structures of every periodicity.

A plain module (not ``conftest.py``, whose module name several directories share).
"""

from typing import Dict, List

import numpy as np
import torch
from ase import Atoms
from ase.build import molecule

from ictp_calc import keys
from ictp_calc.data import atoms_to_graph, batch_graphs
from ictp_calc.model import ModelConfig, build_model, compute_properties

ELEMENTS = (1, 6, 7, 8)
CUTOFF = 4.0


def tiny_model(dtype: str = "float64", seed: int = 0, **changes):
    """Few channels and ranks (compiles quickly), with a non-trivial energy shift and scale; frozen."""
    base = dict(
        atomic_numbers=ELEMENTS, n_hidden_feats=8, n_product_feats=8, l_max_edge_attrs=2, l_max_hidden_feats=1,
        correlation=2, cutoff=CUTOFF, avg_n_neighbors=6.0, radial_mlp=(16,), readout_mlp=(8,), dtype=dtype,
    )
    base.update(changes)
    model = build_model(ModelConfig(**base), seed=seed)
    with torch.no_grad():
        model.energy_shift.copy_(torch.tensor([-1.3, -4.1, -2.7, -3.6]))
        model.energy_scale.fill_(1.5)
    return model.eval().requires_grad_(False)


def structures() -> List[Atoms]:
    """A molecule, a periodic box and a slab (mixed pbc), rattled with fixed seeds."""
    mol = molecule("CH3CONH2")
    mol.rattle(0.05, seed=0)
    rng = np.random.default_rng(1)
    box = Atoms("CH4NOH2", positions=rng.uniform(0.0, 4.2, (9, 3)), cell=np.diag([4.2, 4.4, 4.0]), pbc=True)
    box.cell[1, 0] = 0.6  # triclinic
    slab = Atoms("OH2CNH", positions=rng.uniform(0.0, 3.6, (6, 3)), cell=[[3.6, 0, 0], [1.1, 3.4, 0], [0, 0, 3.0]],
                 pbc=(True, True, False))
    for atoms in (box, slab):  # push atoms apart until none are closer than 0.9 Å (deterministic)
        for _ in range(200):
            d = atoms.get_all_distances(mic=True) + 10 * np.eye(len(atoms))
            i, j = np.unravel_index(np.argmin(d), d.shape)
            if d[i, j] >= 0.9:
                break
            atoms.positions[i] += 0.3 * atoms.get_distance(j, i, mic=True, vector=True) / d[i, j]
    return [mol, box, slab]


def batch_of(model, atoms_list, cutoff=None) -> Dict[str, torch.Tensor]:
    cutoff = CUTOFF if cutoff is None else cutoff
    return batch_graphs([atoms_to_graph(a, ELEMENTS, cutoff, model.dtype) for a in atoms_list])


def eager(model, graph, stress=True) -> Dict[str, torch.Tensor]:
    """The reference: the eager model on the unpadded graph."""
    with torch.enable_grad():
        out = compute_properties(model, graph, forces=True, stress=stress)
    return {k: v.detach() for k, v in out.items()}


def assert_close(actual, expected, rtol, names=(keys.ENERGY, keys.NODE_ENERGY, keys.FORCES, keys.VIRIAL)):
    """Relative agreement, measured against the largest magnitude of each quantity."""
    for name in names:
        a, e = actual[name].double(), expected[name].double()
        assert a.shape == e.shape, name
        scale = e.abs().max().clamp_min(1e-12)
        assert ((a - e).abs().max() / scale) <= rtol, f"{name}: {((a - e).abs().max() / scale).item():.3g}"
