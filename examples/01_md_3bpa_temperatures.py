"""Example 01: Langevin MD of 3BPA at 300, 600 and 1200 K with the shipped model.

The 3BPA benchmark (Kovács et al., J. Chem. Theory Comput. 17, 7696 (2021)) trains on 300 K
structures and tests at 600 and 1200 K, where the molecule explores dihedral angles it never
visited in the training data. This script runs NVT trajectories (one per temperature and seed)
through the library behind ``ictp-md run`` and reports, per temperature:

* how many runs stayed intact (the health monitor did not stop the run, and every bond of the
  starting structure is shorter than 1.5 times its starting length in every frame);
* the mean temperature after the first 10 % of each run (equilibration), averaged over the runs;
* the distribution of the three backbone dihedrals (see ``bpa_dihedrals.py``), pooled over the
  intact runs,

and draws a summary plot (``summary.png``) next to ``summary.json``. Each run writes its own folder
``<T>K_seed<s>/`` (log, trajectory, manifest, and ``report.json``, its entry of the summary). With
``--reuse`` a run whose ``report.json`` exists is read instead of run again: split the seeds over
several processes (one per core, the same ``--output-dir``), then summarize them all with one more
call with every seed and ``--reuse``.

Usage (from the repository root; about 12 minutes per 10 ps run on one laptop CPU core)::

    python examples/01_md_3bpa_temperatures.py                      # 10 ps per temperature, seed 0
    python examples/01_md_3bpa_temperatures.py --seeds 0 1 2 3      # 4 runs per temperature
    python examples/01_md_3bpa_temperatures.py --time-ps 50 --device cuda
    python examples/01_md_3bpa_temperatures.py --short --model tiny.pt   # seconds; used by the tests
    taskset -c 0 python examples/01_md_3bpa_temperatures.py --seeds 0 1 &   # two cores: half the seeds each,
    taskset -c 1 python examples/01_md_3bpa_temperatures.py --seeds 2 3     # then the summary of all four
    python examples/01_md_3bpa_temperatures.py --seeds 0 1 2 3 --reuse

The same run from the shell, for one temperature::

    ictp-md run examples/data/3bpa_start.xyz --temperature-K 600 --time-ps 10 --output-dir md_600K
"""

import argparse
import json
import os
import sys

import numpy as np
from ase.io import read

from bpa_dihedrals import NAMES, backbone_dihedrals, dihedral, is_intact
from ictp_calc.md import HealthStop, MDSettings, default_model_path, run_md
from ictp_calc.md.analysis import temperature_summary
from ictp_calc.md.outputs import read_log

HERE = os.path.dirname(os.path.abspath(__file__))
START = os.path.join(HERE, "data", "3bpa_start.xyz")


def n_steps(args):
    """Steps of each run: 20 with --short, else --time-ps at --timestep-fs."""
    return 20 if args.short else int(round(args.time_ps * 1000 / args.timestep_fs))


def run_temperature(temperature_K, seed, args, model, out_dir):
    """One Langevin run; returns its report."""
    steps = n_steps(args)
    settings = MDSettings(
        structure=START, model=model, ensemble="nvt-langevin", temperature_K=temperature_K,
        timestep_fs=args.timestep_fs, steps=steps, friction_per_ps=args.friction, seed=seed,
        interval=2 if args.short else 20, device=args.device, output_dir=out_dir,
    )
    report = {"temperature_K": temperature_K, "seed": seed, "steps": steps, "model": os.path.abspath(model),
              "health_stop": None}
    try:
        run_md(settings, overwrite=True, progress=None if args.short else sys.stderr)
    except HealthStop as stop:  # an unstable run is a result here, not a failure of the script
        report["health_stop"] = {"reason": stop.reason, "step": stop.step, "message": stop.message}
    start = read(START)
    frames = read(os.path.join(out_dir, "trajectory.extxyz"), ":")
    angles = backbone_dihedrals(start)
    report["intact"] = report["health_stop"] is None and all(is_intact(f, start) for f in frames)
    log = read_log(os.path.join(out_dir, "log.csv"))
    report["temperature"] = temperature_summary(log, skip_ps=0.1 * log["time_ps"][-1])
    report["n_frames"] = len(frames)
    report["dihedrals_deg"] = {name: [dihedral(f, angles[name]) for f in frames] for name in NAMES}
    return report


