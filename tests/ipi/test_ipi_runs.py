"""Real i-PI runs with ``ictp-md serve`` clients (loopback only): forces, REMD, PIMD, a killed client.

Each test starts i-PI and client processes with a deadline; :class:`~ictp_calc.ipi.launch.IPIRun`
kills whatever outlives it and removes the socket file. Socket names are unique per run. The tiny
random float64 model keeps each evaluation at a few ms (PIMD and REMD use the shipped model). Needs i-PI
(``pip install -e '.[ipi]'``;
``.ci/run`` installs it).
"""

import math
import os
import runpy
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from ase.io import read

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "md"))  # the MD tests' helpers
from md_helpers import BPA_START, EXAMPLES, tiny_model  # noqa: E402

from ictp_calc.calculator import ICTPCalculator  # noqa: E402
from ictp_calc.ipi.analysis import classical_kinetic_eV, read_properties  # noqa: E402
from ictp_calc.ipi.launch import IPIRun, prepare_input, write_ipi_xyz  # noqa: E402

pytest.importorskip("ipi", reason="i-PI is not installed: pip install -e '.[ipi]' (.ci/run installs it)")

DEADLINE_S = 240.0  # per run; a run on an idle core takes 10-20 s


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("model") / "tiny.pt")


@pytest.fixture(scope="module")
def example():
    """``main(argv)`` of examples/ipi/run_example.py."""
    return runpy.run_path(str(EXAMPLES / "ipi" / "run_example.py"))["main"]


