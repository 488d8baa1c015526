"""The direct per-edge convolution: slow and obviously correct, the reference of the fused one."""

import torch

from ictp_calc.tensors import rank_slice


def reference_convolution(h, radial, edge_attrs, paths, tables, edge_index) -> torch.Tensor:
    """``A_p[i, c, u]`` of :mod:`ictp_calc.nn.convolution`, one einsum and scatter per path: ``[N, Q, F]``."""
    receiver, sender = edge_index[0], edge_index[1]
    blocks = []
    for p, ((l1, l2, _), table) in enumerate(zip(paths, tables)):
        hj = h.index_select(0, sender)[:, rank_slice(l1), :]  # [E, d1, F]
        msg = torch.einsum("eau,eb,abc,eu->ecu", hj, edge_attrs[:, rank_slice(l2)], table, radial[:, p])
        blocks.append(torch.zeros(h.shape[0], *msg.shape[1:], dtype=h.dtype).index_add(0, receiver, msg))
    return torch.cat(blocks, dim=1)
