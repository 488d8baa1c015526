"""The i-PI client against a scripted server (no i-PI needed): units, EXIT, errors, retry, TCP_NODELAY."""

import os
import socket
import sys
import threading
import time

import numpy as np
import pytest
from ase import units
from ase.calculators.emt import EMT
from ase.io import read
from click.testing import CliRunner

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "md"))  # the MD tests' helpers
from fake_ipi import FakeIPI  # noqa: E402
from md_helpers import BPA_START, copper, tiny_model  # noqa: E402

from ictp_calc.calculator import ICTPCalculator  # noqa: E402
from ictp_calc.cli import main  # noqa: E402
from ictp_calc.ipi import (  # noqa: E402
    ConnectionLost,
    ServerNotFound,
    StructureMismatch,
    connect,
    serve,
    unix_socket_path,
)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("model") / "tiny.pt")


@pytest.fixture
def sock_path(tmp_path):
    # A short path: UNIX socket paths are limited to about 100 bytes.
    path = f"/tmp/ictp-test-{os.getpid()}-{time.monotonic_ns() % 10**9}.sock"
    yield path
    if os.path.exists(path):
        os.remove(path)


def _frames(atoms, n_frames, seed=0):
    rng = np.random.default_rng(seed)
    return [(atoms.positions + rng.normal(0.0, 0.05, atoms.positions.shape)) / units.Bohr for _ in range(n_frames)]


def test_unix_socket_name_follows_ipi():
    assert unix_socket_path("abc") == "/tmp/ipi_abc"
    assert unix_socket_path("/run/x.sock") == "/run/x.sock"


