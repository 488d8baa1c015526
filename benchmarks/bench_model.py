"""Time one energy + forces evaluation of an ICTP model, optionally next to MACE.

Each run measures one system in its own process, so the process's peak resident memory
(``ru_maxrss``) is the memory figure. The systems are built in code and are deterministic:

* ``3bpa``: one 3-(benzyloxy)pyridin-2-amine molecule (C12H12N2O, 27 atoms, no cell);
* ``box1k`` / ``box8k``: periodic cubic boxes of 37 / 296 randomly rotated and placed 3BPA
  molecules (999 / 7992 atoms) at 1 g/cm^3. No two atoms of different molecules, periodic
  images included, are closer than 1.5 Å.

Both model sizes have 2 layers, a 5 Å cutoff, 8 Bessel functions, a [64, 64, 64] radial MLP,
correlation order 3 and random weights; ``avg_n_neighbors`` is the system's mean neighbor count.
Both models run as their ASE calculators run them: eval mode, weights frozen
(``requires_grad=False``), forces by autograd with respect to positions only.

* ``small``: 64 channels, edge rank 2, hidden rank 1 (MACE: 64x0e+64x1o, max_ell 2);
* ``paper``: 256 channels, edge rank 3, hidden rank 2 (MACE: 256x0e+256x1o+256x2e, max_ell 3).

Usage::

    python benchmarks/bench_model.py --system 3bpa --dtype float64 --size small
    python benchmarks/bench_model.py --system box1k --dtype float32 --compare mace --repeats 3
    python benchmarks/bench_model.py --all --size small --compare mace   # table, one process per row

A run first times the ICTP model alone (``--warmup`` calls, then ``--repeats`` timed calls) and
records the peak RSS. With ``--compare mace`` (needs ``pip install -e .[bench]``) it then builds a
MACE model with matching hyperparameters, feeds it the same neighbor list, and times both models
again, alternating ICTP and MACE calls; ``ictp_s`` and ``mace_s`` are the medians of that
interleaved phase. With ``--baseline COMMIT`` this tree's model and the same weights in that commit's
package (:mod:`baseline`) are timed alternately as well (``baseline_s``; ``baseline_speedup`` is
``baseline_s / ictp_s``), in the MACE phase when there is one. With ``--compile BACKEND`` it compiles the padded graph
(:class:`ictp_calc.inference.CompiledPotential`; ``compile_s`` is the first, compiling call) and
times eager and compiled calls interleaved (``ictp_s``, ``compiled_s``); with ``--compare mace`` as
well, the compiled calls join the interleaved MACE phase (``compiled_speedup`` is ``mace_s /
compiled_s``). The last line printed is a JSON object with the keys ``system``, ``dtype``, ``size``,
``n_atoms``, ``ictp_s``, ``ictp_peak_mb``, ``mace_s``, ``speedup`` (``mace_s / ictp_s``), ``threads``,
``compiled_s``, ``compile_s`` and ``compiled_speedup``.
Timings are wall-clock seconds per call; memory is in MiB.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from typing import Callable, Dict, List, Optional, Sequence  # noqa: E402

import click  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from ase import Atoms  # noqa: E402

from ictp_calc import keys  # noqa: E402
from ictp_calc.data import atoms_to_graph  # noqa: E402
from ictp_calc.inference import CompiledPotential  # noqa: E402
from ictp_calc.model import DTYPES, ModelConfig, build_model, compute_properties  # noqa: E402

SYSTEMS = ("3bpa", "box1k", "box8k")
SIZES = ("small", "paper")
ELEMENTS = (1, 6, 7, 8)  # H, C, N, O: the models' species order
CUTOFF = 5.0
N_MOLECULES = {"box1k": 37, "box8k": 296}
DENSITY = 1.0  # g/cm^3
MIN_DISTANCE = 1.5  # Å, between atoms of different molecules
AVOGADRO = 6.02214076e23

# 3-(benzyloxy)pyridin-2-amine, Å. Idealized geometry: planar pyridine ring (N1, C2..C6) with the
# amine on C2 and the ether oxygen on C3; the CH2 group lies in the ring plane, syn to C4, and the
# phenyl ring stands perpendicular to that plane.
BPA_GEOMETRY = (
    ("N", 3.328, -2.561, 0.000),  # N1 (pyridine)
    ("C", 2.633, -1.357, 0.000),  # C2
    ("C", 1.243, -1.357, 0.000),  # C3
    ("C", 0.548, -2.561, 0.000),  # C4
    ("C", 1.243, -3.764, 0.000),  # C5
    ("C", 2.633, -3.764, 0.000),  # C6
    ("N", 3.313, -0.179, 0.000),  # amine N on C2
    ("H", 4.323, -0.179, 0.000),
    ("H", 2.808, 0.696, 0.000),
    ("H", -0.532, -2.561, 0.000),  # H on C4
    ("H", 0.703, -4.700, 0.000),  # H on C5
    ("H", 3.173, -4.700, 0.000),  # H on C6
    ("O", 0.558, -0.170, 0.000),  # ether O on C3
    ("C", -0.870, -0.245, 0.000),  # CH2
    ("C", -1.444, 1.141, 0.000),  # phenyl ipso C
    ("H", -1.207, -0.777, 0.890),  # CH2 hydrogens
    ("H", -1.207, -0.777, -0.890),
    ("C", -1.710, 1.783, -1.204),  # phenyl ortho, meta, para, meta, ortho
    ("C", -2.242, 3.067, -1.204),
    ("C", -2.508, 3.709, 0.000),
    ("C", -2.242, 3.067, 1.204),
    ("C", -1.710, 1.783, 1.204),
    ("H", -1.504, 1.284, -2.139),
    ("H", -2.449, 3.566, -2.139),
    ("H", -2.922, 4.707, 0.000),
    ("H", -2.449, 3.566, 2.139),
    ("H", -1.504, 1.284, 2.139),
)


# --------------------------------------------------------------------------------------------
# Systems
# --------------------------------------------------------------------------------------------


def bpa_molecule() -> Atoms:
    """One 3BPA molecule centred at the origin, without cell or periodicity."""
    symbols = [row[0] for row in BPA_GEOMETRY]
    positions = np.array([row[1:] for row in BPA_GEOMETRY], dtype=float)
    return Atoms(symbols, positions=positions - positions.mean(0))


def random_rotations(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` uniformly distributed rotation matrices ``[n, 3, 3]`` (from random unit quaternions)."""
    q = rng.normal(size=(n, 4))
    w, x, y, z = (q / np.linalg.norm(q, axis=1, keepdims=True)).T
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    return np.stack([np.stack(row, -1) for row in rows], -2)


