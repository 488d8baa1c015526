"""An i-PI force client serving any ASE calculator (an :class:`~ictp_calc.calculator.ICTPCalculator`).

i-PI runs the dynamics (integrators, thermostats, replica exchange, path-integral beads) and sends
positions; the client evaluates them and sends back energy, forces and virial. :func:`serve` runs
that loop until i-PI sends EXIT.

Policies:

* **The structure is the template.** i-PI sends positions and a cell, never elements: the elements,
  their order and ``pbc`` come from the client's structure. An atom count that differs is a
  :class:`~ictp_calc.ipi.errors.StructureMismatch`.
* **Molecules ignore the cell.** i-PI needs a box even for a molecule; when ``pbc`` is all False the
  cell it sends is ignored and the virial returned is zero. Otherwise the cell is used and the virial
  is ``-V * stress`` (periodic in all three directions; zero for slabs and wires).
* **Units.** Positions and cells arrive in bohr, energies and forces go back in hartree and
  hartree/bohr, with ASE's constants (i-PI's differ by about 1e-7 relative).
* **Timing.** Each evaluation is timed; :class:`ServeResult` summarizes the calls and the time spent
  waiting for i-PI (its integrator plus the socket).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np
from ase import Atoms, units

from ..data.checks import StructureError
from .batched import can_batch, evaluate_batch
from .errors import ProtocolError, StructureMismatch, UnphysicalStructure
from .protocol import Messenger, connect

__all__ = ["ServeResult", "serve", "evaluate"]

logger = logging.getLogger(__name__)


@dataclass
class ServeResult:
    """What a client did between connecting and i-PI's EXIT.

    Attributes:
        n_calls: requests served (each of ``batch_size`` structures).
        bead_index: the bead/replica index of i-PI's last INIT (None if it never sent one).
        batch_size: structures per request (i-PI's ``<batch_size>``, announced in INIT; 1 by default).
        wall_s: seconds from the connection to EXIT.
        call_s: seconds of each evaluation (setting positions, model, unit conversion).
    """

    n_calls: int = 0
    bead_index: Optional[int] = None
    batch_size: int = 1
    wall_s: float = 0.0
    call_s: List[float] = field(default_factory=list)

    @property
    def wait_s(self) -> float:
        """Seconds not spent evaluating: i-PI's own work, the socket, other clients' turns."""
        return max(0.0, self.wall_s - sum(self.call_s))

    def summary(self) -> str:
        """One log line: calls, median and mean time per call, and the time waiting for i-PI."""
        if not self.call_s:
            return f"i-PI client: 0 calls in {self.wall_s:.1f} s"
        batch = f" of {self.batch_size} structures" if self.batch_size > 1 else ""
        times = np.asarray(self.call_s) * 1e3
        return (
            f"i-PI client: {self.n_calls} calls{batch} in {self.wall_s:.1f} s; "
            f"per call median {np.median(times):.2f} ms, "
            f"mean {times.mean():.2f} ms, max {times.max():.2f} ms; waiting for i-PI "
            f"{self.wait_s:.1f} s ({1e3 * self.wait_s / self.n_calls:.2f} ms per call)"
        )


def _batch_size(init: bytes) -> int:
    """The ``batch_size:N`` token i-PI adds to the INIT string for batched requests (1 without it)."""
    for token in init.decode("utf-8", errors="replace").split(","):
        key, sep, value = token.partition(":")
        if sep and key.strip() == "batch_size":
            try:
                return max(1, int(value.strip()))
            except ValueError as err:
                raise ProtocolError(f"i-PI sent an invalid batch size {value!r}") from err
    return 1


def evaluate(atoms: Atoms, cell_bohr: np.ndarray, positions_bohr: np.ndarray):
    """Set i-PI's positions (and cell, if periodic) on ``atoms`` and evaluate its calculator.

    Args:
        atoms: the template with a calculator attached; changed in place.
        cell_bohr: [3, 3] cell vectors as rows, bohr (ignored when ``atoms.pbc`` is all False).
        positions_bohr: [n_atoms, 3] positions, bohr.

    Returns:
        ``(energy, forces, virial)`` in hartree, hartree/bohr ([n_atoms, 3]) and hartree ([3, 3]).

    Raises:
        UnphysicalStructure: the calculator rejected the structure (atoms too close, non-finite
            positions or outputs, degenerate cell).
    """
    atoms.positions = positions_bohr * units.Bohr
    if atoms.pbc.any():
        atoms.cell = cell_bohr * units.Bohr
    try:
        energy = atoms.get_potential_energy()
        forces = atoms.get_forces()
        virial = np.zeros((3, 3))
        if atoms.pbc.all():
            virial = -atoms.get_volume() * atoms.get_stress(voigt=False)
    except (StructureError, ValueError) as err:
        raise UnphysicalStructure(f"cannot evaluate the positions sent by i-PI: {err}") from err
    return energy / units.Hartree, forces * (units.Bohr / units.Hartree), virial / units.Hartree


def serve(
    atoms: Atoms, *, unix: Optional[str] = None, host: Optional[str] = None, port: Optional[int] = None,
    connect_timeout_s: float = 60.0,
) -> ServeResult:
    """Connect to i-PI and answer its force requests with ``atoms.calc`` until it sends EXIT.

    Args:
        atoms: the structure i-PI simulates (elements, order, ``pbc``), with a calculator attached.
            Its positions (and cell, if periodic) are overwritten with i-PI's.
        unix: UNIX socket name as in i-PI's ``<address>`` (or a path containing ``/``); or else
        host, port: i-PI's TCP address (``TCP_NODELAY`` is set).
        connect_timeout_s: keep retrying the connection this long, s.

    Returns:
        The :class:`ServeResult` (also logged at INFO level on ``ictp_calc.ipi.client``).

    Raises:
        ServerNotFound: no server within ``connect_timeout_s``.
        ConnectionLost, ProtocolError: the connection ended or broke before EXIT.
        StructureMismatch: i-PI sent another number of atoms than ``atoms`` has.
        UnphysicalStructure: the calculator rejected i-PI's positions.
    """
    if atoms.calc is None:
        raise ValueError("attach a calculator to the atoms first")
    messenger = Messenger(connect(unix=unix, host=host, port=port, deadline_s=connect_timeout_s))
    result, start = ServeResult(), time.perf_counter()
    state, pending = "NEEDINIT", None
    try:
        while True:
            header = messenger.recv_header()
            if header == "STATUS":
                messenger.send_header(state)
            elif header == "INIT":
                result.bead_index, text = messenger.recv_init()
                result.batch_size = _batch_size(text)
                state = "READY" if pending is None else "HAVEDATA"
            elif header == "POSDATA":
                if result.batch_size > 1:
                    cell, n_atoms, positions = messenger.recv_posdata_batch(result.batch_size, len(atoms))
                else:
                    cell, n_atoms, positions = messenger.recv_posdata(max_atoms=len(atoms))
                if positions is None or n_atoms != len(atoms):
                    raise StructureMismatch(
                        f"i-PI sent {n_atoms} atoms but the client's structure has {len(atoms)} "
                        f"({atoms.get_chemical_formula()}); start the client with the structure i-PI simulates"
                    )
                tick = time.perf_counter()
                if result.batch_size > 1 and can_batch(atoms.calc):
                    pending = evaluate_batch(atoms, cell, positions)
                elif result.batch_size > 1:
                    pending = [evaluate(atoms, c, p) for c, p in zip(cell, positions)]
                else:
                    pending = evaluate(atoms, cell, positions)
                result.call_s.append(time.perf_counter() - tick)
                result.n_calls += 1
                state = "HAVEDATA"
            elif header == "GETFORCE":
                if pending is None:
                    raise ProtocolError("i-PI asked for forces before it sent positions")
                if result.batch_size > 1:
                    messenger.send_forces_batch(pending)
                else:
                    messenger.send_forces(*pending)
                pending, state = None, "READY"
            elif header == "EXIT":
                break
            else:
                raise ProtocolError(f"i-PI sent an unknown message {header!r}")
    finally:
        messenger.close()
        result.wall_s = time.perf_counter() - start
    logger.info(result.summary())
    return result
