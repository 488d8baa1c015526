"""ictp_calc: ICTP machine-learned interatomic potentials built on irreducible Cartesian tensors.

Layers, from the bottom: :mod:`~ictp_calc.tensors` (pure tensor math), :mod:`~ictp_calc.nn`
(layers), :mod:`~ictp_calc.model` (config, model, derivatives), :mod:`~ictp_calc.data`
(neighbor lists, graphs, statistics) and :mod:`~ictp_calc.io` (model files).
"""

__version__ = "0.1.0"
