"""The optional ``layer_sizes`` input: full sizes change nothing; smaller ones keep the leading atoms exact."""

import torch
from ase.build import molecule

from ictp_calc import keys
from ictp_calc.data.graph import atoms_to_graph
from ictp_calc.model import ModelConfig, build_model


def _model():
    config = ModelConfig(atomic_numbers=(1, 6, 8), n_hidden_feats=8, n_product_feats=8, l_max_edge_attrs=2,
                         cutoff=3.0, avg_n_neighbors=5.0, dtype="float64")
    return build_model(config, seed=3)


def _ethanol_graph(seed: int):
    """A rattled ethanol molecule's graph and its atom count."""
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=seed)
    return atoms_to_graph(atoms, (1, 6, 8), 3.0), len(atoms)


def test_full_layer_sizes_change_nothing():
    model = _model()
    graph, n = _ethanol_graph(seed=1)
    plain = model(graph)[keys.NODE_ENERGY]
    sized = model({**graph, keys.LAYER_SIZES: torch.tensor([n, n])})[keys.NODE_ENERGY]
    assert torch.equal(plain, sized)


def test_smaller_last_layer_keeps_atoms_it_updates():
    """Atoms whose neighbors all lie in the first layer's set keep their exact energy."""
    model = _model()
    graph, n = _ethanol_graph(seed=2)
    full = model(graph)[keys.NODE_ENERGY]
    sized = model({**graph, keys.LAYER_SIZES: torch.tensor([n, 3])})[keys.NODE_ENERGY]
    torch.testing.assert_close(sized[:3], full[:3], rtol=1e-12, atol=1e-12)
    assert not torch.allclose(sized[3:], full[3:])  # the others miss the last layer's readout
