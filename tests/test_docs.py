"""The documentation: its runnable code blocks run, its commands exist, and it builds with -W.

Convention for runnable code (see docs/installation.md): a MyST block

    ```{code-block} python
    :name: run-<unique-name>

    ...code...
    ```

is executed by :func:`test_runnable_block`, each in a fresh namespace and a fresh working
directory that holds what the docs refer to:

* ``models/ictp-3bpa.pt``: the shipped model when the repository has it; otherwise a tiny random
  model of H, C, N, O stands in, and loops are cut to a few steps (``dyn.run(N)``, ``steps=N``),
  because random forces do not hold a molecule together for long;
* ``3bpa.xyz`` and the quickstart's structure file: a 3BPA geometry.

Plain ```` ```python ```` blocks are illustrations and are not run. Command lines of ``ictp-md`` in
``console``/``bash`` blocks are checked against the click commands (subcommands and options exist).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
SHIPPED_MODEL = "models/ictp-3bpa.pt"  # as the docs write it, relative to the working directory
SHORT_STEPS = 2  # loop length of MD and optimization snippets with the tiny stand-in model
STRUCTURE_FILES = ("3bpa.xyz",)  # structure paths the runnable blocks may read

_BLOCK = re.compile(
    r"^(?P<fence>`{3,})\{code-block\}\s+python[ \t]*\n(?P<options>(?::[\w-]+:[^\n]*\n)*)\n?"
    r"(?P<code>.*?)^(?P=fence)[ \t]*$",
    re.M | re.S,
)
_NAME = re.compile(r"^:name:\s*(run-[\w-]+)\s*$", re.M)
_CONSOLE = re.compile(
    r"^(`{3,})(?:console|bash|shell|\{code-block\}\s+(?:console|bash))[^\n]*\n(.*?)^\1[ \t]*$", re.M | re.S
)


def doc_pages() -> List[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)


def runnable_blocks() -> List[Tuple[str, str, str]]:
    """``(page, name, code)`` of every runnable block, in page order."""
    blocks = []
    for page in doc_pages():
        text = page.read_text(encoding="utf-8")
        for match in _BLOCK.finditer(text):
            name = _NAME.search(match.group("options"))
            if name:
                blocks.append((str(page.relative_to(DOCS)), name.group(1), match.group("code")))
    return blocks


def command_lines() -> List[Tuple[str, List[str]]]:
    """``(page, argv after 'ictp-md')`` for every ``$ ictp-md ...`` line of a console block."""
    out = []
    for page in doc_pages():
        for match in _CONSOLE.finditer(page.read_text(encoding="utf-8")):
            for line in match.group(2).splitlines():
                line = line.strip()
                if line.startswith("$ "):
                    line = line[2:]
                if not line.startswith("ictp-md"):
                    continue
                argv = shlex.split(line, comments=True)
                out.append((str(page.relative_to(DOCS)), argv[1:]))
    return out


# --------------------------------------------------------------------------------------------------
# The runnable blocks


def _quickstart_structure() -> str:
    """The structure path the quickstart names (the committed 3BPA starting geometry)."""
    text = (DOCS / "quickstart.md").read_text(encoding="utf-8")
    match = re.search(r'read\("([^"]+\.xyz)"\)', text)
    assert match, "the quickstart reads no .xyz structure"
    return match.group(1)


def _bpa_atoms():
    """A 3BPA geometry: the committed starting structure if there is one, else the benchmark's."""
    from ase.io import read

    committed = REPO / _quickstart_structure()
    if committed.is_file():
        return read(committed)
    spec = importlib.util.spec_from_file_location("bench_model", REPO / "benchmarks" / "bench_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.bpa_molecule()


def _shorten(code: str) -> str:
    """Cut ``.run(N)`` and ``steps=N`` to at most :data:`SHORT_STEPS` steps."""
    code = re.sub(r"\.run\((\d+)\)", lambda m: f".run({min(int(m.group(1)), SHORT_STEPS)})", code)
    return re.sub(r"\bsteps=(\d+)", lambda m: f"steps={min(int(m.group(1)), SHORT_STEPS)}", code)


@pytest.fixture(scope="module")
def doc_files(tmp_path_factory) -> Dict[str, Path]:
    """The model (shipped, or a tiny random stand-in) and a 3BPA structure, written once."""
    from ictp_calc.io import save_model
    from ictp_calc.model import ModelConfig, build_model

    root = tmp_path_factory.mktemp("docs-files")
    atoms = _bpa_atoms()
    atoms.calc = None
    atoms.write(root / "structure.xyz", format="extxyz")
    shipped = REPO / SHIPPED_MODEL
    if shipped.is_file():
        return {"model": shipped, "structure": root / "structure.xyz", "tiny": False}
    config = ModelConfig(
        atomic_numbers=(1, 6, 7, 8), n_hidden_feats=4, n_product_feats=4, radial_mlp=(8,), readout_mlp=(4,),
        l_max_edge_attrs=2, l_max_hidden_feats=1, correlation=2, dtype="float64",
    )
    model = build_model(config, seed=0)
    model.energy_scale.fill_(0.02)  # weak random forces: a few steps stay far from any collision
    save_model(model, root / "model.pt", metadata={"note": "tiny random model of tests/test_docs.py"})
    return {"model": root / "model.pt", "structure": root / "structure.xyz", "tiny": True}


@pytest.fixture
def doc_workdir(tmp_path, monkeypatch, doc_files) -> Path:
    """A working directory laid out as the runnable blocks expect."""
    (tmp_path / "models").mkdir()
    shutil.copy(doc_files["model"], tmp_path / SHIPPED_MODEL)
    for name in STRUCTURE_FILES + (_quickstart_structure(),):
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(doc_files["structure"], target)
    monkeypatch.chdir(tmp_path)
    return tmp_path


BLOCKS = runnable_blocks()


def test_runnable_blocks_exist_and_are_unique():
    names = [name for _, name, _ in BLOCKS]
    assert len(names) >= 10, names
    assert len(names) == len(set(names)), f"duplicate block names: {names}"
    pages = {page for page, _, _ in BLOCKS}
    for page in ("quickstart.md", "guides/calculator.md", "guides/training.md"):
        assert page in pages, f"{page} has no runnable block"


@pytest.mark.parametrize("page,name,code", BLOCKS, ids=[f"{p}:{n}" for p, n, _ in BLOCKS])
def test_runnable_block(page, name, code, doc_workdir, doc_files, capsys):
    if doc_files["tiny"]:
        code = _shorten(code)
    namespace = {"__name__": "__main__"}
    exec(compile(code, f"docs/{page}:{name}", "exec"), namespace)  # noqa: S102
    capsys.readouterr()


# --------------------------------------------------------------------------------------------------
# Commands and options named in the docs


def _commands():
    from ictp_calc.cli import main

    return main.commands


def _option_names(command) -> set:
    names = {"--help", "-h"}
    for param in command.params:
        names.update(getattr(param, "opts", []))
        names.update(getattr(param, "secondary_opts", []))
    return names


def test_documented_command_lines_exist():
    commands = _commands()
    checked = 0
    for page, argv in command_lines():
        if argv[:1] in (["--version"], ["--help"]):
            continue
        assert argv, f"{page}: bare 'ictp-md'"
        name = argv[0]
        assert name in commands, f"{page}: 'ictp-md {name}' is not a command of ictp-md"
        options = _option_names(commands[name])
        for token in argv[1:]:
            if token.startswith("--"):
                assert token.split("=", 1)[0] in options, f"{page}: 'ictp-md {name}' has no option {token}"
        checked += 1
    assert checked, "no ictp-md command line was checked"


def test_documented_md_options_exist():
    """Every ``--option`` in the MD guide and the quickstart is an option of some ictp-md command."""
    commands = _commands()
    known = set().union(*(_option_names(c) for c in commands.values()))
    for page in ("guides/md.md", "quickstart.md"):
        text = (DOCS / page).read_text(encoding="utf-8")
        for option in sorted(set(re.findall(r"`(--[a-zA-Z][\w-]*)", text))):
            assert option in known, f"{page} names {option}, which no ictp-md command has"


# --------------------------------------------------------------------------------------------------
# Generated content and the build


def test_graph_keys_table_lists_every_key():
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import ictp_docs
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    from ictp_calc import keys

    declared = {name for name in dir(keys) if name.isupper() and isinstance(getattr(keys, name), str)}
    listed = {constant for _, constant, _, _, _ in ictp_docs.graph_keys()}
    assert listed == declared


def _missing_docs_requirements() -> List[str]:
    return [m for m in ("sphinx", "myst_parser", "furo", "sphinx_click") if importlib.util.find_spec(m) is None]


_NITPICK = re.compile(r"^(?P<where>.*?) WARNING: py:\w+ reference target not found: (?P<target>\S+)")


@pytest.mark.skipif(
    bool(_missing_docs_requirements()),
    reason=f"docs requirements not installed ({', '.join(_missing_docs_requirements())}): pip install -e '.[docs]'",
)
def test_docs_build_without_warnings(tmp_path):
    """The docs build with no warning, and every ictp_calc reference in the pages resolves.

    One build serves both: it runs in Sphinx's nitpicky mode (-n) without -W, then fails on any
    warning except unresolved references that the README's ``-W`` build does not see either:
    those to other packages (torch, numpy, ASE: no intersphinx, the docs build offline) and those
    inside docstrings. An unresolved ``ictp_calc`` reference written in a page fails.
    """
    cmd = [sys.executable, "-m", "sphinx", "-n", "--keep-going", "-b", "html", "-q",
           "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    problems = []
    for line in proc.stderr.splitlines():
        if "WARNING" not in line and "ERROR" not in line:
            continue
        match = _NITPICK.match(line)
        if match is None:
            problems.append(line)
        elif re.search(r"\.md(:\d+)?:?$", match.group("where")) and match.group("target").startswith("ictp_calc"):
            problems.append(line)
    assert not problems, "\n".join(problems)
    for page in ("index", "installation", "quickstart", "guides/calculator", "guides/md", "guides/training",
                 "guides/3bpa", "theory", "conventions", "performance", "figures", "reference/cli",
                 "reference/api", "reference/model-format", "reference/changelog"):
        assert (tmp_path / "html" / f"{page}.html").is_file(), page
