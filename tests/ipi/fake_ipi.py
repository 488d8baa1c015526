"""A scripted stand-in for the i-PI server: the server side of the socket protocol, in a thread.

Written from the protocol description in :mod:`ictp_calc.ipi.protocol`, independently of the client,
so that the client's bytes are checked against a second reading of the format.
"""

import socket
import struct
import threading

import numpy as np

HEADER = 12


def _header(text: str) -> bytes:
    return text.encode("ascii").ljust(HEADER, b" ")


def _recv(conn: socket.socket, n_bytes: int) -> bytes:
    data = b""
    while len(data) < n_bytes:
        chunk = conn.recv(n_bytes - len(data))
        if not chunk:
            raise EOFError("client closed the connection")
        data += chunk
    return data


class FakeIPI:
    """Listen on ``address`` (a UNIX path, or ``(host, port)``), then play a script in a thread.

    The script sends each frame's positions (bohr) and collects the replies in ``self.replies`` as
    ``(status before/after POSDATA, energy, forces [n, 3], virial [3, 3])``; then it sends EXIT, or just closes
    the connection when ``send_exit`` is False. ``n_atoms_sent`` overrides the atom count in POSDATA.
    """

    def __init__(self, address, frames_bohr, cell_bohr=None, send_exit=True, n_atoms_sent=None, delay_s=0.0,
                 batch_size=1):
        self.address, self.frames = address, [np.asarray(f, dtype=np.float64) for f in frames_bohr]
        self.cell = np.eye(3) * 60.0 if cell_bohr is None else np.asarray(cell_bohr, dtype=np.float64)
        self.send_exit, self.n_atoms_sent, self.delay_s = send_exit, n_atoms_sent, delay_s
        self.batch_size = batch_size
        self.replies, self.init_reply, self.error, self.client_socket = [], None, None, None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "FakeIPI":
        self.thread.start()
        return self

    def join(self, timeout=30.0) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "fake i-PI server still running"

    def _listen(self) -> socket.socket:
        family = socket.AF_UNIX if isinstance(self.address, str) else socket.AF_INET
        server = socket.socket(family, socket.SOCK_STREAM)
        server.bind(self.address)
        server.listen(1)
        server.settimeout(30.0)
        return server

    def _run(self) -> None:
        import time

        try:
            time.sleep(self.delay_s)  # a server that starts late: the client must retry
            server = self._listen()
            conn, _ = server.accept()
            conn.settimeout(30.0)
            self.client_socket = conn
            conn.sendall(_header("STATUS"))
            self.init_reply = _recv(conn, HEADER).decode().strip()
            if self.init_reply == "NEEDINIT":
                text = b"abcd" if self.batch_size == 1 else f"abcd, batch_size:{self.batch_size}".encode()
                conn.sendall(_header("INIT") + struct.pack("=ii", 3, len(text)) + text)
            if self.batch_size > 1:
                self._run_batched(conn)
                self.frames = []
            for frame in self.frames:
                conn.sendall(_header("STATUS"))
                status = _recv(conn, HEADER).decode().strip()
                n_atoms = len(frame) if self.n_atoms_sent is None else self.n_atoms_sent
                # i-PI's cell h has the lattice vectors as columns; row-major bytes of h.
                conn.sendall(_header("POSDATA") + self.cell.T.tobytes() + np.linalg.inv(self.cell.T).tobytes()
                             + struct.pack("=i", n_atoms) + frame.tobytes())
                if self.n_atoms_sent is not None:
                    time.sleep(0.5)
                    break
                conn.sendall(_header("STATUS"))
                status += "/" + _recv(conn, HEADER).decode().strip()
                conn.sendall(_header("GETFORCE"))
                assert _recv(conn, HEADER).decode().strip() == "FORCEREADY"
                energy = struct.unpack("=d", _recv(conn, 8))[0]
                n_back = struct.unpack("=i", _recv(conn, 4))[0]
                forces = np.frombuffer(_recv(conn, 24 * n_back), dtype=np.float64).reshape(n_back, 3)
                virial = np.frombuffer(_recv(conn, 72), dtype=np.float64).reshape(3, 3)
                extra = struct.unpack("=i", _recv(conn, 4))[0]
                _recv(conn, extra)
                self.replies.append((status, energy, forces.copy(), virial.T.copy()))
            if self.send_exit:
                conn.sendall(_header("EXIT"))
            conn.close()
            server.close()
        except Exception as err:  # reported by the test
            self.error = err

    def _run_batched(self, conn: socket.socket) -> None:
        """All frames in one batched request: POSDATA with every cell, then every position block."""
        n_atoms, batch = len(self.frames[0]), len(self.frames)
        assert batch == self.batch_size
        conn.sendall(_header("STATUS"))
        status = _recv(conn, HEADER).decode().strip()
        h = self.cell.T
        message = _header("POSDATA") + struct.pack("=i", n_atoms)
        message += b"".join(h.tobytes() + np.linalg.inv(h).tobytes() for _ in self.frames)
        message += b"".join(frame.tobytes() for frame in self.frames) + _header("GETFORCE")
        conn.sendall(message)
        assert _recv(conn, HEADER).decode().strip() == "FORCEREADY"
        energies = np.frombuffer(_recv(conn, 8 * batch), dtype=np.float64)
        assert struct.unpack("=i", _recv(conn, 4))[0] == n_atoms
        forces = np.frombuffer(_recv(conn, 24 * n_atoms * batch), dtype=np.float64).reshape(batch, n_atoms, 3)
        virials = np.frombuffer(_recv(conn, 72 * batch), dtype=np.float64).reshape(batch, 3, 3)
        for _ in range(batch):
            _recv(conn, struct.unpack("=i", _recv(conn, 4))[0])
        for i in range(batch):
            self.replies.append((status, energies[i], forces[i].copy(), virials[i].T.copy()))
