"""Neural-network layers of the ICTP model, built on :mod:`ictp_calc.tensors`."""

from .interaction import Interaction
from .linear import Linear, RankLinear, SpeciesLinear
from .product import ProductBasis
from .radial import BesselBasis, PolynomialEnvelope, RadialEmbedding, RadialMLP
from .readout import LinearReadout, MLPReadout

__all__ = [
    "BesselBasis",
    "Interaction",
    "Linear",
    "LinearReadout",
    "MLPReadout",
    "PolynomialEnvelope",
    "ProductBasis",
    "RadialEmbedding",
    "RadialMLP",
    "RankLinear",
    "SpeciesLinear",
]
