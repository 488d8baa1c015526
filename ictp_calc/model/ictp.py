"""The ICTP energy model (spec §2): graph -> per-atom and total energies."""

from __future__ import annotations

import math
from typing import Dict, Optional

import torch
from torch import nn

from .. import keys
from ..nn.convolution import EdgeLayout, edge_layout, padded_layout
from ..nn import Interaction, LinearReadout, MLPReadout, ProductBasis, RadialEmbedding, RankLinear, SpeciesLinear
from ..tensors import harmonic_matrix, harmonics
from .config import ModelConfig

__all__ = ["ICTPModel", "Layer"]


class Layer(nn.Module):
    """One message-passing layer: interaction, product basis, output map and skip connection.

    ``h [N, (l_in+1)^2, F] -> [N, (l_out+1)^2, F]``.
    """

    def __init__(self, config: ModelConfig, l_in: int, l_out: int):
        super().__init__()
        c = config
        F, P, S = c.n_hidden_feats, c.n_product_feats, c.n_species
        self.l_in, self.l_out = l_in, l_out
        self.interaction = Interaction(F, P, l_in, c.l_max_edge_attrs, c.n_basis, c.radial_mlp, c.avg_n_neighbors)
        self.product = ProductBasis(
            P, S, c.l_max_edge_attrs, l_out, c.correlation, c.symmetric_product, c.coupled_product_feats
        )
        self.linear_out = RankLinear(P, F, l_out)
        self.skip = SpeciesLinear(F, F, S, min(l_in, l_out))

    def forward(self, h, species, edge_attrs, edge_feats, layout: EdgeLayout) -> torch.Tensor:
        """Updates the layout's receivers, the first ``layout.n_nodes`` atoms (all of ``h`` send)."""
        a = self.interaction(h, edge_attrs, edge_feats, layout)  # [n_receivers, ...]
        h, species = h[: a.shape[0]], species[: a.shape[0]]  # views; species may cover more atoms
        out = self.linear_out(self.product(a, species))
        skip = self.skip(h, species)
        if skip.shape[1] == out.shape[1]:
            return out + skip
        # Ranks above min(l_in, l_out) have no skip connection (spec §2.4).
        low, high = out.split([skip.shape[1], out.shape[1] - skip.shape[1]], dim=1)
        return torch.cat([low + skip, high], dim=1)


