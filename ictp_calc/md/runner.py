"""``run_md``: one MD run (or the continuation of one) from settings to files.

The loop per step: integrator step (one model evaluation) -> health check -> frame and log row
every ``interval`` steps -> checkpoint every ``checkpoint_interval`` steps -> progress line. The
driver's own work per step is a few O(N) NumPy operations, small next to a model evaluation.

Ctrl-C (SIGINT) and SIGTERM (sent by batch schedulers) are caught between steps: the run writes a
checkpoint of the last complete step, marks the manifest ``interrupted`` and raises
:class:`~ictp_calc.md.errors.RunInterrupted` (exit code 130 or 143), so ``--restart`` continues it
exactly.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, TextIO

import numpy as np

from ..inference import CompileFailedError
from ..io import file_checksum
from .analysis import energy_drift
from .ensembles import build_dynamics, conserved_energy, get_state, set_state
from .errors import HealthStop, InputError, RestartError, RunInterrupted
from .health import HealthMonitor, stop_from_calculator_error
from .inputs import attach_calculator, make_calculator, read_structure
from .outputs import OUTPUT_FILES, LogWriter, TrajectoryWriter, log_columns, now, read_log, trajectory_path
from .outputs import truncate_outputs, versions, write_json
from .progress import Progress, ns_per_day
from .restart import Checkpoint, checkpoint_path, load_checkpoint, save_checkpoint
from .settings import MDSettings
from .velocities import initialize_velocities

__all__ = ["MDResult", "run_md"]


@dataclass
class MDResult:
    """What a finished run reports.

    Attributes:
        first_step, last_step: the step range of this segment (a restart starts after step 0).
        wall_s: seconds of the step loop; steps_per_s, ns_per_day: its throughput.
        drift_meV_per_atom_ps: NVE only: fitted drift of the total energy over the whole run.
        paths: ``trajectory``, ``log``, ``manifest``, ``checkpoint``.
    """

    first_step: int
    last_step: int
    n_atoms: int
    wall_s: float
    steps_per_s: float
    ns_per_day: float
    drift_meV_per_atom_ps: Optional[float]
    paths: Dict[str, str] = field(default_factory=dict)


class _SignalFlag:
    """Turns the first SIGINT or SIGTERM into a flag checked between steps; a second Ctrl-C interrupts
    at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, enabled: bool):
        self.signum: Optional[int] = None
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self._previous: Dict[int, Any] = {}

    @property
    def raised(self) -> bool:
        return self.signum is not None

    def __enter__(self):
        if self.enabled:
            self._previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}
        return self

    def _handle(self, signum, frame):
        self.signum = signum
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(self, *exc):
        if self.enabled:
            for sig, previous in self._previous.items():
                signal.signal(sig, previous)


def _prepare_dir(settings: MDSettings, restart: bool, overwrite: bool) -> bool:
    """Create (or check) the output directory; returns whether it was created now.

    Only a checkpoint makes a directory "hold a run": outputs of a run killed before its first
    checkpoint cannot be continued, so a plain rerun replaces them (and ``--restart`` says so).
    """
    out = settings.output_dir
    created = not os.path.isdir(out)
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot create the output directory {out!r}: {err.strerror or err}") from err
    if not os.access(out, os.W_OK | os.X_OK):
        raise InputError(
            f"cannot write to the output directory {out!r} (permission denied); choose another --output-dir"
        )
    if restart:
        return created
    if os.path.exists(checkpoint_path(out)) and not overwrite:
        raise InputError(
            f"{out} already holds a run ({OUTPUT_FILES['checkpoint']}); continue it with --restart, "
            "or pass --overwrite, or choose another --output-dir"
        )
    return created


def _restore(atoms, checkpoint: Checkpoint, calc, structure_sha: str) -> None:
    """Put the checkpoint's dynamical state into ``atoms`` (read from the structure file) and ``calc``."""
    if checkpoint.structure_sha256 != structure_sha or checkpoint.model_sha256 != getattr(calc, "model_checksum", None):
        raise RestartError("the structure or model file differs from the one the checkpoint was made with")
    if not np.array_equal(checkpoint.atoms.numbers, atoms.numbers):
        raise RestartError("the checkpoint's atoms do not match the structure file")
    # The file's Atoms keep masses, tags and info; the checkpoint supplies the dynamical state.
    atoms.set_cell(checkpoint.atoms.cell)
    atoms.set_positions(checkpoint.atoms.positions)
    atoms.set_momenta(checkpoint.atoms.get_momenta())
    neighbors = getattr(calc, "neighbors", None)  # ICTPCalculator's Verlet list: rebuild it where it was built
    if checkpoint.neighbor_build_positions is not None and neighbors is not None:
        neighbors.update(checkpoint.neighbor_build_positions, atoms.cell.array, atoms.pbc, atoms.numbers)