class OccupancyGrid:
    """Voxels of a periodic cubic box that a new atom must not fall into.

    A voxel is marked when its centre lies within ``min_distance + half voxel diagonal`` of a placed
    atom, so an atom in an unmarked voxel is at least ``min_distance`` from every placed atom,
    periodic images included (the effective exclusion radius is at most ``min_distance + 0.17 Å``).
    """

    def __init__(self, length: float, min_distance: float, voxel: float = 0.2):
        self.n = int(np.ceil(length / voxel))
        self.voxel = length / self.n
        self.occupied = np.zeros((self.n,) * 3, dtype=bool)
        self.reach = min_distance + 0.5 * np.sqrt(3.0) * self.voxel
        r = int(np.ceil(self.reach / self.voxel)) + 1
        self._stencil = np.stack(np.meshgrid(*[np.arange(-r, r + 1)] * 3, indexing="ij"), -1).reshape(-1, 3)

    def index(self, positions: np.ndarray) -> np.ndarray:
        """Unwrapped integer voxel coordinates of positions ``[..., 3]``."""
        return np.floor(positions / self.voxel).astype(np.int64)

    def fits(self, positions: np.ndarray) -> np.ndarray:
        """For poses ``[B, A, 3]``: ``[B]`` True where no atom falls into a marked voxel."""
        idx = self.index(positions) % self.n
        return ~self.occupied[idx[..., 0], idx[..., 1], idx[..., 2]].any(-1)

    def free_offsets(self, body: np.ndarray) -> np.ndarray:
        """Every voxel corner ``c`` where ``c * voxel + body`` fits, as flat voxel indices.

        With the origin on a voxel corner, atom ``a`` lands in voxel ``c + floor(body_a / voxel)``
        exactly, so the test is an OR of shifted copies of the grid.
        """
        blocked = np.zeros_like(self.occupied)
        for step in self.index(body):
            blocked |= np.roll(self.occupied, tuple(-step), axis=(0, 1, 2))
        return np.flatnonzero(~blocked)

    def add(self, positions: np.ndarray) -> None:
        """Mark the voxels around newly placed atoms ``[A, 3]``."""
        cells = self.index(positions)[:, None, :] + self._stencil[None]  # [A, S, 3]
        centres = (cells + 0.5) * self.voxel
        near = ((centres - positions[:, None, :]) ** 2).sum(-1) < self.reach**2
        cells = cells[near] % self.n
        self.occupied[cells[:, 0], cells[:, 1], cells[:, 2]] = True


