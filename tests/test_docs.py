"""The documentation: its runnable code blocks run, its commands exist, and it builds with -W.

Convention for runnable code (see docs/installation.md): a MyST block

    ```{code-block} python
    :name: run-<unique-name>

    ...code...
    ```

is executed by :func:`test_runnable_block`, each in a fresh namespace and a fresh working
directory that holds what the docs refer to:

* ``models/ictp-3bpa.pt``: the shipped model;
* ``3bpa.xyz`` and the quickstart's structure file: the committed 3BPA starting geometry.

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


@pytest.fixture(scope="module")
def doc_files() -> Dict[str, Path]:
    """The shipped model and the committed 3BPA structure (both part of the repository)."""
    files = {"model": REPO / SHIPPED_MODEL, "structure": REPO / _quickstart_structure()}
    for name, path in files.items():
        assert path.is_file(), f"the docs use the {name} {path}, which is missing"
    return files


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
def test_runnable_block(page, name, code, doc_workdir, capsys):
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
    modules = ("sphinx", "myst_parser", "furo", "sphinx_click", "mathjax")  # mathjax: django-static-mathjax
    return [m for m in modules if importlib.util.find_spec(m) is None]


_NITPICK = re.compile(r"^(?P<where>.*?) WARNING: py:\w+ reference target not found: (?P<target>\S+)")


@pytest.mark.skipif(
    bool(_missing_docs_requirements()),
    reason=f"docs requirements not installed ({', '.join(_missing_docs_requirements())}): pip install -e '.[docs]'",
)
def test_docs_build_without_warnings(tmp_path):
    _build_and_check(tmp_path)


def _build_and_check(tmp_path):
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
    html = tmp_path / "html"
    for page in ("index", "installation", "quickstart", "guides/calculator", "guides/md", "guides/training",
                 "guides/3bpa", "theory", "conventions", "performance", "figures", "reference/cli",
                 "reference/api", "reference/model-format", "reference/changelog"):
        assert (html / f"{page}.html").is_file(), page
    _check_offline_math(html)
    _check_no_mail_links(html)


_SCRIPT_SRC = re.compile(r"<script\b[^>]*\bsrc=\"([^\"]+)\"")


def _check_offline_math(html: Path) -> None:
    """Equations render without internet: MathJax comes from the build's own _static, no page loads a
    remote script."""
    remote = []
    for page in html.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        remote += [f"{page.relative_to(html)}: {src}" for src in _SCRIPT_SRC.findall(text) if "//" in src]
        if "mathjax" in text.lower():
            assert "cdn.jsdelivr.net" not in text and "mathjax@" not in text, page
    assert not remote, remote
    theory = (html / "theory.html").read_text(encoding="utf-8")
    assert '<script defer="defer" src="_static/mathjax/tex-mml-chtml.js">' in theory
    assert r'<span class="math notranslate nohighlight">\(' in theory  # TeX for MathJax to typeset
    assert (html / "_static" / "mathjax" / "tex-mml-chtml.js").stat().st_size > 500_000
    fonts = html / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2"
    assert len(list(fonts.glob("*.woff"))) > 10


def _check_no_mail_links(html: Path) -> None:
    """``FILE@INDEX`` (the CLI reference, from the commands' help) is a literal, not an e-mail address."""
    mail = [str(p.relative_to(html)) for p in html.rglob("*.html") if "mailto:" in p.read_text(encoding="utf-8")]
    assert not mail, mail
    cli = (html / "reference" / "cli.html").read_text(encoding="utf-8")
    assert '<span class="pre">FILE&#64;INDEX</span>' in cli


_BREAK_MD = '''
import sys

class _Broken:
    """Every import of ictp_calc.md fails, as a syntax or dependency error in it would."""

    def find_spec(self, name, path=None, target=None):
        if name == "ictp_calc.md" or name.startswith("ictp_calc.md."):
            raise ImportError(f"simulated import error in {name}")
        return None

sys.meta_path.insert(0, _Broken())
'''


def test_an_import_error_in_ictp_calc_md_fails_the_docs_tests(tmp_path):
    """The docs tests import the package as they find it: a broken ``ictp_calc.md`` fails them, never
    skips them. Run in a child pytest whose interpreter cannot import ``ictp_calc.md``."""
    (tmp_path / "sitecustomize.py").write_text(_BREAK_MD)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(Path(__file__)),
           "-k", "documented_command_lines or documented_md_options or api_directive"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    summary = proc.stdout.strip().splitlines()[-1]
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "3 failed" in summary and "skipped" not in summary, summary
    assert "simulated import error in ictp_calc.md" in proc.stdout


def test_api_directive_imports_every_submodule():
    """The API page lists every submodule of a package, so an import error there stops the build."""
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import ictp_docs
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    lines = ictp_docs.api_lines("ictp_calc.md")
    assert ".. automodule:: ictp_calc.md.runner" in lines and ".. automodule:: ictp_calc.md.optimize" in lines