def _manifest(settings: MDSettings, calc, restart: bool, structure_sha: str) -> Dict[str, Any]:
    path = os.path.join(settings.output_dir, OUTPUT_FILES["manifest"])
    if restart and os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    return {
        "settings": settings.to_dict(),
        "structure_sha256": structure_sha,
        "model_path": getattr(calc, "model_path", None),
        "model_sha256": getattr(calc, "model_checksum", None),
        "calculator": type(calc).__name__,
        "seed": settings.seed,
        "segments": [],
    }


def _set_up(s: MDSettings, restart: bool, calculator, compile_fallback: bool = False):
    """Checkpoint, structure, calculator, health monitor and dynamics of a run (its inputs, checked).

    Returns:
        ``(checkpoint or None, atoms, calculator, structure_sha256, monitor, dynamics, first step)``.
    """
    checkpoint = load_checkpoint(s.output_dir) if restart else None
    if checkpoint is not None:
        s.check_restart(checkpoint.settings)
    atoms = read_structure(s.structure)
    structure_sha = file_checksum(s.structure)
    calc = calculator or make_calculator(
        s.model, device=s.device, dtype=s.dtype, skin=s.skin, min_distance=s.min_distance_A if s.health else 0.0,
        compile=s.compile, compile_fallback=compile_fallback,
    )
    monitor = HealthMonitor(atoms, s.temperature_K, s.health, s.max_temperature_factor, s.bond_stretch_factor,
                            s.timestep_fs, s.min_distance_A)
    rng = np.random.default_rng(s.seed)
    if checkpoint is not None:
        if checkpoint.step > s.steps:
            raise RestartError(f"the checkpoint is at step {checkpoint.step}, beyond the requested {s.steps} steps")
        _restore(atoms, checkpoint, calc, structure_sha)
        first = checkpoint.step
    else:
        initialize_velocities(atoms, s.temperature_K, rng)
        first = 0
    attach_calculator(atoms, calc)
    dyn = build_dynamics(atoms, s, rng)
    if checkpoint is not None:
        set_state(dyn, checkpoint.state)
    return checkpoint, atoms, calc, structure_sha, monitor, dyn, first


@dataclass
class _Run:
    """One segment of a run in progress: its inputs, writers and manifest."""

    settings: MDSettings
    atoms: Any
    calc: Any
    dyn: Any
    monitor: HealthMonitor
    structure_sha: str
    first: int
    paths: Dict[str, str]
    manifest: Dict[str, Any]
    segment: Dict[str, Any]
    trajectory: TrajectoryWriter
    log: LogWriter
    saved_step: int

    def checkpoint(self, step: int) -> None:
        s, neighbors = self.settings, getattr(self.calc, "neighbors", None)
        save_checkpoint(s.output_dir, self.atoms, step, get_state(self.dyn), s, self.structure_sha,
                        getattr(self.calc, "model_checksum", None), getattr(neighbors, "build_positions", None))
        self.saved_step = step


def _open(s: MDSettings, restart: bool, overwrite: bool, calculator, command: Optional[str],
          compile_fallback: bool = False) -> _Run:
    """Check the inputs (no directory is left behind when they fail), then open the outputs."""
    created = _prepare_dir(s, restart, overwrite)
    try:
        checkpoint, atoms, calc, structure_sha, monitor, dyn, first = _set_up(s, restart, calculator, compile_fallback)
    except InputError:
        if created and not os.listdir(s.output_dir):  # a run that fails on its inputs leaves no empty directory
            os.rmdir(s.output_dir)
        raise
    if checkpoint is not None:
        truncate_outputs(s.output_dir, s.trajectory_format, first)
    dyn.nsteps = first
    paths = {"trajectory": trajectory_path(s.output_dir, s.trajectory_format),
             "log": os.path.join(s.output_dir, OUTPUT_FILES["log"]),
             "manifest": os.path.join(s.output_dir, OUTPUT_FILES["manifest"]),
             "checkpoint": checkpoint_path(s.output_dir)}
    manifest = _manifest(s, calc, restart, structure_sha)
    segment = {"command": command or "ictp_calc.md.run_md (Python)", "started": now(), "versions": versions(),
               "device": str(getattr(calc, "device", "n/a")), "dtype": str(getattr(calc, "dtype", "n/a")),
               "first_step": first, "last_step": first, "status": "running"}
    manifest["segments"].append(segment)
    write_json(paths["manifest"], manifest)
    columns = log_columns(s.has_conserved_energy, s.ensemble == "npt")
    trajectory = TrajectoryWriter(paths["trajectory"], s.timestep_fs, append=restart)
    log = LogWriter(paths["log"], columns, s.timestep_fs, append=restart)
    return _Run(s, atoms, calc, dyn, monitor, structure_sha, first, paths, manifest, segment, trajectory, log,
                saved_step=first if restart else -1)