def pack_molecules(
    molecule: Atoms,
    n_molecules: int,
    density: float = DENSITY,
    min_distance: float = MIN_DISTANCE,
    seed: int = 0,
    batch: int = 512,
    random_batches: int = 4,
) -> Atoms:
    """A periodic cubic box of randomly rotated and placed copies of ``molecule``.

    The box length gives ``density`` (g/cm^3). Each molecule first tries ``random_batches`` batches
    of random poses (rotation + position); if none fits, random rotations are scanned over every
    voxel-corner position until one fits. Deterministic for a given ``seed``.
    """
    rng = np.random.default_rng(seed)
    mass_g = molecule.get_masses().sum() * n_molecules / AVOGADRO
    length = (mass_g / density * 1e24) ** (1.0 / 3.0)  # Å
    grid = OccupancyGrid(length, min_distance)
    body = molecule.positions - molecule.positions.mean(0)
    placed: List[np.ndarray] = []
    for _ in range(n_molecules):
        pose = None
        for _ in range(random_batches):
            rotations = random_rotations(rng, batch)
            poses = np.einsum("bij,aj->bai", rotations, body) + rng.uniform(0.0, length, (batch, 1, 3))
            ok = np.flatnonzero(grid.fits(poses))
            if len(ok):
                pose = poses[ok[0]]
                break
        while pose is None:
            rotated = body @ random_rotations(rng, 1)[0].T
            free = grid.free_offsets(rotated)
            if len(free):
                corner = np.array(np.unravel_index(rng.choice(free), grid.occupied.shape))
                pose = corner * grid.voxel + rotated
        grid.add(pose)
        placed.append(pose)
    box = Atoms(
        list(molecule.symbols) * n_molecules, positions=np.concatenate(placed), cell=[length] * 3, pbc=True
    )
    box.wrap()
    return box


def build_system(name: str, seed: int = 0) -> Atoms:
    """The named benchmark system (see the module docstring)."""
    if name == "3bpa":
        return bpa_molecule()
    return pack_molecules(bpa_molecule(), N_MOLECULES[name], seed=seed)


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------

# Per size: channels, edge rank (MACE max_ell), hidden rank (MACE max_L).
SIZE_PARAMS = {"small": (64, 2, 1), "paper": (256, 3, 2)}


def ictp_config(size: str, dtype: str, avg_n_neighbors: float) -> ModelConfig:
    channels, l_edge, l_hidden = SIZE_PARAMS[size]
    return ModelConfig(
        atomic_numbers=ELEMENTS,
        cutoff=CUTOFF,
        n_basis=8,
        n_polynomial_cutoff=5,
        radial_mlp=(64, 64, 64),
        readout_mlp=(16,),
        n_hidden_feats=channels,
        n_product_feats=channels,
        n_interactions=2,
        l_max_hidden_feats=l_hidden,
        l_max_edge_attrs=l_edge,
        correlation=3,
        avg_n_neighbors=avg_n_neighbors,
        dtype=dtype,
    )


def build_ictp(size: str, dtype: str, avg_n_neighbors: float, seed: int = 0) -> torch.nn.Module:
    # Frozen weights: the inference setting of ICTPCalculator (and of MACECalculator below).
    return build_model(ictp_config(size, dtype, avg_n_neighbors), seed=seed).eval().requires_grad_(False)


