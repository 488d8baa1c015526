"""Write the model outputs that ``tests/model/test_reference_values.py`` compares against.

Run it against the commit whose numbers are the reference, e.g. for 4defa54::

    git archive 4defa54 ictp_calc | tar -x -C /tmp/ref && python tools/reference_values.py /tmp/ref

(the package found first on ``sys.path`` is used, so the given directory's ``ictp_calc`` wins over
an installed one). Cases: the test suite's small model (every rank, product order 3) and the
benchmarks' ``small`` size, each in float64 and float32, on a 3BPA molecule, a triclinic periodic
cell and a slab (periodic in two directions). Each case stores
energies, forces, stress (periodic structures) and, for float64, per-parameter projections of the
gradient of a force loss (the training step's second derivatives). The shipped model is not a case:
it changes with every release of a better one, and ``bench_small`` has its architecture.
"""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
if __name__ == "__main__" and len(sys.argv) > 1:  # the package to take the numbers from
    sys.path.insert(0, sys.argv[1])
sys.path.insert(0, str(ROOT / "tests" / "model"))

import torch  # noqa: E402
from ase.io import read  # noqa: E402

import ictp_calc  # noqa: E402
from ictp_calc.data import atoms_to_graph  # noqa: E402
from ictp_calc.model import ModelConfig, build_model, compute_properties  # noqa: E402
from model_helpers import make_model, molecule_atoms, periodic_atoms, slab_atoms  # noqa: E402, F401

OUT = ROOT / "tests" / "model" / "data" / "reference_values.json"
START = ROOT / "examples" / "data" / "3bpa_start.xyz"


def bench_small(dtype: str) -> torch.nn.Module:
    """The benchmarks' ``small`` size: 64 channels, edge rank 2, hidden rank 1, nu = 3."""
    config = ModelConfig(
        atomic_numbers=(1, 6, 7, 8), cutoff=5.0, n_basis=8, radial_mlp=(64, 64, 64), readout_mlp=(16,),
        n_hidden_feats=64, n_product_feats=64, l_max_hidden_feats=1, l_max_edge_attrs=2, correlation=3,
        avg_n_neighbors=16.0, dtype=dtype,
    )
    return build_model(config, seed=3)


def structures():
    bpa = read(START)
    bpa.positions += torch.randn(bpa.positions.shape, generator=torch.Generator().manual_seed(5)).numpy() * 0.05
    return {"3bpa": bpa, "periodic": periodic_atoms(), "slab": slab_atoms()}


def probe(shape, seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def outputs(model, atoms, gradients: bool):
    graph = atoms_to_graph(atoms, model.config.atomic_numbers, model.config.cutoff, model.dtype)
    periodic = bool(atoms.pbc.any())
    out = compute_properties(model, graph, forces=True, stress=periodic, training=gradients)
    row = {"energy": out["energy"].tolist(), "forces": out["forces"].tolist()}
    if periodic:
        row["stress"] = out["stress"].tolist()
    if gradients:
        loss = (out["forces"].double() * probe(out["forces"].shape, 7)).sum()
        params = [p for _, p in model.named_parameters()]
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        row["gradient_projections"] = {
            name: 0.0 if g is None else float((g.double() * probe(g.shape, 11)).sum())
            for (name, _), g in zip(model.named_parameters(), grads)
        }
    return row


def main():
    print(f"ictp_calc from {ictp_calc.__file__}")
    result = {}
    models = {
        "test_small": lambda dtype: make_model({"float64": torch.float64, "float32": torch.float32}[dtype]),
        "bench_small": bench_small,
    }
    for name, make in models.items():
        for dtype in ("float64", "float32"):
            model = make(dtype)
            for system, atoms in structures().items():
                result[f"{name}/{dtype}/{system}"] = outputs(model, atoms, gradients=dtype == "float64")
    OUT.write_text(json.dumps(result))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
