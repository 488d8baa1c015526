"""Keys of the graph dictionary that flows through the package, with shapes and units.

A *graph* is a plain ``dict[str, torch.Tensor]`` holding one or several structures (a batch).
Every key is declared here once; the comment gives ``[shape] | meaning, unit``.
Edges are directed, ``i <- j``: ``edge_index[0]`` is the receiver ``i`` (the central atom),
``edge_index[1]`` the sender ``j`` (its neighbor), as matscipy's ``ijS`` lists them. The edge
vector is ``r_ij = x_i - x_j - S_ij @ cell`` and points from the neighbor to the center.
Cell vectors are rows (ASE convention).
"""

POSITIONS = "positions"  # [n_atoms, 3] | Cartesian positions, Å
SPECIES = "species"  # [n_atoms] int64 | species index 0..n_species-1 (model's element order)
EDGE_INDEX = "edge_index"  # [2, n_edges] int64 | (receiver i, sender j)
CELL_SHIFTS = "cell_shifts"  # [n_edges, 3] float | integer image offsets S_ij (in cell vectors)
CELL = "cell"  # [n_graphs, 3, 3] | cell vectors as rows, Å (zeros for molecules)
PBC = "pbc"  # [n_graphs, 3] bool | periodic directions
BATCH = "batch"  # [n_atoms] int64 | graph index of each atom
N_ATOMS = "n_atoms"  # [n_graphs] int64 | atoms per graph
LAYER_SIZES = "layer_sizes"  # [n_layers] int64, optional | layer t updates only atoms 0..layer_sizes[t]-1

# Optional. With these keys the model runs without host reads and with fixed shapes (torch.compile):
# atoms sorted by in-degree fill buckets b of c_b atoms with K_b slots each (K_b >= their
# in-degrees), S = sum_b c_b K_b slots in all; an edge and its reverse (j <- i, the opposite vector)
# form a pair, whose radial features are computed once.
# Padded slot layout (ictp_calc.inference.padding)
EDGE_SLOT = "edge_slot"  # [n_edges] int64 | slot of each edge; S: padding edge (ignored)
SLOT_NODES = "slot_nodes"  # [n_atoms] int64 | atoms in slot order (bucket by bucket)
SLOT_SENDER = "slot_sender"  # [c_b, K_b] int64, bucket b: key slot_sender(b) | sender of each slot; n_atoms if empty
PAIR_EDGE = "pair_edge"  # [n_pairs] int64 | an edge of each pair (the length of its vector is the pair's)
SLOT_PAIR = "slot_pair"  # [S] int64 | pair of each slot's edge; n_pairs: empty slot


def slot_sender(bucket: int) -> str:
    """Key of bucket ``bucket``'s sender table (see :data:`SLOT_SENDER`)."""
    return f"{SLOT_SENDER}_{bucket}"


# Outputs
NODE_ENERGY = "energies"  # [n_atoms] | per-atom energy, eV
ENERGY = "energy"  # [n_graphs] | total energy, eV
FORCES = "forces"  # [n_atoms, 3] | -dE/dx, eV/Å
VIRIAL = "virial"  # [n_graphs, 3, 3] | -dE/d(strain), eV
STRESS = "stress"  # [n_graphs, 3, 3] | (1/V) dE/d(strain), eV/Å^3 (ASE sign)

# Reference labels of training and evaluation data (NaN where a structure has no such label)
REF_ENERGY = "ref_energy"  # [n_graphs] float64 | reference total energy, eV
REF_FORCES = "ref_forces"  # [n_atoms, 3] | reference forces, eV/Å
REF_STRESS = "ref_stress"  # [n_graphs, 3, 3] | reference stress, eV/Å^3 (ASE sign)