def build_mace(size: str, dtype: str, avg_n_neighbors: float, seed: int = 0) -> torch.nn.Module:
    """ScaleShiftMACE with MACE's default blocks and hyperparameters matching ``size``.

    Built with torch's default dtype, then cast, so no global setting changes; the global RNG is
    restored afterwards.
    """
    # mace first: its __init__ sets TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD, without which e3nn 0.4 fails
    # to import under torch >= 2.6.
    with warnings.catch_warnings():  # e3nn's and TorchScript's UserWarnings on import and build
        warnings.simplefilter("ignore", UserWarning)
        return _build_mace(size, dtype, avg_n_neighbors, seed)


def _build_mace(size: str, dtype: str, avg_n_neighbors: float, seed: int) -> torch.nn.Module:
    from mace.modules import ScaleShiftMACE, gate_dict, interaction_classes
    from e3nn import o3  # isort: skip

    channels, l_edge, l_hidden = SIZE_PARAMS[size]
    parities = "eo"
    hidden_irreps = "+".join(f"{channels}x{l}{parities[l % 2]}" for l in range(l_hidden + 1))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = ScaleShiftMACE(
            r_max=CUTOFF,
            num_bessel=8,
            num_polynomial_cutoff=5,
            max_ell=l_edge,
            interaction_cls=interaction_classes["RealAgnosticResidualInteractionBlock"],
            interaction_cls_first=interaction_classes["RealAgnosticInteractionBlock"],
            num_interactions=2,
            num_elements=len(ELEMENTS),
            hidden_irreps=o3.Irreps(hidden_irreps),
            MLP_irreps=o3.Irreps("16x0e"),
            atomic_energies=np.zeros(len(ELEMENTS)),
            avg_num_neighbors=avg_n_neighbors,
            atomic_numbers=list(ELEMENTS),
            correlation=3,
            gate=gate_dict["silu"],
            radial_MLP=[64, 64, 64],
            atomic_inter_scale=1.0,
            atomic_inter_shift=0.0,
        )
    return model.to(DTYPES[dtype]).eval().requires_grad_(False)


def mace_inputs(graph: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """MACE's batch dictionary for a one-structure ICTP graph, with the same edges.

    ICTP's edge ``(i, j, S)`` has vector ``x_i - x_j - S @ cell``; MACE reads ``edge_index[0]`` as
    sender and ``edge_index[1]`` as receiver with vector ``x_recv - x_send + shift``. The same
    ``(i, j, S)`` triple therefore reads directly as a MACE edge ``i -> j`` with ``shift = S @ cell``
    (matscipy's ``ijS`` convention, which both codes use).
    """
    cell = graph[keys.CELL][0]
    unit_shifts = graph[keys.CELL_SHIFTS]
    n_atoms = graph[keys.POSITIONS].shape[0]
    dtype = graph[keys.POSITIONS].dtype
    return {
        "positions": graph[keys.POSITIONS].detach().clone(),
        "node_attrs": torch.nn.functional.one_hot(graph[keys.SPECIES], len(ELEMENTS)).to(dtype),
        "edge_index": graph[keys.EDGE_INDEX],
        "shifts": unit_shifts @ cell,
        "unit_shifts": unit_shifts,
        "cell": cell,
        "batch": torch.zeros(n_atoms, dtype=torch.long),
        "ptr": torch.tensor([0, n_atoms], dtype=torch.long),
    }


# --------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """High-water mark of this process's resident memory, MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def time_calls(
    calls: Sequence[Callable[[], object]], repeats: int, warmup: int, sync: Callable[[], None] = lambda: None
) -> List[List[float]]:
    """Seconds per call for each callable; calls alternate (a, b, a, b, ...) after ``warmup`` rounds.

    ``sync`` waits for queued device work (``torch.cuda.synchronize`` on a GPU), before and after
    each timed call, so a call's time includes its kernels.
    """
    for _ in range(warmup):
        for call in calls:
            call()
    times: List[List[float]] = [[] for _ in calls]
    for _ in range(repeats):
        for call, record in zip(calls, times):
            sync()
            start = time.perf_counter()
            call()
            sync()
            record.append(time.perf_counter() - start)
    return times


