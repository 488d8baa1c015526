"""The compiled path: fullgraph compilation, same numbers as eager, one compilation per capacity.

Compiling is slow on a loaded CPU, so these tests are few and use a tiny model. Recompilations
are counted with torch's own counter of compiled graphs (``torch._dynamo.utils.counters``).
"""

import numpy as np
import pytest
import torch
from ase.io import read
from ase.md.langevin import Langevin
from ase.units import fs
from click.testing import CliRunner
from inference_helpers import CUTOFF, assert_close, batch_of, eager, structures, tiny_model

from ictp_calc import keys
from ictp_calc.calculator import ICTPCalculator
from ictp_calc.cli import main
from ictp_calc.inference import MIN_TORCH, CompiledPotential, CompileUnavailableError
from ictp_calc.inference.compiled import torch_release

from torch._dynamo.utils import counters

BPA_START = __import__("pathlib").Path(__file__).resolve().parents[2] / "examples" / "data" / "3bpa_start.xyz"


needs_new_torch = pytest.mark.skipif(
    torch_release(torch.__version__) < MIN_TORCH, reason="the compiled path needs torch >= 2.11"
)


def compiled_graphs() -> int:
    return counters["stats"]["unique_graphs"]


CASES = [
    ("aot_eager", "float64", 1e-10),
    ("aot_eager", "float32", 1e-5),
    pytest.param("inductor", "float64", 1e-10, marks=pytest.mark.slow),
    pytest.param("inductor", "float32", 1e-5, marks=pytest.mark.slow),
]


@needs_new_torch
@pytest.mark.parametrize("backend,dtype,rtol", CASES)
def test_fullgraph_compile_equals_eager_molecule_box_and_slab(backend, dtype, rtol):
    """One batch holds a molecule, a periodic box and a slab: one compilation per case.

    ``fullgraph=True``: a graph break (a host read, data-dependent control flow) raises. The
    graph that dynamo captures is the same for every backend; aot_eager runs it through AOT
    autograd without code generation (seconds), inductor generates C++ (minutes on a loaded
    CPU: marked slow).
    """
    torch._dynamo.reset()
    before = compiled_graphs()
    model = tiny_model(dtype)
    atoms = structures()
    graph = batch_of(model, atoms, CUTOFF + 0.5)
    potential = CompiledPotential(model, backend=backend)
    potential.prepare(graph)
    compiled = potential(graph, stress=True)
    reference = eager(model, graph)
    assert_close(compiled, reference, rtol)
    # Stress only where the cell has a volume (the box), measured against its largest component.
    box = {keys.STRESS: compiled[keys.STRESS][1]}, {keys.STRESS: reference[keys.STRESS][1]}
    assert_close(*box, rtol, (keys.STRESS,))
    assert compiled_graphs() - before == 1


@needs_new_torch
def test_md_reuses_one_graph_and_capacity_growth_recompiles_correctly():
    """50 Langevin steps of 3BPA (skin 0.3 Å: the list is rebuilt and its edge count changes)."""
    torch._dynamo.reset()
    before = compiled_graphs()
    model = tiny_model("float64")
    calc = ICTPCalculator(model, device="cpu", skin=0.3, compile="aot_eager")
    atoms = read(BPA_START)
    atoms.calc = calc
    atoms.set_velocities(np.random.default_rng(0).normal(0.0, 0.02, (len(atoms), 3)))
    dyn = Langevin(atoms, 1.0 * fs, temperature_K=600, friction=0.02, fixcm=False, rng=np.random.default_rng(1))
    edge_counts = set()
    dyn.attach(lambda: edge_counts.add(calc.compiled.n_edges))
    dyn.run(50)
    assert calc.neighbors.n_builds > 1 and len(edge_counts) > 1  # the neighbor list did change
    assert compiled_graphs() - before == 1 and calc.compiled.n_capacity_changes == 1
    # Compressed by 20 %: more neighbors than the capacity holds, so it grows and compiles again.
    atoms.positions = 0.8 * (atoms.positions - atoms.positions.mean(0))
    forces = atoms.get_forces()
    assert calc.compiled.n_capacity_changes == 2 and compiled_graphs() - before == 2
    reference = ICTPCalculator(model, device="cpu", skin=0.0)
    np.testing.assert_allclose(forces, reference.get_forces(atoms.copy()), rtol=0, atol=1e-10 * np.abs(forces).max())
    assert abs(atoms.get_potential_energy() - reference.get_potential_energy(atoms.copy())) < 1e-9


