"""``ICTPCalculator(threads=...)``: the thread count of each evaluation; torch's own count untouched."""

import numpy as np
import pytest
import torch
from calc_helpers import molecule_atoms

import ictp_calc.calculator as calculator_module
import ictp_calc.inference.threads as threads_module
from ictp_calc.calculator import ICTPCalculator


@pytest.fixture
def seen_counts(monkeypatch):
    """The torch thread count inside each evaluation."""
    seen = []
    real = calculator_module.compute_properties

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(calculator_module, "compute_properties", spy)
    return seen


def _forces(calc):
    atoms = molecule_atoms()
    atoms.calc = calc
    return atoms.get_forces()


@pytest.mark.parametrize("threads,edges_limit,expected", [
    ("auto", None, 1),  # a molecule: one thread
    ("auto", 10, 2),  # a graph of at least ONE_THREAD_EDGES edges: torch's count
    (None, None, 2),
    (1, None, 1),
    (3, None, 3),
])
def test_each_evaluation_runs_with_the_chosen_count(model, two_threads, seen_counts, monkeypatch, threads,
                                                    edges_limit, expected):
    if edges_limit is not None:
        monkeypatch.setattr(threads_module, "ONE_THREAD_EDGES", {"float64": edges_limit})
    _forces(ICTPCalculator(model, device="cpu", threads=threads))
    assert seen_counts == [expected]
    assert torch.get_num_threads() == 2


def test_results_do_not_depend_on_the_thread_count(model, two_threads):
    reference = _forces(ICTPCalculator(model, device="cpu", threads=None))
    for threads in ("auto", 1, 3):
        np.testing.assert_allclose(_forces(ICTPCalculator(model, device="cpu", threads=threads)), reference,
                                   rtol=1e-12, atol=1e-12)


def test_forces_under_no_grad_on_a_worker(model, two_threads):
    calc = ICTPCalculator(model, device="cpu", threads=1)
    with torch.no_grad():
        forces = _forces(calc)
    assert np.abs(forces).max() > 0


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "four", "AUTO"])
def test_bad_threads_are_a_clear_error(model, bad):
    with pytest.raises(ValueError, match="threads must be 'auto', None or an integer >= 1"):
        ICTPCalculator(model, device="cpu", threads=bad)


def test_todict_records_threads(model):
    assert ICTPCalculator(model, device="cpu").todict()["threads"] == "auto"
    assert ICTPCalculator(model, device="cpu", threads=np.int64(2)).todict()["threads"] == 2
