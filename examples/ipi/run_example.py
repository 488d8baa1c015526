"""Run an i-PI example of 3BPA with ``ictp-md serve`` clients, wait for it, and report.

    python examples/ipi/run_example.py nvt     # NVT, 300 K, 10 ps, one client
    python examples/ipi/run_example.py remd    # replica exchange 300-1200 K, one client per replica
    python examples/ipi/run_example.py pimd    # path integrals, 300 K, 8 beads (PILE-L), one client per bead

The script writes i-PI's start file, copies the XML next to it with a unique UNIX socket name
(``--tcp``: a free port on 127.0.0.1 instead), starts ``i-pi`` and the clients, waits, and prints
what a user wants to know: mean temperature and backbone dihedrals (NVT); exchange acceptance per
pair, temperature per ensemble, and the dihedrals at 300 K against plain MD (REMD; the NVT example's
folder ``ipi_nvt`` next to ``ipi_remd`` is the plain MD); quantum (centroid-virial) against classical
kinetic energy (PIMD).
``--kill-client-at STEP`` kills the first client once i-PI has passed STEP and starts a new one on
the same socket: the run goes on. ``--stop-at STEP`` stops i-PI cleanly after STEP (a file named EXIT in its
folder); ``--restart``
then continues from i-PI's RESTART file with new clients on a new socket.
``--batch-size N`` lets i-PI hand N replicas or beads to a client at once, evaluated in one model call.
``--short`` runs a few dozen steps (the tests use it). Needs i-PI: ``pip install -e '.[ipi]'``.
"""

import argparse
import json
import socket
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from ase.io import read

from ictp_calc.ipi.analysis import (
    classical_kinetic_eV,
    exchange_counts,
    read_properties,
    read_trajectory,
    temperature_per_ensemble,
)
from ictp_calc.ipi.launch import IPIRun, prepare_input, unique_address, write_ipi_xyz

HERE = Path(__file__).resolve().parent
START = HERE.parent / "data" / "3bpa_start.xyz"
CLIENTS = {"nvt": 1, "remd": 5, "pimd": 8}
SHORT = {"nvt": 40, "remd": 60, "pimd": 30}  # steps in --short mode
SHORT_BEADS = 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def shorten(path: Path, kind: str) -> None:
    """--short: fewer beads for PIMD, frequent exchange attempts for REMD, frequent output."""
    tree = ET.parse(path)
    root = tree.getroot()
    for node in root.iter("initialize"):
        if kind == "pimd":
            node.set("nbeads", str(SHORT_BEADS))
    for node in root.iter("stride"):
        node.text = " 2 "  # REMD: an attempt per pair every other step on average
    for node in root.iter("properties"):
        node.set("stride", "2")
    for node in root.iter("checkpoint"):
        node.set("stride", "20")
    tree.write(path)


def batched(path: Path, batch_size: int) -> None:
    """i-PI's batched requests: ``<batch_size>``; i-PI 3.3 needs ``consolidate_messages`` true for them."""
    tree = ET.parse(path)
    ffsocket = tree.getroot().find("ffsocket")
    for tag, text in (("batch_size", str(batch_size)), ("consolidate_messages", "true")):
        node = ffsocket.find(tag)
        node = ET.SubElement(ffsocket, tag) if node is None else node
        node.text = f" {text} "
    tree.write(path)


def current_step(run_dir: Path) -> int:
    """The last step written to any properties file of the run (-1 before the first)."""
    last = -1
    for path in run_dir.glob("*.out"):
        lines = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
        if lines:
            last = max(last, int(float(lines[-1].split()[0])))
    return last


