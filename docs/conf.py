"""Sphinx configuration of the ictp_calc documentation.

Build (warnings are errors, as in CI), from the repository root::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

import os
import sys

# The package is normally installed (pip install -e '.[docs]'); the path makes a plain checkout work too.
sys.path.insert(0, os.path.abspath(".."))
sys.path.insert(0, os.path.abspath("_ext"))

from ictp_calc import __version__  # noqa: E402

project = "ictp_calc"
author = "the ictp_calc developers"
copyright = "2026, the ictp_calc developers"
version = release = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx_click",
    "ictp_docs",  # docs/_ext: graph-keys table and api-package (generated from the code)
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# MyST: $...$ and $$...$$ math, amsmath environments, ::: fences, definition lists, heading anchors.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
myst_dmath_double_inline = True

# API reference from the Google-style docstrings.
autodoc_default_options = {"members": True, "show-inheritance": True, "member-order": "bysource"}
autodoc_typehints = "signature"
python_maximum_signature_line_length = 100  # longer signatures get one parameter per line
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# "Attributes:" sections as :ivar: fields, so that they do not clash with the dataclass fields.
napoleon_use_ivar = True

html_theme = "furo"
html_title = f"ictp_calc {release}"
pygments_style = "default"
