"""Training-recipe ablations at equal CPU time: one `ictp-md train` per variant, same seed and data.

    python benchmarks/ablate_training.py --cpu-minutes 12 --core 1 base cosine stage2 float64

Each variant is the campaign configuration (``models/training/3bpa/campaign.toml`` by default) with
``--set`` overrides, trained in its own process pinned to one core with one thread, and stopped
when that process has used ``--cpu-minutes`` of CPU time (user + system, read from /proc): a budget
that other load on the machine does not change, unlike wall time. The validation errors of the
best epoch (EMA weights, as selected by the trainer) are read from the run's ``log.jsonl``.

Variants whose schedule needs the run length (``cosine``, ``stage2``) take it from the epochs the
``base`` variant reached in the same budget (``{epochs}`` below), so ``base`` runs first.
Prints one Markdown row per variant and, last, the rows as JSON.
"""

import json
import os
import signal
import subprocess
import sys
import time

import click

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

VARIANTS = {
    "base": [],
    "cosine": ["training.schedule=cosine", "training.lr_min=1e-4", "training.max_epoch={epochs}"],
    "stage2": ["training.max_epoch={epochs}", "training.stage_two_start={stage_two}"],
    "stage2-ema": ["training.max_epoch={epochs}", "training.stage_two_start={stage_two}",
                   "training.stage_two_average=ema"],
    "cosine+stage2": ["training.schedule=cosine", "training.lr_min=1e-3", "training.max_epoch={epochs}",
                      "training.stage_two_start={stage_two}"],
    "float64": ["model.dtype=float64"],
    "batch10": ["training.batch_size=10"],
    "forces100": ["training.forces_weight=100.0"],
    "F32": ["model.n_hidden_feats=32", "model.n_product_feats=32"],
    "F128": ["model.n_hidden_feats=128", "model.n_product_feats=128"],
    "Le3": ["model.l_max_edge_attrs=3"],
    "Lh2": ["model.l_max_hidden_feats=2"],
}


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def run_variant(name, overrides, config, output_root, budget_s, core):
    out = os.path.join(output_root, name)
    if os.path.exists(os.path.join(out, "checkpoint.pt")):
        raise click.ClickException(f"{out} exists: remove it or choose another --output-root")
    entry = "import sys; from ictp_calc.cli import main; sys.argv[0] = 'ictp-md'; main()"
    cmd = ["taskset", "-c", str(core), sys.executable, "-c", entry, "train", config,
           "--output-dir", out, "--no-progress"]
    for item in overrides:
        cmd += ["--set", item]
    env = dict(os.environ, OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
    start = time.monotonic()
    with open(os.path.join(output_root, f"{name}.out"), "w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        used = 0.0
        while proc.poll() is None:
            used = cpu_seconds(proc.pid)
            if used >= budget_s:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                break
            time.sleep(2.0)
    wall = time.monotonic() - start
    records = []
    if os.path.exists(os.path.join(out, "log.jsonl")):
        with open(os.path.join(out, "log.jsonl")) as handle:
            records = [json.loads(line) for line in handle if line.strip()]
    if not records:
        raise click.ClickException(f"variant {name} finished no epoch; see {output_root}/{name}.out")
    stage = records[-1].get("stage", 1)
    candidates = [r for r in records if r.get("stage", 1) == stage]
    best = min(candidates, key=lambda r: r["valid_loss"])
    return {
        "variant": name, "overrides": overrides, "epochs": records[-1]["epoch"], "cpu_min": used / 60,
        "wall_min": wall / 60, "best_epoch": best["epoch"], "energy_rmse": best["valid_energy_rmse"],
        "forces_rmse": best["valid_forces_rmse"],
    }


@click.command()
@click.argument("variants", nargs=-1)
@click.option("--config", default="models/training/3bpa/campaign.toml", show_default=True)
@click.option("--cpu-minutes", default=12.0, show_default=True, help="CPU-time budget per variant.")
@click.option("--core", default=1, show_default=True, help="CPU core to pin the runs to.")
@click.option("--output-root", default="runs/ablation", show_default=True)
@click.option("--epochs", type=int, help="Run length for {epochs} (default: what 'base' reached).")
def main(variants, config, cpu_minutes, core, output_root, epochs):
    variants = variants or ("base", "cosine", "stage2", "float64")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise click.UsageError(f"unknown variants {unknown}; known: {sorted(VARIANTS)}")
    os.makedirs(output_root, exist_ok=True)
    rows = []
    click.echo("| variant | epochs | CPU min | best epoch | E RMSE (meV) | F RMSE (meV/Å) |")
    click.echo("|---|---|---|---|---|---|")
    for name in sorted(variants, key=lambda v: v != "base"):
        if epochs is None and any("{epochs}" in o for o in VARIANTS[name]):
            raise click.UsageError(f"{name} needs the run length: run 'base' first or give --epochs")
        fill = {"epochs": epochs, "stage_two": (3 * epochs) // 4 + 1 if epochs else None}
        overrides = [o.format(**fill) for o in VARIANTS[name]]
        row = run_variant(name, overrides, config, output_root, cpu_minutes * 60, core)
        if name == "base" and epochs is None:
            epochs = row["epochs"]
        rows.append(row)
        click.echo(
            f"| {name} | {row['epochs']} | {row['cpu_min']:.1f} | {row['best_epoch']} | "
            f"{row['energy_rmse']:.1f} | {row['forces_rmse']:.1f} |"
        )
    click.echo(json.dumps(rows))


if __name__ == "__main__":
    main()