def describe(name: str, seconds: Sequence[float]) -> str:
    return f"{name}: median {statistics.median(seconds):.4f} s, min {min(seconds):.4f} s over {len(seconds)} calls"


def check_forces(name: str, out: Dict[str, torch.Tensor], n_atoms: int) -> None:
    forces = out["forces"]
    if forces is None or forces.shape != (n_atoms, 3) or not bool(torch.isfinite(forces).all()):
        raise RuntimeError(f"{name} returned no finite forces of shape ({n_atoms}, 3)")


def run_benchmark(
    system: str,
    dtype: str,
    size: str,
    repeats: int,
    warmup: int,
    compare: Optional[str],
    seed: int = 0,
    compare_repeats: Optional[int] = None,
    compile_backend: Optional[str] = None,
    baseline: Optional[str] = None,
    device: str = "cpu",
    compile_mode: Optional[str] = None,
) -> Dict[str, object]:
    """Build, time and report one system; prints a summary and returns the result record."""
    start = time.perf_counter()
    atoms = build_system(system, seed=seed)
    graph = atoms_to_graph(atoms, ELEMENTS, CUTOFF, dtype=DTYPES[dtype])
    on_gpu = torch.device(device).type == "cuda"
    sync = torch.cuda.synchronize if on_gpu else (lambda: None)
    n_atoms, n_edges = len(atoms), graph[keys.EDGE_INDEX].shape[1]
    avg_neighbors = n_edges / n_atoms
    print(f"system {system}: {n_atoms} atoms, {n_edges} edges, {avg_neighbors:.2f} neighbors per atom (< {CUTOFF} Å)")
    if atoms.pbc.all():
        density = atoms.get_masses().sum() / AVOGADRO / (atoms.get_volume() * 1e-24)
        print(f"  cubic box {atoms.cell[0, 0]:.3f} Å, {density:.3f} g/cm^3")
    elapsed = time.perf_counter() - start
    print(f"  built in {elapsed:.1f} s; torch {torch.__version__}, {torch.get_num_threads()} threads")

    mace_data = mace_inputs(graph) if compare == "mace" else None  # from the CPU graph, moved below
    graph = {k: v.to(device) for k, v in graph.items()}
    model = build_ictp(size, dtype, avg_neighbors, seed=seed).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"ICTP {size} {dtype}: {n_params} parameters")
    if on_gpu:
        print(f"  device {torch.cuda.get_device_name(device)}")
    rss_before = peak_rss_mb()

    def ictp_call():
        return compute_properties(model, graph, forces=True)

    check_forces("ICTP", ictp_call(), n_atoms)
    (ictp_alone,) = time_calls([ictp_call], repeats, max(warmup - 1, 0), sync)
    ictp_peak = peak_rss_mb()
    print("  " + describe("ICTP alone", ictp_alone))
    increase = ictp_peak - rss_before
    print(f"  peak RSS {ictp_peak:.1f} MiB ({increase:+.1f} MiB over the {rss_before:.1f} MiB before the first call)")
    gpu_peak = None
    if on_gpu:  # peak GPU memory of the ICTP calls alone (nothing else is allocated on the device yet)
        gpu_peak = torch.cuda.max_memory_allocated(device) / 2**20
        print(f"  peak GPU memory {gpu_peak:.1f} MiB")
    ictp_s, mace_s = statistics.median(ictp_alone), None
    compiled_s = compile_s = None
    if compile_backend:  # the padded graph compiled once; then eager and compiled calls interleaved
        potential = CompiledPotential(model, backend=compile_backend, mode=compile_mode)
        potential.prepare(graph)
        start = time.perf_counter()
        check_forces("ICTP compiled", potential(graph), n_atoms)
        compile_s = time.perf_counter() - start
        print(f"  compiled ({compile_backend}, mode {compile_mode}) in {compile_s:.1f} s (first call)")
        eager_times, compiled_times = time_calls(
            [ictp_call, lambda: potential(graph)], repeats, max(warmup - 1, 0), sync
        )
        print("  " + describe("ICTP eager, interleaved", eager_times))
        print("  " + describe("ICTP compiled, interleaved", compiled_times))
        ictp_s, compiled_s = statistics.median(eager_times), statistics.median(compiled_times)

    calls, baseline_s = {}, None
    if baseline:
        from baseline import baseline_model, import_baseline

        old = import_baseline(baseline)
        old_model = baseline_model(old, model)

        def baseline_call():
            return old.model.compute_properties(old_model, graph, forces=True)

        check_forces(f"ICTP at {baseline}", baseline_call(), n_atoms)
        calls[f"ICTP at {baseline}"] = baseline_call
    if compare == "mace":
        mace = build_mace(size, dtype, avg_neighbors, seed=seed).to(device)
        data = {k: v.to(device) for k, v in mace_data.items()}
        print(f"MACE {size} {dtype}: {sum(p.numel() for p in mace.parameters())} parameters")

        def mace_call():
            return mace(data, compute_force=True)

        check_forces("MACE", mace_call(), n_atoms)
        calls["MACE"] = mace_call
        if compile_backend:
            calls["ICTP compiled"] = lambda: potential(graph)
    if calls:
        times = time_calls([ictp_call, *calls.values()], compare_repeats or repeats, max(warmup - 1, 0), sync)
        ictp_s = statistics.median(times[0])
        print("  " + describe("ICTP interleaved", times[0]))
        for name, seconds in zip(calls, times[1:]):
            print("  " + describe(f"{name} interleaved", seconds))
            if name == "MACE":
                mace_s = statistics.median(seconds)
                print(f"  speedup (MACE / ICTP): {mace_s / ictp_s:.2f}")
            elif name == "ICTP compiled":
                compiled_s = statistics.median(seconds)
                print(f"  speedup (MACE / ICTP compiled): {mace_s / compiled_s:.2f}")
            else:
                baseline_s = statistics.median(seconds)
                print(f"  speedup (ICTP at {baseline} / ICTP): {baseline_s / ictp_s:.2f}")

    return {
        "system": system,
        "dtype": dtype,
        "size": size,
        "n_atoms": n_atoms,
        "ictp_s": ictp_s,
        "ictp_peak_mb": round(ictp_peak, 1),
        "mace_s": mace_s,
        "speedup": None if mace_s is None else mace_s / ictp_s,
        "threads": torch.get_num_threads(),
        "device": device,
        "gpu_peak_mb": None if gpu_peak is None else round(gpu_peak, 1),
        "compiled_s": compiled_s,
        "compile_s": compile_s,
        "compile_mode": compile_mode,
        "compiled_speedup": None if mace_s is None or compiled_s is None else mace_s / compiled_s,
        "baseline": baseline,
        "baseline_s": baseline_s,
        "baseline_speedup": None if baseline_s is None else baseline_s / ictp_s,
    }


