"""ictp_calc: ICTP machine-learned interatomic potentials built on irreducible Cartesian tensors.

Layers, from the bottom: :mod:`~ictp_calc.tensors` (pure tensor math), :mod:`~ictp_calc.nn`
(layers), :mod:`~ictp_calc.model` (config, model, derivatives), :mod:`~ictp_calc.data`
(neighbor lists, graphs, statistics) and :mod:`~ictp_calc.io` (model files).

``from ictp_calc import ICTPCalculator`` gives the ASE calculator; it is imported on first use, so
that ``import ictp_calc`` stays light (no torch).
"""

__version__ = "0.1.0"
__all__ = ["ICTPCalculator", "__version__"]


def __getattr__(name: str):
    if name == "ICTPCalculator":
        from .calculator import ICTPCalculator

        return ICTPCalculator
    raise AttributeError(f"module 'ictp_calc' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + ["ICTPCalculator"])
