"""Shared fixtures: every numerical test runs in float32 and float64 with matching tolerances."""

import pytest
import torch

TOLERANCES = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-10, atol=1e-11)}


@pytest.fixture(params=[torch.float32, torch.float64], ids=["float32", "float64"])
def dtype(request):
    return request.param


@pytest.fixture
def tol(dtype):
    """``torch.testing.assert_close`` keyword tolerances for the current dtype."""
    return TOLERANCES[dtype]


@pytest.fixture
def generator():
    return torch.Generator().manual_seed(12345)


@pytest.fixture
def two_threads():
    """Torch at two threads for the test (a molecule's evaluation should not follow it); restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if item.get_closest_marker("slow") is not None:  # the marker, not a test named "*slow*"
            item.add_marker(skip)