def test_serve_returns_model_energies_and_forces_in_atomic_units(model, sock_path):
    atoms = read(BPA_START)
    frames = _frames(atoms, 3)
    server = FakeIPI(sock_path, frames).start()
    atoms.calc = ICTPCalculator(model, device="cpu", skin=0.5)
    result = serve(atoms, unix=sock_path, connect_timeout_s=10)
    server.join()
    assert server.error is None, server.error
    assert server.init_reply == "NEEDINIT" and result.bead_index == 3
    assert result.n_calls == 3 and len(result.call_s) == 3 and "3 calls" in result.summary()
    reference = ICTPCalculator(model, device="cpu", skin=0.0)
    for frame, (status, energy, forces, virial) in zip(frames, server.replies):
        probe = read(BPA_START)
        probe.positions = frame * units.Bohr
        probe.calc = reference
        assert status == "READY/HAVEDATA"
        np.testing.assert_allclose(energy * units.Hartree, probe.get_potential_energy(), rtol=1e-12)
        np.testing.assert_allclose(forces * units.Hartree / units.Bohr, probe.get_forces(), rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(virial, 0.0)  # a molecule: no virial, i-PI's box ignored
    assert not atoms.pbc.any()


def test_periodic_structure_uses_ipi_cell_and_returns_virial(sock_path):
    atoms = copper(rattle=0.05, seed=1)
    # i-PI's cell differs from the template's, and is not symmetric (a transposed cell would show).
    cell = atoms.cell.array * 1.01 + np.array([[0.0, 0.0, 0.0], [0.4, 0.0, 0.0], [0.2, 0.3, 0.0]])
    cell_bohr = cell / units.Bohr
    server = FakeIPI(sock_path, [atoms.positions / units.Bohr], cell_bohr=cell_bohr).start()
    served = atoms.copy()
    served.calc = EMT()
    serve(served, unix=sock_path, connect_timeout_s=10)
    server.join()
    assert server.error is None, server.error
    probe = atoms.copy()
    probe.cell = cell
    probe.calc = EMT()
    _, energy, forces, virial = server.replies[0]
    np.testing.assert_allclose(energy * units.Hartree, probe.get_potential_energy(), rtol=1e-12)
    np.testing.assert_allclose(forces * units.Hartree / units.Bohr, probe.get_forces(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(served.cell.array, cell, rtol=1e-12)
    expected = -probe.get_volume() * probe.get_stress(voigt=False)
    np.testing.assert_allclose(virial * units.Hartree, expected, rtol=1e-9, atol=1e-12)
    assert abs(expected).max() > 1e-3  # the check is not vacuous


def test_wrong_atom_count_is_a_typed_error(model, sock_path):
    atoms = read(BPA_START)
    server = FakeIPI(sock_path, _frames(atoms, 1), n_atoms_sent=len(atoms) + 5).start()
    atoms.calc = ICTPCalculator(model, device="cpu")
    with pytest.raises(StructureMismatch, match="i-PI sent 32 atoms but the client's structure has 27"):
        serve(atoms, unix=sock_path, connect_timeout_s=10)
    server.join()


def test_cli_reports_mismatch_with_exit_code_and_no_traceback(model, sock_path):
    atoms = read(BPA_START)
    server = FakeIPI(sock_path, _frames(atoms[:20], 1)).start()
    result = CliRunner().invoke(main, ["serve", str(BPA_START), "--unix", sock_path, "--model", model,
                                       "--device", "cpu", "--connect-timeout", "10"])
    server.join()
    assert result.exit_code == 5, result.output
    assert "Error: i-PI sent 20 atoms" in result.output and "Traceback" not in result.output


def test_closed_connection_without_exit_is_connection_lost(model, sock_path):
    atoms = read(BPA_START)
    server = FakeIPI(sock_path, _frames(atoms, 1), send_exit=False).start()
    atoms.calc = ICTPCalculator(model, device="cpu")
    with pytest.raises(ConnectionLost, match="without sending EXIT"):
        serve(atoms, unix=sock_path, connect_timeout_s=10)
    server.join()


def test_client_retries_until_the_server_listens(model, sock_path):
    atoms = read(BPA_START)
    server = FakeIPI(sock_path, _frames(atoms, 1), delay_s=1.0).start()
    atoms.calc = ICTPCalculator(model, device="cpu")
    start = time.monotonic()
    result = serve(atoms, unix=sock_path, connect_timeout_s=20)
    server.join()
    assert result.n_calls == 1 and time.monotonic() - start >= 1.0


def test_no_server_gives_up_at_the_deadline(sock_path):
    start = time.monotonic()
    with pytest.raises(ServerNotFound, match="no i-PI server at UNIX socket"):
        connect(unix=sock_path, deadline_s=0.6, retry_interval_s=0.1)
    assert 0.4 < time.monotonic() - start < 5.0


def test_cli_no_server_exit_code_6(model, sock_path):
    result = CliRunner().invoke(main, ["serve", str(BPA_START), "--unix", sock_path, "--model", model,
                                       "--device", "cpu", "--connect-timeout", "0.5"])
    assert result.exit_code == 6 and "no i-PI server" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("args", [[], ["--unix", "x", "--host", "localhost", "--port", "1"], ["--host", "h"]])
def test_cli_needs_exactly_one_address(model, args):
    result = CliRunner().invoke(main, ["serve", str(BPA_START), "--model", model, *args])
    assert result.exit_code == 5 and "give either --unix NAME or both --host and --port" in result.output


def test_tcp_socket_has_nodelay_and_unix_socket_works_without():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True)
    thread.start()
    client = connect(host="127.0.0.1", port=server.getsockname()[1], deadline_s=5)
    try:
        assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        thread.join(5)
        client.close()
        for conn in accepted:
            conn.close()
        server.close()


def test_tcp_end_to_end(model):
    atoms = read(BPA_START)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    server = FakeIPI(("127.0.0.1", port), _frames(atoms, 2, seed=3)).start()
    atoms.calc = ICTPCalculator(model, device="cpu")
    result = serve(atoms, host="127.0.0.1", port=port, connect_timeout_s=10)
    server.join()
    assert server.error is None and result.n_calls == 2 and len(server.replies) == 2


@pytest.mark.parametrize("compile", [False, "aot_eager"], ids=["eager", "compiled"])
@pytest.mark.parametrize("periodic", [False, True], ids=["molecule", "periodic"])
def test_batched_request_equals_single_evaluations(model, sock_path, periodic, compile):
    """i-PI's <batch_size>: four structures in one request, one model call, the same results as four calls
    (also through the compiled path; aot_eager compiles the same graph as inductor in seconds)."""
    atoms = read(BPA_START)
    cell = None
    if periodic:  # 3BPA in a sheared periodic box: cell, pbc and virial matter
        cell = np.array([[14.0, 0.0, 0.0], [1.0, 15.0, 0.0], [0.5, 0.7, 16.0]])
        atoms.cell, atoms.pbc = cell, True
        atoms.positions += 6.0
    frames = _frames(atoms, 4, seed=5)
    server = FakeIPI(sock_path, frames, cell_bohr=None if cell is None else cell / units.Bohr, batch_size=4).start()
    atoms.calc = ICTPCalculator(model, device="cpu", compile=compile, skin=0.5)
    single = atoms.calc.get_forces(atoms)  # as ictp-md serve does before connecting
    result = serve(atoms, unix=sock_path, connect_timeout_s=10)
    server.join()
    assert server.error is None, server.error
    compiled = atoms.calc.compiled
    assert (compiled is not None and compiled.capacities.n_atoms >= 4 * len(atoms)) == bool(compile)
    assert result.batch_size == 4 and result.n_calls == 1 and "of 4 structures" in result.summary()
    assert atoms.calc.n_evaluations == 2  # the single call, then one batched call, not one per structure
    reference = ICTPCalculator(model, device="cpu")
    # A single structure after the batch, within the skin of the first call's neighbor list: the
    # calculator must not reuse the layout the batch left in its compiled path.
    moved = atoms.copy()
    moved.positions[:3] += 0.05  # within half the skin: the list is reused
    np.testing.assert_allclose(atoms.calc.get_forces(moved), reference.get_forces(moved.copy()), rtol=1e-8, atol=1e-10)
    assert not np.allclose(single, reference.get_forces(moved.copy()))
    for frame, (_, energy, forces, virial) in zip(frames, server.replies):
        probe = atoms.copy()
        probe.positions = frame * units.Bohr
        probe.calc = reference
        np.testing.assert_allclose(energy * units.Hartree, probe.get_potential_energy(), rtol=1e-10)
        np.testing.assert_allclose(forces * units.Hartree / units.Bohr, probe.get_forces(), rtol=1e-8, atol=1e-10)
        expected = -probe.get_volume() * probe.get_stress(voigt=False) if periodic else np.zeros((3, 3))
        np.testing.assert_allclose(virial * units.Hartree, expected, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("args,expected", [([], False), (["--compile"], True), (["--no-compile"], False)])
def test_cli_serve_passes_compile(monkeypatch, args, expected):
    import ictp_calc.cli.serve as serve_module

    seen = {}

    def fake_serve_structure(structure, **kwargs):
        seen.update(kwargs)
        raise StructureMismatch("stop here")

    monkeypatch.setattr(serve_module, "serve_structure", fake_serve_structure)
    result = CliRunner().invoke(main, ["serve", str(BPA_START), "--unix", "x", *args])
    assert result.exit_code == 5 and "stop here" in result.output
    assert seen["compile"] is expected
