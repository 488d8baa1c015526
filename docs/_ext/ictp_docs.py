"""Small Sphinx helpers for the ictp_calc docs.

``graph-keys``: a table of every key of :mod:`ictp_calc.keys` with its shape, meaning and unit,
read from the source file itself (``NAME = "key"  # [shape] | meaning, unit``), so the table can
never drift from the code.

The option help texts of ``ictp-md`` are plain text; :func:`_plain_option_help` escapes the
characters that reStructuredText would read as markup there (``nvt-*``).

``api-package`` (reStructuredText context, i.e. inside ``{eval-rst}``): the API of a package,
generated from the code: the package's public names (its ``__all__``) under the package's own
name, then every submodule with the members the package does not already export. New submodules
appear without editing the docs, and no object is documented twice.

The ``ictp-md`` descriptions (docstrings of the click commands) are plain text too: a name like
``FILE@INDEX`` would read as an e-mail address in reStructuredText (a ``mailto:`` link), so such
names become literals there (:func:`_plain_description`).

Equations render offline: MathJax 3 comes from the ``django-static-mathjax`` package on PyPI (the
MathJax distribution as plain files, no dependencies; in the ``docs`` and ``test`` extras). The
parts that the HTML pages use are copied into ``_static/mathjax/`` of the build and
``mathjax_path`` points there, so a reader needs no internet. Without the package the build warns
(an error with ``-W``) and falls back to Sphinx's CDN default.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
import shutil
from pathlib import Path
from typing import List, Optional, Tuple

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

MATHJAX_PATH = "mathjax/tex-mml-chtml.js"  # relative to _static
# What tex-mml-chtml.js loads at run time: TeX extensions on demand, the CHTML fonts, the menu and the
# accessibility components (speech rule engine included).
_MATHJAX_PARTS = ("tex-mml-chtml.js", "input/tex/extensions", "output/chtml/fonts/woff-v2", "ui", "a11y", "sre",
                  "adaptors")

_LINE = re.compile(r'^([A-Z_]+)\s*=\s*"([^"]+)"\s*#\s*(\[[^\]]*\][^|]*)\|\s*(.+)$')
_SECTION = re.compile(r"^#\s*(.+)$")


def graph_keys() -> List[Tuple[str, str, str, str, str]]:
    """``(section, constant, key, shape, meaning)`` for every key declared in ``ictp_calc/keys.py``."""
    spec = importlib.util.find_spec("ictp_calc.keys")
    source = Path(spec.origin).read_text(encoding="utf-8")
    rows, section = [], "Inputs"
    for line in source.splitlines():
        line = line.strip()
        match = _LINE.match(line)
        if match:
            constant, key, shape, meaning = (g.strip() for g in match.groups())
            rows.append((section, constant, key, shape, meaning))
            continue
        heading = _SECTION.match(line)
        if heading and not line.startswith("#!"):
            section = heading.group(1).split("(")[0].split(" of ")[0].strip()
    return rows


def _cell(text: str, literal: bool = False) -> nodes.entry:
    para = nodes.paragraph()
    para += nodes.literal(text, text) if literal else nodes.Text(text)
    return nodes.entry("", para)


def _row(cells) -> nodes.row:
    row = nodes.row()
    for cell in cells:
        row += cell
    return row


class GraphKeysDirective(SphinxDirective):
    """``graph-keys``: the table of :mod:`ictp_calc.keys` (built as docutils nodes, parser-agnostic)."""

    has_content = False

    def run(self):
        rows = graph_keys()
        if not rows:
            raise self.error("no keys found in ictp_calc/keys.py (has its comment format changed?)")
        widths = (14, 18, 16, 20, 40)
        table = nodes.table(classes=["graph-keys"])
        group = nodes.tgroup(cols=len(widths))
        table += group
        for width in widths:
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        head += _row(_cell(t) for t in ("group", "constant", "key", "shape", "meaning, unit"))
        group += head
        body = nodes.tbody()
        for section, constant, key, shape, meaning in rows:
            body += _row([_cell(section), _cell(f"keys.{constant}", True), _cell(f'"{key}"', True),
                          _cell(shape, True), _cell(meaning)])
        group += body
        return [table]


def _exported(module) -> dict:
    """``{name: object}`` of a module's ``__all__``."""
    return {name: getattr(module, name) for name in getattr(module, "__all__", []) if hasattr(module, name)}