def test_forces_received_by_ipi_equal_a_direct_call_over_tcp(example, model, tmp_path):
    """i-PI's own record of potential and forces (its units converted back) equals ICTPCalculator."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    structure = write_ipi_xyz(read(BPA_START), tmp_path / "init.xyz")
    xml = prepare_input(EXAMPLES / "ipi" / "nvt.xml", tmp_path, address="127.0.0.1", port=port, total_steps=8)
    tree = ET.parse(xml)
    output = tree.getroot().find("output")
    for node in list(output):
        if node.tag in ("trajectory", "checkpoint"):
            output.remove(node)
    output.find("properties").set("stride", "1")
    for name, what in (("pos", "positions{ase}"), ("frc", "forces{ase}")):
        node = ET.SubElement(output, "trajectory", filename=name, stride="1", format="ase")
        node.text = f" {what} "
    tree.write(xml)
    with IPIRun(xml, structure, "127.0.0.1", ["--model", model, "--device", "cpu"], port=port) as run:
        run.start_ipi()
        run.start_client()
        outcome = run.wait(DEADLINE_S)
    assert outcome.ok, (outcome, (tmp_path / "ipi.log").read_text()[-2000:], (tmp_path / "client-0.log").read_text())
    assert "i-PI client: 9 calls" in (tmp_path / "client-0.log").read_text()
    positions = read(tmp_path / "nvt.pos_0.extxyz", ":")
    forces = read(tmp_path / "nvt.frc_0.extxyz", ":")
    potential = read_properties(tmp_path / "nvt.out")["potential{electronvolt}"]
    assert len(positions) == len(forces) == len(potential) == 9
    calc = ICTPCalculator(model, device="cpu")
    for frame, reference_forces, reference_energy in zip(positions, forces, potential):
        atoms = read(BPA_START)  # elements and order from the structure, positions from i-PI
        atoms.positions = frame.positions
        atoms.calc = calc
        # i-PI's bohr and hartree differ from ASE's by about 1e-7 relative; 8 digits are printed.
        assert math.isclose(atoms.get_potential_energy(), reference_energy, rel_tol=1e-6)
        np.testing.assert_allclose(reference_forces.get_forces(), atoms.get_forces(), rtol=1e-6, atol=1e-7)
    assert np.ptp(potential) > 1e-4  # the positions changed: not one structure compared nine times


def test_remd_stopped_and_restarted_finishes_with_exchanges_and_ordered_temperatures(example, tmp_path, capsys):
    # The shipped model: with the tiny random one, which has no repulsion, two atoms of a replica at
    # up to 1200 K sometimes came within 0.1 Å after the restart (the stop step, hence the trajectory,
    # varies with timing), and the clients rightly refused the positions.
    common = ["remd", "--short", "--clients", "2", "--output-dir", str(tmp_path / "remd"), "--timeout", str(DEADLINE_S)]
    rc = example([*common, "--stop-at", "20"])  # a clean stop midway (i-PI's EXIT file) ...
    output = capsys.readouterr().out
    assert rc == 0 and "client exit codes [0, 0]" in output, output
    stopped_at = int(read_properties(tmp_path / "remd" / "0_remd.out")["step"][-1])
    assert 20 <= stopped_at < 60
    rc = example([*common, "--restart"])  # ... continued from RESTART by new clients on a new socket
    output = capsys.readouterr().out
    assert rc == 0 and "client exit codes [0, 0]" in output, output
    for replica in range(5):
        steps = read_properties(tmp_path / "remd" / f"{replica}_remd.out")["step"]
        np.testing.assert_array_equal(steps, np.arange(0, 61, 2))  # every step once, up to the end
    summary = __import__("json").loads((tmp_path / "remd" / "summary.json").read_text())
    attempts = sum(a for a, _ in summary["exchanges"].values())
    assert attempts > 0 and "1-0" in summary["exchanges"]
    temperatures = summary["temperature_per_ensemble"]
    targets = sorted(temperatures, key=float)
    assert [float(t) for t in targets] == [300.0, 450.0, 600.0, 850.0, 1200.0]
    means = [temperatures[t] for t in targets]
    assert means == sorted(means), means
    dihedrals = summary["dihedrals_300K"]["remd"]
    assert set(dihedrals) == {"alpha", "beta", "gamma"} and dihedrals["alpha"]["n"] >= 1
    assert sum(dihedrals["gamma"]["counts_30deg"]) == dihedrals["gamma"]["n"]


def test_pimd_quantum_kinetic_energy_is_above_classical_and_batching_changes_nothing(example, tmp_path, capsys):
    # The shipped model: a random one is too soft for nuclear quantum effects to show in 30 steps;
    # 3BPA's C-H and N-H stretches double the kinetic energy (measured: ratio 2.0).
    common = ["pimd", "--short", "--timeout", str(DEADLINE_S)]
    rc = example([*common, "--clients", "2", "--output-dir", str(tmp_path / "pimd")])
    output = capsys.readouterr().out
    assert rc == 0, output
    columns = read_properties(tmp_path / "pimd" / "pimd.out")
    kinetic = columns["kinetic_cv{electronvolt}"]
    assert np.isfinite(kinetic).all() and len(kinetic) > 5
    assert kinetic[0] == pytest.approx(classical_kinetic_eV(27, 300.0), rel=1e-3)  # beads start together
    assert kinetic[len(kinetic) // 2:].mean() > 1.5 * classical_kinetic_eV(27, 300.0)
    # The same run with all 4 beads in one batched request to one client: the same trajectory.
    rc = example([*common, "--clients", "1", "--batch-size", "4", "--output-dir", str(tmp_path / "batched")])
    output = capsys.readouterr().out
    assert rc == 0, output
    assert "calls of 4 structures" in (tmp_path / "batched" / "client-0.log").read_text()
    batched = read_properties(tmp_path / "batched" / "pimd.out")
    np.testing.assert_allclose(batched["potential{electronvolt}"], columns["potential{electronvolt}"], rtol=1e-7)
    np.testing.assert_allclose(batched["kinetic_cv{electronvolt}"], kinetic, rtol=1e-6)


def test_killed_client_is_replaced_and_the_run_completes(example, model, tmp_path, capsys):
    rc = example(["nvt", "--short", "--model", model, "--kill-client-at", "6", "--output-dir", str(tmp_path / "nvt"),
                  "--timeout", str(DEADLINE_S)])
    output = capsys.readouterr().out
    assert rc == 0, output
    assert "killed client 0" in output and "i-PI exit code 0, client exit codes [-9, 0]" in output
    steps = read_properties(tmp_path / "nvt" / "nvt.out")["step"]
    assert steps[-1] == 40
