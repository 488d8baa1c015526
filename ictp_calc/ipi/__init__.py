"""i-PI force clients: ICTP models as the force engine of i-PI (``ictp-md serve``).

i-PI runs the dynamics, replica exchange and path integrals; a client here connects to its socket
and evaluates the positions it sends. :func:`serve_structure` is the library behind ``ictp-md serve``;
:func:`~ictp_calc.ipi.client.serve` serves any ASE calculator; :mod:`ictp_calc.ipi.protocol` is the
socket protocol. Failures are typed (:mod:`ictp_calc.ipi.errors`), each with its exit code.
"""

from .client import ServeResult, evaluate, serve
from .errors import (
    ConnectionLost,
    IPIConnectionError,
    ProtocolError,
    ServerNotFound,
    StructureMismatch,
    UnphysicalStructure,
)
from .protocol import connect, unix_socket_path
from .session import serve_structure

__all__ = [
    "ConnectionLost",
    "IPIConnectionError",
    "ProtocolError",
    "ServeResult",
    "ServerNotFound",
    "StructureMismatch",
    "UnphysicalStructure",
    "connect",
    "evaluate",
    "serve",
    "serve_structure",
    "unix_socket_path",
]
