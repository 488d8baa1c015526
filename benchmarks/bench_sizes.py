"""MD speed of 3BPA for several model sizes: Langevin steps per second through ICTPCalculator.

    python benchmarks/bench_sizes.py --size 32,2,1 --size 64,2,1 --size 128,2,1 --size 64,3,1 --size 64,2,2

Each ``--size F,L_e,L_h`` is the 3BPA campaign's architecture (``models/training/3bpa/campaign.toml``)
with ``F = P`` channels, edge rank ``L_e`` and hidden rank ``L_h``, random weights (the speed does not
depend on them). Every size drives its own copy of ``examples/data/3bpa_start.xyz`` with ASE's
Langevin (300 K, 0.5 fs, friction 0.01 / fs) through :class:`ICTPCalculator` with ``--skin``, as
``ictp-md run`` does. The sizes take turns, ``--steps`` steps each, for ``--rounds`` rounds, so the
drifts of a shared machine hit them alike; the figure is the median time per step over the rounds.
The last line printed is a JSON list, one object per size.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import click  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from ase import units  # noqa: E402
from ase.io import read  # noqa: E402
from ase.md.langevin import Langevin  # noqa: E402
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution  # noqa: E402

from ictp_calc.calculator import ICTPCalculator  # noqa: E402
from ictp_calc.model import ModelConfig, build_model  # noqa: E402
from ictp_calc.training.toml_io import load_toml  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAMPAIGN = os.path.join(ROOT, "models", "training", "3bpa", "campaign.toml")
START = os.path.join(ROOT, "examples", "data", "3bpa_start.xyz")


def parse_size(text: str):
    try:
        channels, l_edge, l_hidden = (int(part) for part in text.split(","))
    except ValueError:
        raise click.BadParameter(f"expected F,L_e,L_h (three integers), got {text!r}") from None
    return channels, l_edge, l_hidden


@click.command()
@click.option("--size", "sizes", multiple=True, default=("32,2,1", "64,2,1", "128,2,1"), show_default=True,
              help="F,L_e,L_h (repeatable).")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float64", show_default=True)
@click.option("--steps", default=20, show_default=True, type=click.IntRange(1))
@click.option("--rounds", default=5, show_default=True, type=click.IntRange(1))
@click.option("--skin", default=0.5, show_default=True)
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1))
def main(sizes, dtype, steps, rounds, skin, threads):
    torch.set_num_threads(threads)
    base = load_toml(CAMPAIGN)["model"]
    runs = []
    for text in sizes:
        channels, l_edge, l_hidden = parse_size(text)
        settings = dict(base, n_hidden_feats=channels, n_product_feats=channels, l_max_edge_attrs=l_edge,
                        l_max_hidden_feats=l_hidden, dtype=dtype, atomic_numbers=(1, 6, 7, 8),
                        avg_n_neighbors=16.0)
        config = ModelConfig(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in settings.items()})
        model = build_model(config, seed=0)
        atoms = read(START)
        MaxwellBoltzmannDistribution(atoms, temperature_K=300.0, rng=np.random.default_rng(0))
        atoms.calc = ICTPCalculator(model, device="cpu", skin=skin)
        dyn = Langevin(atoms, 0.5 * units.fs, temperature_K=300.0, friction=0.01 / units.fs,
                       rng=np.random.default_rng(1))
        dyn.run(2)  # warm-up
        runs.append({"size": text, "parameters": sum(p.numel() for p in model.parameters()), "dyn": dyn, "times": []})
    for _ in range(rounds):
        for run in runs:
            start = time.perf_counter()
            run["dyn"].run(steps)
            run["times"].append((time.perf_counter() - start) / steps)
    rows = []
    for run in runs:
        step_s = statistics.median(run["times"])
        rows.append({"size": run["size"], "parameters": run["parameters"], "dtype": dtype, "threads": threads,
                     "step_s": step_s, "steps_per_s": 1.0 / step_s})
        click.echo(f"F,L_e,L_h = {run['size']}: {run['parameters']} parameters, {1000 * step_s:.1f} ms/step, "
                   f"{1.0 / step_s:.1f} steps/s")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
