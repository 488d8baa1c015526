"""Seconds per training step (a batch of 3BPA structures, forces in the loss, AMSGrad) for one model size.

    python benchmarks/bench_train_step.py --channels 32 --l-edge 2 --l-hidden 1 --dtype float32

Reads the first ``--batch-size`` (5) structures of ``../shared/data/3bpa/train_300K.xyz``. A step is
``compute_properties(training=True)`` + a force/energy loss + backward + an optimizer step; the
median of ``--steps`` steps after two warm-up steps is printed, last line JSON. With
``--baseline COMMIT`` the same weights in that commit's package (:mod:`baseline`) take a step after
each of this tree's, with their own optimizer (``baseline_step_s``).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import click  # noqa: E402
import torch  # noqa: E402
from ase.io import read  # noqa: E402

from ictp_calc.data import atoms_to_graph, batch_graphs  # noqa: E402
from ictp_calc.model import ModelConfig, build_model, compute_properties  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "3bpa", "train_300K.xyz")


@click.command()
@click.option("--channels", default=32, show_default=True)
@click.option("--l-edge", default=2, show_default=True)
@click.option("--l-hidden", default=1, show_default=True)
@click.option("--correlation", default=3, show_default=True)
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True)
@click.option("--steps", default=8, show_default=True)
@click.option("--batch-size", default=5, show_default=True, type=click.IntRange(1))
@click.option("--threads", type=click.IntRange(1), default=None, help="torch.set_num_threads (default: torch's).")
@click.option("--baseline", default=None, metavar="COMMIT", help="Also time that git commit's package, interleaved.")
def main(channels, l_edge, l_hidden, correlation, dtype, steps, batch_size, threads, baseline):
    if threads:
        torch.set_num_threads(threads)
    frames = read(DATA, f":{batch_size}")
    config = ModelConfig(
        atomic_numbers=(1, 6, 7, 8), n_hidden_feats=channels, n_product_feats=channels,
        l_max_edge_attrs=l_edge, l_max_hidden_feats=l_hidden, correlation=correlation, dtype=dtype,
        avg_n_neighbors=17.0,
    )
    model = build_model(config)
    graph = batch_graphs([atoms_to_graph(a, config.atomic_numbers, config.cutoff, model.dtype) for a in frames])
    forces = torch.cat([torch.as_tensor(a.get_forces()) for a in frames]).to(model.dtype)
    runs = {"step_s": (model, compute_properties)}
    if baseline:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from baseline import baseline_model, import_baseline

        old = import_baseline(baseline)
        runs["baseline_step_s"] = (baseline_model(old, model), old.model.compute_properties)
    optimizers = {name: torch.optim.Adam(m.parameters(), lr=1e-3, amsgrad=True) for name, (m, _) in runs.items()}
    times = {name: [] for name in runs}
    for _ in range(steps + 2):
        for name, (m, properties) in runs.items():
            start = time.perf_counter()
            out = properties(m, graph, training=True)
            loss = ((out["forces"] - forces) ** 2).sum()
            optimizers[name].zero_grad()
            loss.backward()
            optimizers[name].step()
            times[name].append(time.perf_counter() - start)
    result = {
        "channels": channels, "batch_size": batch_size, "l_edge": l_edge, "l_hidden": l_hidden, "dtype": dtype,
        "n_parameters": sum(p.numel() for p in model.parameters()), "threads": torch.get_num_threads(),
        **{name: statistics.median(t[2:]) for name, t in times.items()},
    }
    if baseline:
        result.update(baseline=baseline, baseline_speedup=result["baseline_step_s"] / result["step_s"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
