"""ModelConfig: parameter counts of spec §2.11, immutability, validation and dict round trips."""

import dataclasses
import json

import pytest
import torch

from ictp_calc.model import ICTPModel, ModelConfig

# Spec §2.11: S = 4, T = 2, nu = 3, radial MLP [64, 64, 64], F = P; (F, L_e, L_h) -> (symmetric, full).
SPEC_PARAMETER_COUNTS = {
    (8, 3, 1): (28_696, 29_720),
    (32, 3, 2): (111_664, 118_064),
    (64, 3, 3): (345_936, 362_832),
    (256, 3, 1): (2_155_792, 2_188_560),
    (256, 3, 2): (2_893_072, 2_944_272),
    (256, 3, 3): (3_543_312, 3_610_896),
}


def spec_config(**changes) -> ModelConfig:
    base = dict(atomic_numbers=(1, 6, 7, 8), n_interactions=2, correlation=3, radial_mlp=(64, 64, 64))
    base.update(changes)
    return ModelConfig(**base)


@pytest.mark.parametrize("symmetric", [True, False], ids=["symmetric", "full"])
@pytest.mark.parametrize("sizes", SPEC_PARAMETER_COUNTS, ids=lambda s: "F{}-Le{}-Lh{}".format(*s))
def test_parameter_count_matches_spec(sizes, symmetric):
    width, l_edge, l_hidden = sizes
    config = spec_config(
        n_hidden_feats=width,
        n_product_feats=width,
        l_max_edge_attrs=l_edge,
        l_max_hidden_feats=l_hidden,
        symmetric_product=symmetric,
        dtype="float32",
    )
    expected = SPEC_PARAMETER_COUNTS[sizes][0 if symmetric else 1]
    assert sum(p.numel() for p in ICTPModel(config).parameters()) == expected


def test_defaults_follow_spec_table():
    """Spec §2.10 defaults (the cutoff default is the package's choice: the 3BPA value)."""
    c = ModelConfig(atomic_numbers=(1, 6))
    assert (c.n_basis, c.n_polynomial_cutoff, c.radial_mlp, c.readout_mlp) == (8, 5, (64, 64, 64), (16,))
    assert (c.n_hidden_feats, c.n_product_feats, c.n_interactions, c.correlation) == (16, 16, 2, 3)
    assert (c.l_max_hidden_feats, c.l_max_edge_attrs) == (1, 3)
    assert (c.symmetric_product, c.coupled_product_feats, c.compute_regression_shift) == (True, False, True)
    assert c.atomic_energies is None


def test_config_is_frozen():
    config = spec_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.cutoff = 6.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.atomic_numbers = (1,)
    assert isinstance(config.atomic_numbers, tuple) and isinstance(config.radial_mlp, tuple)
    assert hash(config) == hash(spec_config())


def test_sequences_are_normalized_to_tuples():
    config = spec_config(atomic_numbers=[1, 8], radial_mlp=[32, 32], atomic_energies=[-13, -2041])
    assert config.atomic_numbers == (1, 8) and config.radial_mlp == (32, 32)
    assert config.atomic_energies == (-13.0, -2041.0) and all(isinstance(v, float) for v in config.atomic_energies)
    assert config == spec_config(atomic_numbers=(1, 8), radial_mlp=(32, 32), atomic_energies=(-13.0, -2041.0))


BAD_VALUES = {
    "no elements": dict(atomic_numbers=()),
    "duplicate element": dict(atomic_numbers=(1, 6, 1)),
    "element 0": dict(atomic_numbers=(0, 1)),
    "element 119": dict(atomic_numbers=(1, 119)),
    "zero cutoff": dict(cutoff=0.0),
    "negative cutoff": dict(cutoff=-5.0),
    "nan cutoff": dict(cutoff=float("nan")),
    "no basis": dict(n_basis=0),
    "zero envelope exponent": dict(n_polynomial_cutoff=0),
    "no hidden channels": dict(n_hidden_feats=0),
    "no product channels": dict(n_product_feats=0),
    "no layers": dict(n_interactions=0),
    "negative hidden rank": dict(l_max_hidden_feats=-1),
    "negative edge rank": dict(l_max_edge_attrs=-1),
    "hidden rank above edge rank": dict(l_max_hidden_feats=3, l_max_edge_attrs=2),
    "zero correlation": dict(correlation=0),
    "zero avg neighbors": dict(avg_n_neighbors=0.0),
    "negative avg neighbors": dict(avg_n_neighbors=-2.0),
    "unknown dtype": dict(dtype="float16"),
    "torch dtype object": dict(dtype=torch.float64),
    "too few atomic energies": dict(atomic_energies=(-1.0, -2.0)),
    "zero-width radial layer": dict(radial_mlp=(64, 0)),
    "negative-width radial layer": dict(radial_mlp=(-3,)),
    "zero-width readout layer": dict(readout_mlp=(0,)),
}


@pytest.mark.parametrize("changes", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_invalid_values_raise_value_error(changes):
    with pytest.raises(ValueError, match="ModelConfig"):
        spec_config(**changes)


def test_replace_validates_too():
    with pytest.raises(ValueError):
        spec_config().replace(cutoff=-1.0)
    assert spec_config().replace(cutoff=6.0).cutoff == 6.0


def test_from_dict_rejects_unknown_keys():
    data = spec_config().to_dict()
    data["r_max"] = 5.0
    with pytest.raises(ValueError, match="r_max"):
        ModelConfig.from_dict(data)


def _is_primitive(value):
    if isinstance(value, (list, tuple)):
        return isinstance(value, list) and all(_is_primitive(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


@pytest.mark.parametrize("energies", [None, (-13.58, -1029.49, -1484.98, -2041.98)], ids=["no-E0", "E0"])
def test_dict_round_trip(energies):
    config = spec_config(
        cutoff=4.5,
        radial_mlp=(8, 16),
        readout_mlp=(),
        l_max_hidden_feats=2,
        symmetric_product=False,
        coupled_product_feats=True,
        avg_n_neighbors=11.25,
        atomic_energies=energies,
        compute_regression_shift=False,
        dtype="float32",
    )
    data = config.to_dict()
    assert set(data) == {f.name for f in dataclasses.fields(ModelConfig)}
    assert all(_is_primitive(v) for v in data.values())
    assert ModelConfig.from_dict(data) == config
    assert ModelConfig.from_dict(json.loads(json.dumps(data))) == config
    assert config.torch_dtype == torch.float32 and config.n_species == 4