class ICTPModel(nn.Module):
    """ICTP energy model. Parameters and arithmetic use ``config.dtype``; nothing global changes.

    Forward takes a graph dict (see :mod:`ictp_calc.keys`) and returns ``{energies [N], energy [G]}``,
    both float64 whatever the model's dtype (forces follow the dtype of the positions). With the
    optional ``layer_sizes``, layer ``t`` updates only the first ``layer_sizes[t]`` atoms (the
    LAMMPS coupling orders atoms by their distance in hops from the ones whose energy it needs); the
    other atoms' energies are then partial.
    Build one with :func:`ictp_calc.model.build_model`, which also sets the energy shift and scale.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        c = self.config = config
        F, S = c.n_hidden_feats, c.n_species
        self.embedding_weight = nn.Parameter(torch.empty(F, S))
        self.radial_embedding = RadialEmbedding(c.cutoff, c.n_basis, c.n_polynomial_cutoff)
        # A constant (not saved in model files): kept here so that a compiled graph need not build it.
        self.register_buffer("harmonic_matrix", harmonic_matrix(c.l_max_edge_attrs), persistent=False)
        self.layers = nn.ModuleList()
        self.readouts = nn.ModuleList()
        l_in = 0
        for t in range(c.n_interactions):
            last = t == c.n_interactions - 1
            l_out = 0 if last else c.l_max_hidden_feats
            self.layers.append(Layer(c, l_in, l_out))
            self.readouts.append(MLPReadout(F, c.readout_mlp) if last else LinearReadout(F))
            l_in = l_out
        # Per-atom energy e_i = scale * sum_t E_i^(t) + shift[z_i] (spec §2.7).
        self.register_buffer("energy_scale", torch.ones((), dtype=torch.float64))
        self.register_buffer("energy_shift", torch.zeros(S, dtype=torch.float64))
        self.to(config.torch_dtype)

    def _apply(self, fn, recurse=True):
        # ``.to(dtype)``, ``.float()`` etc. cast parameters; the energy reference stays float64.
        super()._apply(fn, recurse)
        for name in ("energy_scale", "energy_shift"):
            self._buffers[name] = self._buffers[name].to(torch.float64)
        return self

    @property
    def dtype(self) -> torch.dtype:
        return self.embedding_weight.dtype

    def reset_parameters(self, generator: Optional[torch.Generator] = None) -> None:
        """Draw every weight from N(0, 1) times its initial scale (spec §2.9), reproducibly.

        Values are drawn in float64 on the CPU, so a seed gives the same model in any dtype or device.
        """
        scales = self.initial_scales()
        with torch.no_grad():
            for name, param in self.named_parameters():
                values = torch.randn(param.shape, generator=generator, dtype=torch.float64)
                param.copy_(values * scales.get(name, 1.0))

    def initial_scales(self) -> Dict[str, float]:
        """Initial std of every parameter that is not N(0, 1), by full parameter name.

        Modules declare ``init_scales`` relative to themselves (names as in their own
        ``named_parameters()``, children included).
        """
        out: Dict[str, float] = {}
        for prefix, module in self.named_modules():
            for name, scale in getattr(module, "init_scales", {}).items():
                out[f"{prefix}.{name}" if prefix else name] = scale
        return out

    def embed(self, species: torch.Tensor) -> torch.Tensor:
        """Initial scalar features ``W_emb onehot(z) / sqrt(S)``; ``[N] -> [N, 1, F]``."""
        onehot = torch.nn.functional.one_hot(species, self.config.n_species).to(self.dtype)
        return (onehot @ self.embedding_weight.T / math.sqrt(self.config.n_species)).unsqueeze(1)

    def isolated_atom_output(self) -> torch.Tensor:
        """Summed readouts ``[S]`` of an atom without neighbors, per species (before scale and shift).

        Without neighbors A = 0, so the product basis vanishes and only the scalar skip
        connections carry the embedding through the layers.
        """
        species = torch.arange(self.config.n_species, device=self.embedding_weight.device)
        h = self.embed(species)
        total = torch.zeros(species.shape[0], dtype=self.dtype, device=species.device)
        for layer, readout in zip(self.layers, self.readouts):
            h = layer.skip(h[:, :1], species)[:, :1]  # scalars only feed the readout and next skip
            total = total + readout(h[:, 0])
        return total

    def edge_vectors(self, graph: Dict[str, torch.Tensor], edge_index: torch.Tensor, shifts: torch.Tensor):
        """``r_ij = x_i - x_j - S_ij @ cell`` for every edge; ``[E, 3]``, Å."""
        receiver, sender = edge_index[0], edge_index[1]
        positions, cell = graph[keys.POSITIONS], graph[keys.CELL]
        edge_cell = cell.index_select(0, graph[keys.BATCH].index_select(0, receiver))  # [E, 3, 3]
        shift_vectors = torch.bmm(shifts.unsqueeze(1), edge_cell).squeeze(1)
        return positions.index_select(0, receiver) - positions.index_select(0, sender) - shift_vectors

    def _edge_inputs(self, edge_index: torch.Tensor, vectors: torch.Tensor, n_nodes: int, n_receivers: int):
        """Harmonics, radial features and slot layout of the edges into the first ``n_receivers`` atoms."""
        c = self.config
        if n_receivers < n_nodes:
            keep = (edge_index[0] < n_receivers).nonzero().squeeze(-1)
            edge_index, vectors = edge_index.index_select(1, keep), vectors.index_select(0, keep)
        # Edge quantities live in the padded slot layout of the fused convolution; padding slots
        # get a vector longer than the cutoff, hence exactly zero radial features and messages.
        max_slots = max(256, (1 << 20) // c.n_hidden_feats)
        layout = edge_layout(edge_index, n_receivers, max_slots=max_slots, n_senders=n_nodes)
        vectors = layout.to_slots(vectors, self._padding_vector())  # [S, 3]
        return self._slot_features(vectors) + (layout,)

    def _padding_vector(self) -> torch.Tensor:
        """The vector of padding slots: longer than the cutoff, so its features vanish exactly."""
        c = self.config
        return torch.tensor([2.0 * c.cutoff, 0.0, 0.0], dtype=self.dtype, device=self.embedding_weight.device)

    def _slot_features(self, vectors: torch.Tensor, radial_vectors: Optional[torch.Tensor] = None):
        """Harmonics ``[S, (L_e+1)^2]`` of slot vectors ``[S, 3]`` and radial features ``[R, B]``.

        The radial features are those of ``radial_vectors [R, 3]`` (one per pair of opposite edges
        in padded graphs) if given, else of ``vectors``.
        """
        c = self.config
        lengths = vectors.norm(dim=-1, keepdim=True)  # [S, 1]
        edge_attrs = harmonics(vectors / lengths, c.l_max_edge_attrs, False, self.harmonic_matrix)
        if radial_vectors is not None:
            lengths = radial_vectors.norm(dim=-1, keepdim=True)
        edge_feats = self.radial_embedding(lengths)  # exactly 0 beyond the cutoff
        return edge_attrs, edge_feats

    def _padded_inputs(self, graph, vectors: torch.Tensor):
        """Harmonics, radial features (per pair) and layout of a padded graph (see :mod:`ictp_calc.keys`).

        Edges beyond the cutoff and padding edges are masked to the padding vector, not dropped:
        no data-dependent shapes and no host reads.
        """
        tables, b = [], 0
        while keys.slot_sender(b) in graph:
            tables.append(graph[keys.slot_sender(b)])
            b += 1
        slot, padding = graph[keys.EDGE_SLOT], self._padding_vector()
        layout = padded_layout(graph[keys.SLOT_NODES], tables, slot, radial_rows=graph[keys.SLOT_PAIR])
        n_slots = layout.n_slots
        inside = (vectors.detach().norm(dim=-1) < self.config.cutoff) & (slot < n_slots)
        vectors = torch.where(inside.unsqueeze(-1), vectors, padding)
        # Padding edges land in one extra slot, dropped afterwards.
        slots = padding.expand(n_slots + 1, 3).index_copy(0, slot, vectors)[:n_slots]
        # Pair p has the length of its edge pair_edge[p]; row n_pairs (empty slots) the padding vector's.
        pairs = torch.cat([vectors.index_select(0, graph[keys.PAIR_EDGE]), padding.unsqueeze(0)])
        return self._slot_features(slots, pairs) + (layout,)

    def forward(self, graph: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        c = self.config
        species = graph[keys.SPECIES]
        edge_index = graph[keys.EDGE_INDEX]
        vectors = self.edge_vectors(graph, edge_index, graph[keys.CELL_SHIFTS].to(self.dtype))
        n_nodes = species.shape[0]
        sizes = [n_nodes] * c.n_interactions
        edges, edges_for = None, None
        if keys.SLOT_NODES in graph:
            # Padded graphs (ictp_calc.inference): a bucketed layout without host reads.
            edges, edges_for = self._padded_inputs(graph, vectors), (n_nodes, n_nodes)
        else:
            # Edges at or beyond the cutoff contribute exactly nothing (the envelope vanishes there);
            # dropping them first makes a neighbor list with a skin cost no more than one without.
            inside = (vectors.detach().norm(dim=-1) < c.cutoff).nonzero().squeeze(-1)
            edge_index, vectors = edge_index.index_select(1, inside), vectors.index_select(0, inside)
            if keys.LAYER_SIZES in graph:
                sizes = [min(int(n), n_nodes) for n in graph[keys.LAYER_SIZES].tolist()]
        h = self.embed(species)  # [N, 1, F]
        node_energy = torch.zeros(n_nodes, dtype=self.dtype, device=species.device)
        for layer, readout, n_out in zip(self.layers, self.readouts, sizes):
            if edges_for != (h.shape[0], n_out):
                edges, edges_for = self._edge_inputs(edge_index, vectors, h.shape[0], n_out), (h.shape[0], n_out)
            h = layer(h, species, *edges)  # [n_out, ...]
            energy_t = readout(h[:, 0])
            if n_out < n_nodes:
                energy_t = torch.nn.functional.pad(energy_t, (0, n_nodes - n_out))
            node_energy = node_energy + energy_t
        if c.isolated_atom_reference:
            node_energy = node_energy - self.isolated_atom_output().index_select(0, species)
        # Scale, shift (about -1000 eV per heavy atom) and the sum over atoms are float64 in any
        # model dtype: in float32 they would round the total energy by meV.
        node_energy = self.energy_scale * node_energy.to(torch.float64) + self.energy_shift.index_select(0, species)
        n_graphs = graph[keys.CELL].shape[0]
        energy = torch.zeros(n_graphs, dtype=torch.float64, device=species.device)
        energy = energy.index_add(0, graph[keys.BATCH], node_energy)
        return {keys.NODE_ENERGY: node_energy, keys.ENERGY: energy}