def _step(run: _Run, step: int) -> None:
    """One integrator step with its health check, outputs and checkpoint."""
    s, atoms, dyn = run.settings, run.atoms, run.dyn
    try:
        dyn.step()
    except CompileFailedError as err:  # compiling for a grown capacity failed (compile_fallback off)
        raise InputError(f"step {step}: {err}; --restart continues from the last checkpoint") from err
    except ValueError as err:  # the calculator's typed input errors
        stop = stop_from_calculator_error(err, step)
        if stop is None:
            raise
        raise stop from err
    dyn.nsteps = step
    run.monitor.check(atoms, step)
    run.monitor.remember(atoms, step)
    if step % s.interval == 0:
        run.trajectory.write(atoms, step)
        run.log.write(atoms, step, conserved_energy(dyn))
    if step % s.checkpoint_interval == 0:
        run.checkpoint(step)


def _loop(run: _Run, restart: bool, bar: Progress, handle_sigint: bool, last: list) -> None:
    """Steps ``first + 1 .. settings.steps``; ``last[0]`` follows the step reached."""
    if not restart:
        run.trajectory.write(run.atoms, 0)
        run.log.write(run.atoms, 0, conserved_energy(run.dyn))
    run.monitor.remember(run.atoms, run.first)
    with _SignalFlag(handle_sigint) as sigint:
        for step in range(run.first + 1, run.settings.steps + 1):
            last[0] = step  # the step reached, also when it fails (the manifest records it)
            _step(run, step)
            bar.update(step)
            if sigint.raised:
                run.checkpoint(step)
                name = signal.Signals(sigint.signum).name
                raise RunInterrupted(
                    f"interrupted by {name} at step {step}; checkpoint written, continue with --restart", sigint.signum
                )
    if run.saved_step != last[0]:
        run.checkpoint(last[0])


def _close(run: _Run, bar: Progress, step: int) -> None:
    """Close the writers and record the segment's step range and throughput in the manifest."""
    if step > run.first:
        bar.close(step)
    run.trajectory.close()
    run.log.close()
    wall = time.perf_counter() - bar.start
    rate = (step - run.first) / wall if wall > 0 else 0.0
    run.segment.update(last_step=step, finished=now(), wall_s=wall, steps_per_s=rate,
                       ns_per_day=ns_per_day(rate, run.settings.timestep_fs),
                       n_evaluations=getattr(run.calc, "n_evaluations", None),
                       compiled=getattr(run.calc, "compiled", None) is not None)
    write_json(run.paths["manifest"], run.manifest)


def run_md(
    settings: MDSettings,
    restart: bool = False,
    overwrite: bool = False,
    calculator=None,
    command: Optional[str] = None,
    progress: Optional[TextIO] = sys.stderr,
    handle_sigint: bool = True,
    compile_fallback: bool = False,
) -> MDResult:
    """Run (or continue) the MD simulation described by ``settings``; see the package docstring for files.

    Args:
        settings: the run.
        restart: continue from ``settings.output_dir``'s checkpoint up to ``settings.steps``.
        overwrite: start afresh in a directory that already holds a run.
        calculator: an ASE calculator to use instead of loading ``settings.model`` (tests, other
            potentials); device, dtype and skin are then the caller's business.
        command: the command line, recorded in the manifest.
        progress: stream for the progress line (None: silent).
        handle_sigint: turn Ctrl-C and SIGTERM into a checkpoint and :class:`RunInterrupted`.
        compile_fallback: with ``settings.compile``, evaluate eagerly where compiling fails, with a
            :class:`~ictp_calc.inference.CompileFallbackWarning` (``ICTPCalculator(compile_fallback=True)``);
            the manifest's segment records ``"compiled"``, whether the run ended on the compiled path.

    Raises:
        InputError: structure, model or settings unusable (exit code 5); RestartError for a bad restart.
        HealthStop: the health monitor stopped the run (exit code 3) after writing its files.
        RunInterrupted: Ctrl-C or SIGTERM, after writing a checkpoint (exit code 130 or 143).
    """
    run = _open(settings, restart, overwrite, calculator, command, compile_fallback)
    segment = run.segment
    bar = Progress(run.first, settings.steps, settings.timestep_fs, stream=progress)
    last = [run.first]
    try:
        _loop(run, restart, bar, handle_sigint, last)
        segment["status"] = "completed"
    except HealthStop as stop:
        run.monitor.report(stop, run.atoms, settings.output_dir)
        segment["status"] = f"health_stop: {stop.reason}"
        raise
    except RunInterrupted as stop:
        segment["status"] = f"interrupted: {signal.Signals(stop.signum).name}"
        raise
    except BaseException as err:
        segment["status"] = f"failed: {type(err).__name__}"
        raise
    finally:
        _close(run, bar, last[0])
    drift = energy_drift(read_log(run.paths["log"]), len(run.atoms)) if settings.ensemble == "nve" else None
    if drift is not None:
        segment["nve_drift_meV_per_atom_ps"] = drift
        write_json(run.paths["manifest"], run.manifest)
    return MDResult(run.first, last[0], len(run.atoms), segment["wall_s"], segment["steps_per_s"],
                    segment["ns_per_day"], drift, run.paths)