def dihedrals_at(run_dir: Path, kind: str, temperature_K: float) -> dict:
    """Backbone dihedrals (degrees) of the frames simulated at ``temperature_K``: ``{name: [angles]}``.

    REMD: each replica's frames count for the ensemble it had at that step; NVT: every frame.
    """
    sys.path.insert(0, str(HERE.parent))  # examples/bpa_dihedrals.py
    from bpa_dihedrals import backbone_dihedrals, dihedral

    indices = backbone_dihedrals(read(START))
    angles = {name: [] for name in indices}
    for trajectory in sorted(run_dir.glob(f"*{kind}.pos_0.xyz")):
        steps, frames = read_trajectory(trajectory)
        if kind == "remd":
            columns = read_properties(trajectory.with_name(trajectory.name.replace(".pos_0.xyz", ".out")))
            ensemble = dict(zip(columns["step"].astype(int), columns["ensemble_temperature{kelvin}"]))
            keep = [abs(ensemble.get(int(step), -1.0) - temperature_K) < 1e-3 for step in steps]
        else:
            keep = [True] * len(frames)
        for frame, selected in zip(frames, keep):
            if selected:
                for name, quad in indices.items():
                    angles[name].append(dihedral(frame, quad))
    return angles


def print_dihedrals(label: str, angles: dict) -> dict:
    """Print and return a histogram (30-degree bins) and the circular mean of each dihedral."""
    summary = {}
    for name, values in angles.items():
        values = np.asarray(values)
        if not len(values):
            continue
        counts, _ = np.histogram(values, bins=12, range=(-180.0, 180.0))
        mean = np.degrees(np.angle(np.exp(1j * np.radians(values)).mean()))
        summary[name] = {"n": int(len(values)), "circular_mean_deg": float(mean), "counts_30deg": counts.tolist()}
        print(f"  {label} {name:5s}: {len(values)} frames, circular mean {mean:7.1f} deg, "
              f"30-degree bins from -180: {counts.tolist()}")
    return summary


