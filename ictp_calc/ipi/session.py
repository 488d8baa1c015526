"""``serve_structure``: read a structure, load a model, and serve i-PI (the library of ``ictp-md serve``)."""

from __future__ import annotations

from typing import Optional

from ..md.inputs import attach_calculator, make_calculator, read_structure
from .client import ServeResult, serve

__all__ = ["serve_structure"]


def serve_structure(
    structure: str, *, model: Optional[str] = None, device: str = "auto", dtype: Optional[str] = None,
    skin: float = 0.5, unix: Optional[str] = None, host: Optional[str] = None, port: Optional[int] = None,
    connect_timeout_s: float = 60.0, compile: bool = False,
) -> ServeResult:
    """Serve i-PI's force requests for ``structure`` with an ICTP model until i-PI sends EXIT.

    The model is loaded and evaluated once on the structure before connecting, so that a wrong model,
    an unknown element or a broken file fail at once (exit code 5), not after i-PI has started.

    Args:
        structure: file ASE reads (last frame): elements, their order and ``pbc`` (keep molecules
            ``pbc=False``; i-PI's cell is then ignored).
        model: model file (None: the shipped 3BPA model).
        device, dtype, skin: as :class:`~ictp_calc.calculator.ICTPCalculator` (skin in Å).
        unix: i-PI's UNIX socket name (its ``<address>``); or else
        host, port: its TCP address.
        connect_timeout_s: keep retrying the connection this long, s.
        compile: evaluate through the compiled path (``ICTPCalculator(compile=True)``); it compiles on
            the structure before connecting, and once more for the first batched request.

    Returns:
        The :class:`~ictp_calc.ipi.client.ServeResult` (calls, per-call times).

    Raises:
        InputError: unreadable structure or model, unknown element, compiling failed (exit code 5).
        IPIConnectionError, StructureMismatch, UnphysicalStructure: see :func:`~ictp_calc.ipi.client.serve`.
    """
    atoms = read_structure(structure)
    attach_calculator(atoms, make_calculator(model, device=device, dtype=dtype, skin=skin, compile=compile))
    return serve(atoms, unix=unix, host=host, port=port, connect_timeout_s=connect_timeout_s)
