"""Start i-PI and ``ictp-md serve`` clients on one machine, wait for them, and clean up.

The examples in ``examples/ipi`` and the tests use this; on a cluster, start ``i-pi`` and the clients
yourself (the clients over TCP, see the MD guide). Every process is started here with a deadline and
killed if it outlives it; the UNIX socket file is removed before and after the run (a stale one
blocks the next start).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ase import Atoms

from ..md.errors import InputError
from .protocol import unix_socket_path

__all__ = ["unique_address", "write_ipi_xyz", "prepare_input", "IPIRun", "RunOutcome", "ipi_executable"]

_CLI = "import sys; from ictp_calc.cli import main; sys.argv[0] = 'ictp-md'; main()"


def unique_address(stem: str) -> str:
    """A socket name no other run uses: ``STEM-PID-RANDOM`` (parallel runs must not share sockets)."""
    return f"{stem}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def write_ipi_xyz(atoms: Atoms, path, box_A: float = 30.0) -> str:
    """Write ``atoms`` as an xyz file i-PI reads in Å (``positions{angstrom}``), with a cell.

    A molecule (``pbc`` all False) gets a cubic box of ``box_A`` Å (i-PI needs one; the client ignores
    it); a periodic structure keeps its cell (as a, b, c, alpha, beta, gamma).
    """
    if atoms.pbc.any():
        a, b, c, alpha, beta, gamma = atoms.cell.cellpar()
    else:
        a = b = c = box_A
        alpha = beta = gamma = 90.0
    lines = [str(len(atoms)),
             f"# CELL(abcABC): {a:.8f} {b:.8f} {c:.8f} {alpha:.6f} {beta:.6f} {gamma:.6f} "
             "positions{angstrom} cell{angstrom}"]
    lines += [f"{s} {x:.10f} {y:.10f} {z:.10f}" for s, (x, y, z) in zip(atoms.get_chemical_symbols(), atoms.positions)]
    Path(path).write_text("\n".join(lines) + "\n")
    return str(path)


def prepare_input(
    template, run_dir, *, address: str, init_file: str = "init.xyz", total_steps: Optional[int] = None,
    seed: Optional[int] = None, port: Optional[int] = None, name: str = "input.xml",
) -> Path:
    """Copy an i-PI input into ``run_dir`` with the socket address, start file and length replaced.

    Args:
        template: i-PI input XML with one ``<ffsocket>``.
        run_dir: folder the run happens in (created).
        address: socket name (UNIX) or host (TCP, with ``port``).
        init_file: start structure every ``<file>`` of ``<initialize>`` is set to.
        total_steps, seed: replace ``<total_steps>`` / the ``<prng>`` seed when given.
        port: a TCP port: the socket becomes ``mode='inet'`` on ``address``.
        name: file name of the result in ``run_dir``.

    Returns:
        Path of the written input.
    """
    tree = ET.parse(template)
    root = tree.getroot()
    sockets = root.findall("ffsocket")
    if len(sockets) != 1:
        raise InputError(f"{template}: expected one <ffsocket>, found {len(sockets)}")
    _set(sockets[0], "address", address)
    if port is not None:
        sockets[0].set("mode", "inet")
        _set(sockets[0], "port", str(port))
    for node in root.iter("initialize"):
        _set(node, "file", init_file)
    if total_steps is not None:
        _set(root, "total_steps", str(total_steps))
    if seed is not None:
        _set(root.find("prng") if root.find("prng") is not None else ET.SubElement(root, "prng"), "seed", str(seed))
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / name
    tree.write(path)
    return path


def _set(parent: ET.Element, tag: str, text: str) -> None:
    node = parent.find(tag)
    if node is None:
        node = ET.SubElement(parent, tag)
    node.text = f" {text} "


def ipi_executable() -> str:
    """The ``i-pi`` script next to this Python, or on PATH; :class:`InputError` if i-PI is not installed."""
    local = Path(sys.executable).parent / "i-pi"
    found = str(local) if local.is_file() else shutil.which("i-pi")
    if found is None:
        raise InputError("i-PI is not installed: pip install -e '.[ipi]' (PyPI package 'ipi')")
    return found


@dataclass
class RunOutcome:
    """Exit codes and times of one i-PI run: ``ipi_rc``, ``client_rcs`` (in start order), ``wall_s``."""

    ipi_rc: Optional[int]
    client_rcs: List[Optional[int]] = field(default_factory=list)
    wall_s: float = 0.0
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return not self.timed_out and self.ipi_rc == 0 and all(rc == 0 for rc in self.client_rcs)


class IPIRun:
    """i-PI on ``input.xml`` in ``run_dir``, plus ``ictp-md serve`` clients; a context manager.

    Args:
        input_xml: prepared input (see :func:`prepare_input`).
        structure: the structure file the clients serve (the same atoms as i-PI's start file).
        address: the socket name used in ``input_xml`` (UNIX), or the host with ``port`` (TCP).
        client_args: extra ``ictp-md serve`` options (``--model``, ``--device``, ...).
        threads: CPU threads per client (also ``OMP_NUM_THREADS``).
        port: TCP port, or None for a UNIX socket.

    On exit of the ``with`` block every process still running is killed and the socket file removed.
    """

    def __init__(self, input_xml, structure: str, address: str, client_args: Sequence[str] = (), threads: int = 1,
                 port: Optional[int] = None):
        self.input_xml, self.run_dir = Path(input_xml), Path(input_xml).parent
        self.structure, self.address, self.port = os.path.abspath(structure), address, port
        self.client_args, self.threads = list(client_args), threads
        self.ipi: Optional[subprocess.Popen] = None
        self.clients: List[subprocess.Popen] = []
        self.socket_path = None if port is not None else unix_socket_path(address)

    def _env(self) -> Dict[str, str]:
        env = dict(os.environ)
        env.update(OMP_NUM_THREADS=str(self.threads), OMP_WAIT_POLICY="PASSIVE", PYTHONUNBUFFERED="1")
        return env

    def start_ipi(self, append_log: bool = False) -> subprocess.Popen:
        """Start i-PI in ``run_dir`` (log: ``ipi.log``, appended to with ``append_log``, e.g. on a restart)."""
        self._remove_socket()
        log = open(self.run_dir / "ipi.log", "a" if append_log else "w")
        self.ipi = subprocess.Popen([ipi_executable(), self.input_xml.name], cwd=self.run_dir, stdout=log,
                                    stderr=subprocess.STDOUT, env=self._env())
        log.close()
        return self.ipi

    def start_client(self) -> subprocess.Popen:
        """One more ``ictp-md serve`` client on the run's socket (log: ``client-N.log`` in ``run_dir``)."""
        where = ["--unix", self.address] if self.port is None else ["--host", self.address, "--port", str(self.port)]
        command = [sys.executable, "-c", _CLI, "serve", self.structure, *where, "--threads", str(self.threads),
                   *self.client_args]
        log = open(self.run_dir / f"client-{len(self.clients)}.log", "w")
        self.clients.append(subprocess.Popen(command, cwd=self.run_dir, stdout=log, stderr=subprocess.STDOUT,
                                             env=self._env()))
        log.close()
        return self.clients[-1]

    def wait(self, timeout_s: float) -> RunOutcome:
        """Wait until i-PI and every client have exited, or ``timeout_s``; then kill what is left."""
        start, stop = time.monotonic(), time.monotonic() + timeout_s
        processes = [p for p in [self.ipi, *self.clients] if p is not None]
        while any(p.poll() is None for p in processes) and time.monotonic() < stop:
            time.sleep(0.1)
        timed_out = any(p.poll() is None for p in processes)
        self.kill()
        return RunOutcome(self.ipi.returncode if self.ipi else None, [p.returncode for p in self.clients],
                          time.monotonic() - start, timed_out)

    def kill(self) -> None:
        for process in [*self.clients, self.ipi]:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait()
        self._remove_socket()

    def _remove_socket(self) -> None:
        if self.socket_path is not None and os.path.exists(self.socket_path):
            os.remove(self.socket_path)

    def __enter__(self) -> "IPIRun":
        return self

    def __exit__(self, *exc) -> None:
        self.kill()