# --------------------------------------------------------------------------------------------
# Table of runs, one process each
# --------------------------------------------------------------------------------------------


def run_table(combos, extra_args: List[str]) -> List[Dict[str, object]]:
    """Run each ``(system, dtype, size)`` in a fresh process; return their JSON records."""
    rows = []
    for system, dtype, size in combos:
        cmd = [sys.executable, os.path.abspath(__file__), "--system", system, "--dtype", dtype, "--size", size]
        print(f"$ {' '.join(cmd[1:] + extra_args)}", flush=True)
        proc = subprocess.run(cmd + extra_args, capture_output=True, text=True)
        lines = proc.stdout.strip().splitlines()
        print("\n".join(lines[:-1]), flush=True)
        if proc.returncode != 0 or not lines:
            print(proc.stderr[-2000:], file=sys.stderr)
            rows.append({"system": system, "dtype": dtype, "size": size, "error": f"exit {proc.returncode}"})
        else:
            rows.append(json.loads(lines[-1]))
    return rows


def markdown_table(rows: List[Dict[str, object]]) -> str:
    def fmt(value, spec):
        return "–" if value is None else format(value, spec)

    out = [
        "| system | dtype | size | atoms | threads | ICTP (s) | compiled (s) | compile (s) | ICTP peak (MiB) "
        "| MACE (s) | speedup |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['system']} | {r['dtype']} | {r['size']} | {r['error']} | | | | |")
            continue
        out.append(
            f"| {r['system']} | {r['dtype']} | {r['size']} | {r['n_atoms']} | {r.get('threads', '–')} "
            f"| {fmt(r['ictp_s'], '.4f')} | {fmt(r.get('compiled_s'), '.4f')} | {fmt(r.get('compile_s'), '.1f')} "
            f"| {fmt(r['ictp_peak_mb'], '.0f')} | {fmt(r['mace_s'], '.4f')} | {fmt(r['speedup'], '.2f')} |"
        )
    return "\n".join(out)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--system", "systems", type=click.Choice(SYSTEMS), multiple=True, help="System (default 3bpa).")