def report(kind: str, run_dir: Path, n_atoms: int) -> dict:
    files = sorted(run_dir.glob(f"*{kind}.out"))
    tables = [read_properties(p) for p in files]
    summary = {"property_files": [p.name for p in files]}
    if kind == "remd":
        pairs = exchange_counts(run_dir / "ipi.log")
        temps = temperature_per_ensemble(tables)
        summary["exchanges"] = {f"{i}-{j}": [a, b] for (i, j), (a, b) in pairs.items()}
        summary["temperature_per_ensemble"] = {f"{t:g}": round(m, 1) for t, (m, n) in temps.items()}
        print("exchange attempts (systems i-j: accepted/attempted):")
        for (i, j), (attempts, accepted) in pairs.items():
            print(f"  {i}-{j}: {accepted}/{attempts} ({accepted / attempts:.0%})")
        for target, (mean, n) in temps.items():
            print(f"ensemble {target:g} K: mean T {mean:.1f} K over {n} samples")
        print("backbone dihedrals at 300 K:")
        summary["dihedrals_300K"] = {"remd": print_dihedrals("REMD", dihedrals_at(run_dir, "remd", 300.0))}
        plain = run_dir.parent / "ipi_nvt"  # the NVT example at 300 K, if it was run next to this one
        if plain.is_dir() and plain != run_dir:
            summary["dihedrals_300K"]["nvt"] = print_dihedrals("plain MD", dihedrals_at(plain, "nvt", 300.0))
    else:
        columns = tables[0]
        summary["mean_temperature_K"] = float(columns["temperature{kelvin}"].mean())
        summary["steps"] = int(columns["step"][-1])
        print(f"{kind}: {summary['steps']} steps, mean T {summary['mean_temperature_K']:.1f} K")
        if kind == "nvt":
            summary["dihedrals_300K"] = print_dihedrals("plain MD", dihedrals_at(run_dir, "nvt", 300.0))
        if kind == "pimd":
            quantum = float(columns["kinetic_cv{electronvolt}"][len(columns["step"]) // 2:].mean())
            classical = classical_kinetic_eV(n_atoms, 300.0)
            summary.update(kinetic_cv_eV=quantum, classical_kinetic_eV=classical)
            print(f"centroid-virial kinetic energy {quantum:.3f} eV (second half), classical {classical:.3f} eV, "
                  f"ratio {quantum / classical:.2f}")
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=sorted(CLIENTS))
    parser.add_argument("--short", action="store_true", help="a few dozen steps (tests)")
    parser.add_argument("--steps", type=int, help="total steps [default: the XML's, or the --short length]")
    parser.add_argument("--model", help="model file [default: the shipped 3BPA model]")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--clients", type=int, help="number of clients [default: one per replica or bead]")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per client")
    parser.add_argument("--batch-size", type=int, default=1,
                        help="i-PI's <batch_size>: structures per request, evaluated in one model call")
    parser.add_argument("--tcp", action="store_true", help="TCP on 127.0.0.1 instead of a UNIX socket")
    parser.add_argument("--output-dir", help="run folder [default: ipi_KIND]")
    parser.add_argument("--kill-client-at", type=int, help="kill client 0 after this step, start a new one")
    parser.add_argument("--stop-at", type=int, help="stop i-PI cleanly (an EXIT file) after this step")
    parser.add_argument("--restart", action="store_true", help="continue from RESTART in the run folder")
    parser.add_argument("--timeout", type=float, default=7 * 24 * 3600.0, help="kill everything after this, s")
    args = parser.parse_args(argv)

    run_dir = Path(args.output_dir or f"ipi_{args.kind}").resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    atoms = read(START)
    structure = write_ipi_xyz(atoms, run_dir / "init.xyz")
    port = free_port() if args.tcp else None
    address = "127.0.0.1" if args.tcp else unique_address(f"ictp-{args.kind}")
    if args.restart:
        if not (run_dir / "RESTART").is_file():
            sys.exit(f"no RESTART file in {run_dir}")
        xml = prepare_input(run_dir / "RESTART", run_dir, address=address, port=port, name="restart.xml")
    else:
        xml = prepare_input(HERE / f"{args.kind}.xml", run_dir, address=address, port=port,
                            total_steps=args.steps or (SHORT[args.kind] if args.short else None))
        if args.short:
            shorten(xml, args.kind)
        if args.batch_size > 1:
            batched(xml, args.batch_size)
    client_args = ["--device", args.device, "--connect-timeout", "120"]
    if args.model:
        client_args += ["--model", str(Path(args.model).resolve())]
    n_clients = args.clients or (SHORT_BEADS if args.short and args.kind == "pimd" else CLIENTS[args.kind])

    with IPIRun(xml, structure, address, client_args, threads=args.threads, port=port) as run:
        run.start_ipi(append_log=args.restart)  # REMD counts the exchanges of both parts
        for _ in range(n_clients):
            run.start_client()
        if args.kill_client_at is not None:
            while current_step(run_dir) < args.kill_client_at and run.ipi.poll() is None:
                time.sleep(0.05)
            run.clients[0].kill()
            run.clients[0].wait()
            print(f"killed client 0 at step {current_step(run_dir)} (exit code {run.clients[0].returncode}); "
                  "starting a new client on the same socket")
            run.start_client()
        if args.stop_at is not None:
            while current_step(run_dir) < args.stop_at and run.ipi.poll() is None:
                time.sleep(0.05)
            (run_dir / "EXIT").touch()  # i-PI finishes the step, writes RESTART and ends the clients
            print(f"asked i-PI to stop at step {current_step(run_dir)}")
        outcome = run.wait(args.timeout)
        (run_dir / "EXIT").unlink(missing_ok=True)
    print(f"i-PI exit code {outcome.ipi_rc}, client exit codes {outcome.client_rcs}, {outcome.wall_s:.1f} s"
          + (" (timed out: killed)" if outcome.timed_out else ""))
    if outcome.ipi_rc != 0 or outcome.timed_out:
        print(f"i-PI failed; see {run_dir / 'ipi.log'}")
        return 1
    report(args.kind, run_dir, len(atoms))
    killed = 1 if args.kill_client_at is not None else 0
    failed = [i for i, rc in enumerate(outcome.client_rcs) if rc != 0 and i >= killed]
    if failed:
        print(f"clients {failed} failed; see {run_dir}/client-N.log")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
