"""Data: neighbor lists, Atoms -> graph conversion, batching and dataset statistics."""

from .graph import UnknownElementError, atoms_to_graph, batch_graphs, species_indices
from .neighbors import neighbor_list
from .statistics import DatasetStatistics, compute_statistics

__all__ = [
    "DatasetStatistics",
    "UnknownElementError",
    "atoms_to_graph",
    "batch_graphs",
    "compute_statistics",
    "neighbor_list",
    "species_indices",
]
