"""The client side of i-PI's socket protocol: connecting, and reading and writing its messages.

i-PI (the server) drives; the client answers. Every message starts with a 12-byte ASCII header,
space padded; numbers are native-endian int32 and float64, in atomic units (bohr, hartree):

============  ==========  ===================================================================
header        direction   payload
============  ==========  ===================================================================
``STATUS``    i-PI ->     none; the client answers ``NEEDINIT``, ``READY`` or ``HAVEDATA``
``INIT``      i-PI ->     int32 bead index, int32 length, that many bytes of an init string
``POSDATA``   i-PI ->     cell [3, 3] (f64, lattice vectors as columns), its inverse [3, 3],
                          int32 n_atoms, positions [n_atoms, 3] (f64, bohr)
``GETFORCE``  i-PI ->     none; the client answers ``FORCEREADY``, energy (f64, hartree),
                          int32 n_atoms, forces [n_atoms, 3] (hartree/bohr), virial [3, 3]
                          (hartree), int32 length and that many bytes of extra data
``EXIT``      i-PI ->     none; the run is over and the client leaves
============  ==========  ===================================================================

With ``<batch_size>`` N > 1 in i-PI's ``<ffsocket>``, the INIT string carries ``batch_size:N`` and
POSDATA/FORCEREADY carry N structures each (see :meth:`Messenger.recv_posdata_batch`).

This module knows sockets and bytes only; :mod:`ictp_calc.ipi.client` turns them into ASE units.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Optional, Tuple

import numpy as np

from .errors import ConnectionLost, ProtocolError, ServerNotFound

__all__ = ["HEADER_SIZE", "UNIX_PREFIX", "unix_socket_path", "connect", "Messenger"]

HEADER_SIZE = 12
UNIX_PREFIX = "ipi_"
"""i-PI names the UNIX socket of ``<address>NAME</address>`` ``ipi_NAME`` in the temporary folder."""

_RETRYABLE = (ConnectionRefusedError, FileNotFoundError, ConnectionResetError, socket.timeout)


def unix_socket_path(name: str) -> str:
    """Path of i-PI's UNIX socket for ``name``: ``name`` itself if it contains ``/``, else ``/tmp/ipi_NAME``.

    i-PI's default ``sockets_prefix`` is ``/tmp/ipi_``; :func:`tempfile.gettempdir` is not used because
    i-PI does not use it either.
    """
    if "/" in name:
        return name
    return os.path.join("/tmp", UNIX_PREFIX + name)


def connect(
    unix: Optional[str] = None, host: Optional[str] = None, port: Optional[int] = None,
    deadline_s: float = 60.0, retry_interval_s: float = 0.2,
) -> socket.socket:
    """Connect to an i-PI server, retrying until it listens or ``deadline_s`` has passed.

    Args:
        unix: UNIX socket name (see :func:`unix_socket_path`); or else
        host, port: a TCP address. TCP sockets get ``TCP_NODELAY``: i-PI's messages are small, and
            with Nagle's algorithm each one waits for a delayed ACK (about 40 ms per step).
        deadline_s: give up after this many seconds (a server that is not listening yet refuses
            connections; i-PI starts listening a few seconds after it starts).
        retry_interval_s: pause between attempts, s.

    Returns:
        The connected, blocking socket.

    Raises:
        ValueError: neither or both of ``unix`` and ``host``/``port`` given.
        ServerNotFound: nothing accepted the connection before the deadline.
    """
    if (unix is None) == (host is None or port is None):
        raise ValueError("give either a UNIX socket name or a TCP host and port")
    stop = time.monotonic() + deadline_s
    target = unix_socket_path(unix) if unix is not None else (host, int(port))
    last_error: Optional[BaseException] = None
    while True:
        sock = socket.socket(socket.AF_UNIX if unix is not None else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.settimeout(max(0.1, min(5.0, stop - time.monotonic())))
            sock.connect(target)
        except _RETRYABLE as err:
            sock.close()
            last_error = err
        except OSError as err:  # e.g. an unknown host name: retrying does not help
            sock.close()
            raise ServerNotFound(f"cannot connect to i-PI at {_describe(target)}: {err}") from err
        else:
            sock.settimeout(None)
            if unix is None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        if time.monotonic() + retry_interval_s > stop:
            raise ServerNotFound(
                f"no i-PI server at {_describe(target)} within {deadline_s:g} s (last error: {last_error}); "
                "start i-PI first, check the address, or raise the connect timeout"
            )
        time.sleep(retry_interval_s)


def _describe(target) -> str:
    return f"UNIX socket {target}" if isinstance(target, str) else f"{target[0]}:{target[1]} (TCP)"


class Messenger:
    """Reads and writes i-PI messages on a connected socket.

    Args:
        sock: connected socket (see :func:`connect`); owned by the messenger from now on.
    """

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def _recv_exact(self, n_bytes: int, at_boundary: bool = False) -> bytes:
        buffer = bytearray(n_bytes)
        view, received = memoryview(buffer), 0
        while received < n_bytes:
            try:
                chunk = self.sock.recv_into(view[received:], n_bytes - received)
            except OSError as err:
                raise ConnectionLost(f"connection to i-PI lost: {err}") from err
            if chunk == 0:
                where = "between messages" if at_boundary and received == 0 else "in the middle of a message"
                raise ConnectionLost(f"i-PI closed the connection {where} without sending EXIT")
            received += chunk
        return bytes(buffer)

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as err:
            raise ConnectionLost(f"connection to i-PI lost while sending: {err}") from err

    def recv_header(self) -> str:
        """The next message header, stripped (``STATUS``, ``INIT``, ``POSDATA``, ``GETFORCE``, ``EXIT``)."""
        raw = self._recv_exact(HEADER_SIZE, at_boundary=True)
        try:
            return raw.decode("ascii").strip()
        except UnicodeDecodeError as err:
            raise ProtocolError(f"i-PI sent a header that is not ASCII: {raw!r}") from err

    def send_header(self, header: str) -> None:
        self.send(header.ljust(HEADER_SIZE).encode("ascii"))

    def recv_array(self, shape: Tuple[int, ...], dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        count = int(np.prod(shape))
        return np.frombuffer(self._recv_exact(count * dtype.itemsize), dtype=dtype).reshape(shape)

    def recv_int(self) -> int:
        return int(self.recv_array((1,), np.int32)[0])

    def recv_init(self) -> Tuple[int, bytes]:
        """Payload of ``INIT``: the bead (replica) index and the init string."""
        index, length = self.recv_int(), self.recv_int()
        if length < 0:
            raise ProtocolError(f"i-PI sent an INIT string of negative length {length}")
        return index, self._recv_exact(length) if length else b""

    def recv_posdata(self, max_atoms: int) -> Tuple[np.ndarray, int, Optional[np.ndarray]]:
        """Payload of ``POSDATA``: ``(cell [3, 3] as rows, bohr; n_atoms; positions [n_atoms, 3], bohr)``.

        The positions are read only when ``n_atoms <= max_atoms`` (else None: the caller reports the
        mismatch; the connection is unusable after that).
        """
        cell = self.recv_array((3, 3), np.float64).T.copy()  # i-PI's columns -> ASE's rows
        self.recv_array((3, 3), np.float64)  # the inverse cell: not needed
        n_atoms = self.recv_int()
        if n_atoms < 0 or n_atoms > max_atoms:
            return cell, n_atoms, None
        return cell, n_atoms, self.recv_array((n_atoms, 3), np.float64).copy()

    def recv_posdata_batch(self, batch_size: int, max_atoms: int):
        """Payload of a batched ``POSDATA`` (i-PI's ``<batch_size>``): n_atoms, then ``batch_size`` pairs
        (cell, inverse cell), then positions ``[batch_size, n_atoms, 3]`` (bohr).

        Returns ``(cells [batch, 3, 3] as rows, n_atoms, positions or None)``; the positions are None
        when ``n_atoms > max_atoms`` (as in :meth:`recv_posdata`).
        """
        n_atoms = self.recv_int()
        blocks = self.recv_array((batch_size, 2, 3, 3), np.float64)
        cells = blocks[:, 0].transpose(0, 2, 1).copy()  # i-PI's columns -> ASE's rows
        if n_atoms < 0 or n_atoms > max_atoms:
            return cells, n_atoms, None
        return cells, n_atoms, self.recv_array((batch_size, n_atoms, 3), np.float64).copy()

    def send_forces_batch(self, results) -> None:
        """Batched ``FORCEREADY``: energies [batch], n_atoms, forces [batch, n_atoms, 3], virials [batch, 3, 3],
        then an empty extra string per structure (atomic units)."""
        energies = np.array([r[0] for r in results], dtype=np.float64)
        forces = np.ascontiguousarray(np.stack([r[1] for r in results]), dtype=np.float64)
        virials = np.ascontiguousarray(np.stack([np.asarray(r[2], dtype=np.float64).T for r in results]))
        parts = [b"FORCEREADY".ljust(HEADER_SIZE), energies.tobytes(), np.int32(forces.shape[1]).tobytes(),
                 forces.tobytes(), virials.tobytes(), np.zeros(len(results), dtype=np.int32).tobytes()]
        self.send(b"".join(parts))

    def send_forces(self, energy: float, forces: np.ndarray, virial: np.ndarray, extra: bytes = b"") -> None:
        """``FORCEREADY`` and its payload, in atomic units (``forces [n_atoms, 3]``, ``virial [3, 3]``)."""
        forces = np.ascontiguousarray(forces, dtype=np.float64)
        parts = [
            b"FORCEREADY".ljust(HEADER_SIZE),
            np.float64(energy).tobytes(),
            np.int32(len(forces)).tobytes(),
            forces.tobytes(),
            np.ascontiguousarray(np.asarray(virial, dtype=np.float64).T).tobytes(),
            np.int32(len(extra)).tobytes(),
            extra,
        ]
        self.send(b"".join(parts))
