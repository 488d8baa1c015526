"""The README works as written: its Python snippets run from a fresh directory, and ``.ci/run`` uses
its install and test lines verbatim."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
PYTHON_BLOCKS = re.findall(r"^```python\n(.*?)^```", README, re.M | re.S)


def _bash_lines(text):
    """Command lines of the README's bash blocks (comments and blank lines dropped)."""
    lines = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, re.M | re.S):
        lines += [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]
    return lines


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_readme_python_snippets_run_as_written(tmp_path, index):
    code = PYTHON_BLOCKS[index]
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "the snippet prints its result"


def test_readme_has_python_snippets_and_names_the_shipped_model():
    assert len(PYTHON_BLOCKS) >= 2
    assert 'ICTPCalculator("ictp-3bpa"' in README and '"model.pt", device' not in README


def test_ci_runs_the_readme_install_and_test_lines_verbatim():
    readme = _bash_lines(README)
    install = [line for line in readme if line.startswith("pip install") and "[docs]" not in line][:2]
    assert install == ["pip install torch==2.13.0", "pip install -e '.[test]'"]
    test = next(line for line in readme if "pytest" in line)
    ci = [line.replace(" --quiet", "") for line in (REPO / ".ci" / "run").read_text().splitlines()
          if line and not line.startswith("#")]
    for line in install + [test]:
        assert line in ci, line
    # The test extra brings what the suite needs: the docs build and an offline wheel build.
    setup = (REPO / "setup.cfg").read_text()
    extra = setup.split("test =", 1)[1].split("bench =", 1)[0]
    for requirement in ("pytest", "ruff", "setuptools", "sphinx", "myst-parser", "furo", "sphinx-click"):
        assert requirement in extra, requirement
