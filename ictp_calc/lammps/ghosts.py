"""LAMMPS pair data -> the part of the graph that the owned atoms' energy depends on, with checks.

LAMMPS's ML-IAP data lists directed pairs ``(pair_i, pair_j)`` with ``rij = x_j - x_i`` (Å) for the
atoms of one MPI rank: ``nlocal`` owned atoms first, then ghost atoms (copies of atoms of other ranks
or periodic images), ``ntotal`` in all. With ``T`` message-passing layers the energy of an owned atom
depends on the atoms up to ``T`` neighbor hops away. This module finds the *hop depth* of each atom
(0 for owned atoms, 1 for their neighbors, ...), keeps the atoms of depth ``<= T`` and the pairs
whose receiver has depth ``<= T - 1`` (the others cannot change the owned energy), and checks that
LAMMPS handed over a ghost shell deep enough:

* ghost atoms must have neighbor lists of their own (``pair_style mliap unified FILE 1``), checked
  exactly at every call;
* the ghost shell must reach ``T`` cutoffs beyond the owned atoms (``comm_modify cutoff``), checked
  on the positions rebuilt from the pair vectors (see :func:`ghost_shell_depth`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

__all__ = ["GhostSettingsError", "PairGraph", "prune_pairs", "check_ghost_neighbors", "ghost_shell_depth"]


class GhostSettingsError(RuntimeError):
    """LAMMPS's ghost atoms do not cover the model's receptive field (settings of the input script)."""


@dataclass
class PairGraph:
    """The pairs that matter for the owned atoms' energy, renumbered.

    Attributes:
        atoms: ``[n]`` LAMMPS indices of the kept atoms, owned atoms first (``atoms[:nlocal]`` is
            ``0..nlocal-1``), then by hop depth.
        pairs: ``[m]`` indices into LAMMPS's pair arrays of the kept pairs (all within the cutoff
            when :func:`prune_pairs` was given one).
        receiver: ``[m]`` new index of each kept pair's ``pair_i``.
        sender: ``[m]`` new index of each kept pair's ``pair_j``.
        depth: ``[n]`` hop depth of each kept atom.
    """

    atoms: np.ndarray
    pairs: np.ndarray
    receiver: np.ndarray
    sender: np.ndarray
    depth: np.ndarray


def hop_depth(nlocal: int, ntotal: int, pair_i: np.ndarray, pair_j: np.ndarray, max_depth: int) -> np.ndarray:
    """Hop depth ``[ntotal]`` of every atom from the owned ones (``max_depth + 1`` beyond ``max_depth``)."""
    depth = np.full(ntotal, max_depth + 1, dtype=np.int64)
    depth[:nlocal] = 0
    for d in range(max_depth):
        senders = pair_j[depth[pair_i] == d]
        reached = senders[depth[senders] > d + 1]
        depth[reached] = d + 1
    return depth


def prune_pairs(
    nlocal: int,
    ntotal: int,
    pair_i: np.ndarray,
    pair_j: np.ndarray,
    n_layers: int,
    rij: Optional[np.ndarray] = None,
    cutoff: Optional[float] = None,
) -> PairGraph:
    """Atoms of depth ``<= n_layers`` and pairs with a receiver of depth ``< n_layers``, renumbered.

    With ``rij`` and ``cutoff``, pairs at or beyond the cutoff are dropped first. LAMMPS lists the
    pairs within cutoff + neighbor skin; those beyond the cutoff contribute exactly nothing, and hops
    over them would widen each layer's shell of ghost atoms by the skin.
    """
    pair_i = np.asarray(pair_i, dtype=np.int64)
    pair_j = np.asarray(pair_j, dtype=np.int64)
    candidates = np.arange(pair_i.shape[0])
    if rij is not None and cutoff is not None:
        rij = np.asarray(rij, dtype=np.float64)
        candidates = np.nonzero(np.einsum("pa,pa->p", rij, rij) < cutoff * cutoff)[0]
        pair_i, pair_j = pair_i[candidates], pair_j[candidates]
    depth = hop_depth(nlocal, ntotal, pair_i, pair_j, n_layers)
    # A stable sort by depth keeps owned atoms first and in LAMMPS order.
    atoms = np.argsort(depth, kind="stable")
    atoms = atoms[depth[atoms] <= n_layers]
    new_index = np.full(ntotal, -1, dtype=np.int64)
    new_index[atoms] = np.arange(atoms.shape[0])
    kept = np.nonzero(depth[pair_i] < n_layers)[0]
    return PairGraph(atoms, candidates[kept], new_index[pair_i[kept]], new_index[pair_j[kept]], depth[atoms])


def check_ghost_neighbors(graph: PairGraph, nlocal: int, n_layers: int) -> None:
    """Ghost atoms within reach of the owned ones must have neighbor lists of their own.

    Exact: with ghost neighbor lists on, a ghost neighbor of an owned atom always lists that atom
    back. Without them (``pair_style mliap unified FILE`` or ``... FILE 0``) no ghost lists anything.

    Raises:
        GhostSettingsError: naming the ``pair_style`` to use.
    """
    if n_layers < 2:
        return
    ghosts = np.nonzero((graph.depth >= 1) & (graph.depth < n_layers) & (graph.atoms >= nlocal))[0]
    if ghosts.size == 0:
        return
    has_list = np.zeros(graph.atoms.shape[0], dtype=bool)
    has_list[graph.receiver] = True
    if not has_list[ghosts].all():
        raise GhostSettingsError(
            f"ghost atoms have no neighbor lists, but this {n_layers}-layer ICTP model needs them: use "
            "'pair_style mliap unified FILE 1' (the trailing 1 turns on ghost neighbor lists), together "
            "with the comm_modify cutoff that 'ictp-md export-lammps' prints"
        )


def ghost_shell_depth(nlocal: int, ntotal: int, pair_i: np.ndarray, pair_j: np.ndarray, rij: np.ndarray) -> float:
    """How far (Å) the ghost atoms reach beyond the owned ones (0 without ghosts).

    Positions are rebuilt from the pair vectors (``x_j = x_i + rij``) along a breadth-first tree of
    each connected piece of the pair graph. In each of the six directions +-x, +-y, +-z the reach is
    the largest distance, over the pieces, by which a piece's atoms extend beyond its owned atoms;
    the depth is the smallest reach over the directions in which ghosts extend at all. LAMMPS hands
    over the ghosts within ``comm_modify cutoff`` of a rank's subdomain (a slab per direction), so in
    a dense system a cutoff shorter than ``n_layers * cutoff`` shows up as a shallower depth. A
    sparse system (a molecule in vacuum split over ranks) can end sooner by itself; see
    :class:`~ictp_calc.lammps.unified.ICTPUnified`'s ``check_ghost_shell``.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import breadth_first_order, connected_components

    n = int(ntotal)
    receiver, sender = np.asarray(pair_i, dtype=np.int64), np.asarray(pair_j, dtype=np.int64)
    if n == nlocal or receiver.size == 0:
        return 0.0
    vectors = np.asarray(rij, dtype=np.float64)
    # Pairs looked up by the key receiver * n + sender (a LAMMPS neighbor list has no duplicates).
    keys = receiver * n + sender
    by_key = np.argsort(keys)
    sorted_keys = keys[by_key]
    links = coo_matrix((np.ones(keys.size), (receiver, sender)), shape=(n, n)).tocsr()
    n_pieces, piece = connected_components(links, directed=False)
    positions = np.zeros((n, 3))
    reach = np.zeros(6)
    for p in range(n_pieces):
        members = np.nonzero(piece == p)[0]
        owned = members[members < nlocal]
        if owned.size == 0 or owned.size == members.size:
            continue
        order, parent = breadth_first_order(links, owned[0], directed=False, return_predecessors=True)
        child, up = order[1:], parent[order[1:]]
        # The tree edge up -> child is listed as (up, child), or else as (child, up) with -rij.
        forward = np.minimum(np.searchsorted(sorted_keys, up * n + child), keys.size - 1)
        has_forward = sorted_keys[forward] == up * n + child
        backward = np.minimum(np.searchsorted(sorted_keys, child * n + up), keys.size - 1)
        step = np.where(has_forward[:, None], vectors[by_key[forward]], -vectors[by_key[backward]])
        for node, parent_node, delta in zip(child.tolist(), up.tolist(), step):
            positions[node] = positions[parent_node] + delta
        ahead = positions[members].max(axis=0) - positions[owned].max(axis=0)
        behind = positions[owned].min(axis=0) - positions[members].min(axis=0)
        reach = np.maximum(reach, np.concatenate([ahead, behind]))
    present = reach[reach > 1e-9]
    return float(present.min()) if present.size else 0.0
