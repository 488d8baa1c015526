"""Typed failures of an i-PI force client, each with the exit code of ``ictp-md serve``.

====  =====================================================================================
code  meaning
====  =====================================================================================
0     i-PI ended the run (it sent EXIT)
3     :class:`UnphysicalStructure`: i-PI sent positions the model cannot evaluate (atoms too
      close, non-finite positions or energies): the simulation went bad
5     :class:`StructureMismatch` (an :class:`~ictp_calc.md.errors.InputError`): the atom count
      sent by i-PI differs from the structure; or any other input or model error
6     :class:`IPIConnectionError`: no server within the connect deadline, or the connection was
      lost or broke the protocol before i-PI sent EXIT
====  =====================================================================================
"""

from __future__ import annotations

from ..md.errors import InputError, MDError

__all__ = [
    "IPIConnectionError",
    "ServerNotFound",
    "ConnectionLost",
    "ProtocolError",
    "StructureMismatch",
    "UnphysicalStructure",
]


class IPIConnectionError(MDError, ConnectionError):
    """The client could not talk to i-PI (exit code 6)."""

    exit_code = 6


class ServerNotFound(IPIConnectionError):
    """No i-PI server accepted the connection before the connect deadline."""


class ConnectionLost(IPIConnectionError):
    """i-PI closed the connection (or died) before it sent EXIT."""


class ProtocolError(IPIConnectionError):
    """i-PI sent a message this client does not understand, or a malformed one."""


class StructureMismatch(InputError):
    """The positions i-PI sent do not fit the client's structure (atom count); exit code 5.

    i-PI's socket protocol carries positions and the cell only, never elements: the elements, their
    order and ``pbc`` come from the client's structure, which must be the file i-PI was started with.
    """


class UnphysicalStructure(MDError):
    """The model cannot evaluate the positions i-PI sent (exit code 3, as a health-monitor stop)."""

    exit_code = 3