@needs_new_torch
def test_a_compiled_calculator_on_its_one_thread_worker(two_threads, monkeypatch):
    """Torch at two threads: the compiled call of a molecule runs on the calculator's one-thread
    worker, compiles there once and gives the eager numbers; the caller keeps its two threads."""
    import threading

    torch._dynamo.reset()
    before = compiled_graphs()
    seen = []
    real = CompiledPotential.__call__

    def spy(self, *args, **kwargs):
        seen.append((torch.get_num_threads(), threading.get_ident()))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(CompiledPotential, "__call__", spy)
    model = tiny_model("float64")
    atoms = read(BPA_START)
    calc = ICTPCalculator(model, device="cpu", compile="aot_eager")
    forces = [calc.get_forces(atoms)]
    atoms.positions[0] += 0.01
    forces.append(calc.get_forces(atoms))
    assert [count for count, _ in seen] == [1, 1] and seen[0][1] != threading.get_ident()
    assert compiled_graphs() - before == 1 and torch.get_num_threads() == 2
    reference = ICTPCalculator(model, device="cpu", threads=None)
    np.testing.assert_allclose(forces[1], reference.get_forces(atoms), rtol=0, atol=1e-10 * np.abs(forces[1]).max())


def test_older_torch_is_refused_with_a_clear_error(monkeypatch, tmp_path):
    """A torch older than the oldest tested: a typed error up front, not deep in dynamo."""
    assert torch_release("2.13.0+cpu") == (2, 13) and torch_release("2.11.0+cu130") == (2, 11)
    assert torch_release("10.2") == (10, 2) and torch_release("nightly") == (0, 0)
    monkeypatch.setattr(torch, "__version__", "2.10.0+cu128")
    with pytest.raises(CompileUnavailableError, match=r"torch >= 2\.11 \(this is 2\.10\.0\+cu128"):
        ICTPCalculator(tiny_model("float64"), device="cpu", compile=True)
    monkeypatch.chdir(tmp_path)  # ictp-md run's outputs, if it ran
    result = CliRunner().invoke(main, ["run", str(BPA_START), "--steps", "1", "--compile"])
    assert result.exit_code == 5, result.output
    assert "needs torch >= 2.11" in result.output and "Traceback" not in result.output


@needs_new_torch
def test_the_calculator_passes_its_compile_mode_and_refuses_one_without_compile():
    model = tiny_model("float64")
    calc = ICTPCalculator(model, device="cpu", compile=True, compile_mode="reduce-overhead")
    assert calc.compiled.mode == "reduce-overhead" and calc.todict()["compile_mode"] == "reduce-overhead"
    assert ICTPCalculator(model, device="cpu", compile=True).todict()["compile_mode"] is None
    with pytest.raises(ValueError, match="compile_mode='reduce-overhead' needs compile=True"):
        ICTPCalculator(model, device="cpu", compile_mode="reduce-overhead")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none in this torch build/machine)")
@pytest.mark.parametrize("compile", [False, pytest.param("inductor", marks=needs_new_torch)])
def test_cuda_eager_and_compiled_equal_cpu(compile):
    model = tiny_model("float64")
    atoms = structures()[1]  # the periodic box: energy, forces and stress
    cpu = ICTPCalculator(model, device="cpu")
    cuda = ICTPCalculator(model, device="cuda", compile=compile, skin=0.5)
    expected = {name: cpu.get_property(name, atoms.copy()) for name in ("energy", "forces", "stress")}
    for _ in range(2):  # the second call reuses the neighbor list and the compiled graph
        got = {name: cuda.get_property(name, atoms.copy()) for name in ("energy", "forces", "stress")}
        for name, value in expected.items():
            np.testing.assert_allclose(got[name], value, rtol=1e-10, atol=1e-10 * np.abs(value).max())