def pooled(reports, temperature_K):
    """The runs at one temperature: intact count, mean temperature, dihedrals pooled over intact runs."""
    runs = [r for r in reports if r["temperature_K"] == temperature_K]
    intact = [r for r in runs if r["intact"]]
    return {
        "temperature_K": temperature_K, "runs": len(runs), "intact": len(intact),
        "mean_temperature_K": float(np.mean([r["temperature"]["mean_K"] for r in runs])),
        "dihedrals_deg": {name: [a for r in intact for a in r["dihedrals_deg"][name]] for name in NAMES},
    }


def plot_summary(summaries, path):
    """Histograms of the three dihedrals, one line per temperature (intact runs pooled)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 3.4), layout="constrained")
    axes = fig.subplots(1, 3)
    bins = np.linspace(-180, 180, 37)
    for ax, name in zip(axes, NAMES):
        for summary in summaries:
            values = summary["dihedrals_deg"][name]
            label = f"{summary['temperature_K']:g} K ({summary['intact']}/{summary['runs']} intact)"
            if values:
                ax.hist(values, bins=bins, density=True, histtype="step", lw=1.4, label=label)
        ax.set_xlabel(f"{name} / degree")
        ax.set_xlim(-180, 180)
    axes[0].set_ylabel("probability density / 1/degree")
    axes[0].legend()
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="model file [default: the shipped models/ictp-3bpa.pt]")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[300.0, 600.0, 1200.0])
    parser.add_argument("--time-ps", type=float, default=10.0, help="length of each run, ps")
    parser.add_argument("--timestep-fs", type=float, default=0.5)
    parser.add_argument("--friction", type=float, default=1.0, help="Langevin friction, 1/ps (weak: the "
                        "dihedral dynamics should be the model's, not the thermostat's)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="one run per seed and temperature")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--output-dir", default="01_md_3bpa_output")
    parser.add_argument("--short", action="store_true", help="20 steps per temperature (a smoke test)")
    parser.add_argument("--reuse", action="store_true", help="read a run's report.json where it exists "
                        "instead of running it again")
    args = parser.parse_args()
    model = args.model or default_model_path()
    os.makedirs(args.output_dir, exist_ok=True)

    reports = []
    for temperature in args.temperatures:
        for seed in args.seeds:
            out_dir = os.path.join(args.output_dir, f"{temperature:g}K_seed{seed}")
            report_path = os.path.join(out_dir, "report.json")
            if args.reuse and os.path.exists(report_path):
                with open(report_path, encoding="utf-8") as handle:
                    report = json.load(handle)
                steps = n_steps(args)
                if (report.get("model"), report.get("steps")) != (os.path.abspath(model), steps):
                    sys.exit(f"error: {report_path} is a run of {report.get('steps')} steps with "
                             f"{report.get('model')}, not of {steps} steps with {os.path.abspath(model)}; "
                             "remove it or drop --reuse")
            else:
                report = run_temperature(temperature, seed, args, model, out_dir)
                with open(report_path, "w", encoding="utf-8") as handle:
                    json.dump(report, handle)
            reports.append(report)
            why = (report["health_stop"] or {}).get("message", "a bond stretched")
            status = "intact" if report["intact"] else f"NOT intact ({why})"
            print(f"{temperature:6g} K, seed {seed}: {status}; mean T {report['temperature']['mean_K']:.1f} K "
                  f"(std {report['temperature']['std_K']:.1f} K), {report['n_frames']} frames")

    summaries = [pooled(reports, temperature) for temperature in args.temperatures]
    for summary in summaries:
        print(f"{summary['temperature_K']:6g} K: {summary['intact']}/{summary['runs']} runs intact; "
              f"mean T {summary['mean_temperature_K']:.1f} K")
        for name in NAMES:
            values = np.array(summary["dihedrals_deg"][name])
            if values.size:
                print(f"          {name:5s}: mean |angle| {np.abs(values).mean():6.1f} deg, range "
                      f"[{values.min():7.1f}, {values.max():7.1f}] deg")

    plot_summary(summaries, os.path.join(args.output_dir, "summary.png"))
    with open(os.path.join(args.output_dir, "summary.json"), "w", encoding="utf-8") as handle:
        json.dump({"model": os.path.abspath(model), "temperatures": summaries, "runs": reports}, handle, indent=1)
    print(f"summary: {os.path.join(args.output_dir, 'summary.png')}, summary.json")


if __name__ == "__main__":
    main()