def api_lines(package_name: str) -> List[str]:
    """reStructuredText of :class:`ApiPackageDirective` for one package (or plain module)."""
    package = importlib.import_module(package_name)
    exported = _exported(package)
    lines = [f".. automodule:: {package_name}", "   :members:" if exported else "   :no-members:", ""]
    if not hasattr(package, "__path__"):
        return lines
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        name = f"{package_name}.{info.name}"
        module = importlib.import_module(name)
        again = [n for n, obj in _exported(module).items() if n in exported and exported[n] is obj]
        lines += [f".. rubric:: {name}", "   :class: api-module", "", f".. automodule:: {name}", "   :members:"]
        if info.name in exported:  # e.g. ictp_calc.md.optimize, both a submodule and a function
            lines.append("   :no-index:")
        if again:
            lines.append(f"   :exclude-members: {', '.join(sorted(again))}")
        lines.append("")
    return lines


class ApiPackageDirective(SphinxDirective):
    """``.. api-package:: ictp_calc.io``: the package's API and that of its submodules."""

    required_arguments = 1
    has_content = False

    def run(self):
        lines = api_lines(self.arguments[0])
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=f"api-package {self.arguments[0]}"), 0, container)
        return container.children


def _plain_option_help(app, ctx, lines) -> None:
    """Option help of click is plain text, not reStructuredText: escape ``*`` (``nvt-*``) there."""
    for i, line in enumerate(lines):
        if not line.lstrip().startswith(".. "):
            lines[i] = re.sub(r"(?<!\\)\*", r"\\*", line)


_ADDRESS_LIKE = re.compile(r"(?<![`\w])([\w.-]+@[\w:.-]*\w)(?![`\w])")


def _plain_description(app, ctx, lines) -> None:
    """``FILE@INDEX`` and ``data.xyz@:5`` in a command's description as literals, not mail links."""
    for i, line in enumerate(lines):
        if not line.lstrip().startswith(".. "):
            lines[i] = _ADDRESS_LIKE.sub(r"``\1``", line)


def mathjax_source() -> Optional[Path]:
    """The MathJax 3 ``es5`` folder of the installed ``django-static-mathjax`` package, or None."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax" / "es5"
    return folder if (folder / "tex-mml-chtml.js").is_file() else None


def _local_mathjax(app, config) -> None:
    if mathjax_source() is None:
        logger.warning("MathJax is not installed (pip install -e '.[docs]' brings django-static-mathjax): the "
                       "pages load it from a CDN and show raw TeX without internet")
        return
    config.mathjax_path = MATHJAX_PATH


def _copy_mathjax(app, exception) -> None:
    """Copy MathJax into ``_static/mathjax`` of an HTML build (once; later builds find it there)."""
    source = mathjax_source()
    if exception is not None or source is None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / "mathjax"
    for part in _MATHJAX_PARTS:
        src, dst = source / part, target / part
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        elif not dst.is_file() or dst.stat().st_size != src.stat().st_size:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    license_file = source.parent / "LICENSE"
    if license_file.is_file():
        shutil.copy2(license_file, target / "LICENSE")


def setup(app):
    app.setup_extension("sphinx_click")
    app.setup_extension("sphinx.ext.mathjax")
    app.connect("config-inited", _local_mathjax)
    app.connect("build-finished", _copy_mathjax)
    app.connect("sphinx-click-process-description", _plain_description)
    app.connect("sphinx-click-process-options", _plain_option_help)
    app.add_directive("graph-keys", GraphKeysDirective)
    app.add_directive("api-package", ApiPackageDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
