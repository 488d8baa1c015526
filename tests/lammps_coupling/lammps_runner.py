"""Run the LAMMPS built by ``tools/build_lammps.sh`` on an ASE structure and read its results back.

LAMMPS is found through ``ICTP_LAMMPS_BIN`` (what the build script exports) or in the build cache
(``ICTP_LAMMPS_CACHE``, default ``~/.cache/ictp_calc/lammps``). Runs are subprocesses of the
standalone ``lmp`` (under ``mpiexec`` for several ranks), with ``units metal``.
"""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Dict, Optional

import numpy as np
from ase.io.lammpsdata import write_lammps_data

REPO = Path(__file__).resolve().parents[2]
SPECORDER = ["H", "C", "N", "O"]
NKTV2P_METAL = 1.6021765e6  # LAMMPS's pressure unit conversion for units metal (eV/Å^3 -> bar)


def find_lammps() -> Optional[Dict[str, str]]:
    """``{"lmp", "python_dir", "build"}`` of a finished build, or None."""
    lmp = os.environ.get("ICTP_LAMMPS_BIN")
    if lmp is None:
        cache = Path(os.environ.get("ICTP_LAMMPS_CACHE", Path.home() / ".cache" / "ictp_calc" / "lammps"))
        tag = f"py{sys.version_info[0]}{sys.version_info[1]}"
        candidate = cache / f"build-{tag}" / "lmp"
        lmp = str(candidate) if (candidate.parent / ".ictp-built").is_file() else None
    if lmp is None or not os.access(lmp, os.X_OK):
        return None
    build = Path(lmp).parent
    stamp = build / ".ictp-built"
    python_dir = os.environ.get("ICTP_LAMMPS_PYTHON_DIR")
    if python_dir is None and stamp.is_file():
        python_dir = str(Path(stamp.read_text().strip()) / "python")
    if python_dir is None:
        return None
    return {"lmp": lmp, "python_dir": python_dir, "build": str(build)}


SKIP_REASON = (
    "LAMMPS with ML-IAP unified is not built on this machine: run `eval \"$(bash tools/build_lammps.sh)\"` "
    "(.ci/run does) to run these tests"
)


def lammps_env(found: Dict[str, str]) -> Dict[str, str]:
    env = dict(os.environ)
    paths = [str(REPO), sysconfig.get_paths()["purelib"], found["python_dir"]]
    env["PYTHONPATH"] = os.pathsep.join(paths + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    libs = [found["build"], sysconfig.get_config_var("LIBDIR") or ""]
    env["LD_LIBRARY_PATH"] = os.pathsep.join(libs + ([env["LD_LIBRARY_PATH"]] if env.get("LD_LIBRARY_PATH") else []))
    env.update(OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
    return env


def write_data(path: Path, atoms, velocities: bool = False) -> None:
    with open(path, "w") as handle:
        write_lammps_data(handle, atoms, specorder=SPECORDER, masses=True, velocities=velocities, units="metal")


def run_lammps(found, workdir: Path, script: str, n_ranks: int = 1, timeout: float = 600):
    """Run ``script`` in ``workdir``; returns the CompletedProcess (stdout and stderr together)."""
    (workdir / "in.lammps").write_text(script)
    command = [found["lmp"], "-in", "in.lammps", "-log", "log.lammps", "-screen", "none"]
    if n_ranks > 1:
        mpiexec = os.environ.get("ICTP_LAMMPS_MPIEXEC", "mpiexec")
        command = [mpiexec, "-n", str(n_ranks)] + command
    return subprocess.run(
        command, cwd=workdir, env=lammps_env(found), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=timeout,
    )


def header(model_pkl, comm_cutoff: float, skin: float, ghost_neighbors: bool = True, elements=SPECORDER) -> str:
    flag = " 1" if ghost_neighbors else ""
    comm = f"comm_modify cutoff {comm_cutoff}\n" if comm_cutoff else ""
    return (
        "units metal\natom_style atomic\natom_modify map array\nboundary p p p\nread_data data.lmp\n"
        f"neighbor {skin} bin\n{comm}pair_style mliap unified {model_pkl}{flag}\n"
        f"pair_coeff * * {' '.join(elements)}\n"
    )


SINGLE_POINT = """compute pea all pe/atom
compute vir all pressure NULL virial
thermo_style custom step pe c_vir[1] c_vir[2] c_vir[3] c_vir[4] c_vir[5] c_vir[6]
dump d all custom 1 forces.dump id fx fy fz c_pea
dump_modify d sort id format float %.17g
run 0
print "$(pe:%.17g) VIRIAL $(vol:%.17g)" file result.txt
""".replace("VIRIAL", " ".join(f"$(c_vir[{i}]:%.17g)" for i in range(1, 7)))


def read_single_point(workdir: Path, n_atoms: int):
    """``energy, per-atom energies [N], forces [N, 3], virial [3, 3]`` (eV, Å; virial sum r (x) f)."""
    values = np.loadtxt(workdir / "result.txt")
    energy, pressure, volume = values[0], values[1:7], values[7]
    xx, yy, zz, xy, xz, yz = pressure * volume / NKTV2P_METAL
    virial = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    lines = (workdir / "forces.dump").read_text().splitlines()
    start = lines.index(next(line for line in lines if line.startswith("ITEM: ATOMS"))) + 1
    table = np.array([[float(v) for v in line.split()] for line in lines[start : start + n_atoms]])
    assert np.array_equal(table[:, 0], np.arange(1, n_atoms + 1))
    return energy, table[:, 4], table[:, 1:4], virial