@click.option("--dtype", "dtypes", type=click.Choice(sorted(DTYPES)), multiple=True, help="Default float64.")
@click.option("--size", "sizes", type=click.Choice(SIZES), multiple=True, help="Model size (default small).")
@click.option("--repeats", default=10, show_default=True, type=click.IntRange(1), help="Timed calls per model.")
@click.option("--warmup", default=2, show_default=True, type=click.IntRange(1), help="Untimed calls per model.")
@click.option("--compare", type=click.Choice(["mace"]), default=None, help="Also time MACE, interleaved.")
@click.option(
    "--compare-repeats", type=click.IntRange(1), default=None, help="Interleaved calls per model (default --repeats)."
)
@click.option("--threads", type=click.IntRange(1), default=None, help="torch.set_num_threads (default: torch's).")
@click.option("--seed", default=0, show_default=True, help="Seed of the box packing and the random weights.")
@click.option("--device", default="cpu", show_default=True, help="Where both models run (cpu, cuda, cuda:N).")
@click.option("--compile", "compile_backend", default=None, metavar="BACKEND",
              help="Also time the compiled path (CompiledPotential; e.g. inductor), interleaved with eager.")
@click.option("--compile-mode", default=None, metavar="MODE",
              help="torch.compile mode of --compile, e.g. reduce-overhead (CUDA graphs on a GPU).")
@click.option("--baseline", default=None, metavar="COMMIT",
              help="Also time the same weights in that git commit's package, interleaved (before/after).")
@click.option(
    "--all",
    "run_all",
    is_flag=True,
    help="Run every combination of the given (or, where none is given, all) systems, dtypes and sizes, "
    "each in its own process, and print a markdown table.",
)
def main(
    systems, dtypes, sizes, repeats, warmup, compare, compare_repeats, threads, seed, device, compile_backend,
    compile_mode, baseline, run_all,
):
    """Benchmark one ICTP energy + forces evaluation (see the module docstring)."""
    if run_all:
        combos = [
            (s, d, z)
            for s in systems or SYSTEMS
            for z in sizes or SIZES
            for d in dtypes or sorted(DTYPES)
        ]
        extra = ["--repeats", str(repeats), "--warmup", str(warmup), "--seed", str(seed), "--device", device]
        extra += ["--compare", compare] if compare else []
        extra += ["--compare-repeats", str(compare_repeats)] if compare_repeats else []
        extra += ["--threads", str(threads)] if threads else []
        extra += ["--compile", compile_backend] if compile_backend else []
        extra += ["--compile-mode", compile_mode] if compile_mode else []
        extra += ["--baseline", baseline] if baseline else []
        print(markdown_table(run_table(combos, extra)))
        return
    if max(len(systems), len(dtypes), len(sizes)) > 1:
        raise click.UsageError("give --system, --dtype and --size once each, or use --all")
    if threads:
        torch.set_num_threads(threads)
    result = run_benchmark(
        systems[0] if systems else "3bpa",
        dtypes[0] if dtypes else "float64",
        sizes[0] if sizes else "small",
        repeats,
        warmup,
        compare,
        seed=seed,
        compare_repeats=compare_repeats,
        compile_backend=compile_backend,
        baseline=baseline,
        device=device,
        compile_mode=compile_mode,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
