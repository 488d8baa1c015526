"""``--runslow`` follows the ``slow`` marker, not the test's name."""

from pathlib import Path

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).resolve().parent / "conftest.py"
TESTS = """
import pytest

def test_slow_in_name_only():
    pass

@pytest.mark.slow
def test_marked():
    pass

@pytest.mark.parametrize("x", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_one_case_marked(x):
    pass
"""


def test_runslow_matches_the_marker(pytester):
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makeini("[pytest]\nmarkers =\n    slow: long-running\n")
    pytester.makepyfile(test_cases=TESTS)
    default = pytester.runpytest("-p", "no:cacheprovider", "-rs")
    default.assert_outcomes(passed=2, skipped=2)  # the name "slow" alone does not skip
    default.stdout.fnmatch_lines(["*slow: run with --runslow*"])
    everything = pytester.runpytest("-p", "no:cacheprovider", "--runslow")
    everything.assert_outcomes(passed=4)
