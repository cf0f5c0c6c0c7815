"""Sphinx configuration for the skce documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html`` from the
repository root. The build needs no network: cross-links to scikit-learn,
NumPy and Python are only resolved when ``SKCE_DOCS_INTERSPHINX=1`` is set.
"""

import os
import re
import sys
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
EXAMPLES = ROOT / "examples"
BENCHMARKS = ROOT / "benchmarks"

# Document the working tree, whether or not skce is installed.
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS))  # gallery_argv.py
os.environ.setdefault("MPLBACKEND", "agg")

import skce  # noqa: E402

project = "skce"
author = "The skce developers"
copyright = "2025, The skce developers"
version = release = skce.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "sg_execution_times.rst"]
default_role = "literal"

# -- API reference ----------------------------------------------------------
autosummary_generate = True
autodoc_typehints = "none"
# Each class page lists its methods itself (see _templates/class.rst).
numpydoc_show_class_members = False
numpydoc_xref_param_type = False

# -- Doctests ---------------------------------------------------------------
# Plain ``>>>`` blocks in the pages are tests; ``sphinx-build -b doctest``
# runs them, and so does tests/test_docs.py without Sphinx.
doctest_test_doctest_blocks = "default"
doctest_global_setup = "import numpy as np"

# -- Cross-links to other projects (opt-in: they need the network) ----------
intersphinx_mapping = {}
if os.environ.get("SKCE_DOCS_INTERSPHINX") == "1":
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
    }

# -- Example gallery --------------------------------------------------------
# Every script in examples/ is executed during the build except mnist.py,
# which reads a data file that the build does not have; it is shown as code.
_has_examples = any(EXAMPLES.glob("*.py"))
sphinx_gallery_conf = {
    "examples_dirs": ["../examples"] if _has_examples else [],
    "gallery_dirs": ["auto_examples"] if _has_examples else [],
    "filename_pattern": r"/(?!mnist\.py$)[^/]+\.py$",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("skce",),
    "backreferences_dir": "gen_modules/backreferences",
    "download_all_examples": False,
    "remove_config_comments": True,
    "min_reported_time": 5,
    "reset_argv": "gallery_argv.reset_argv",
}
if not _has_examples:
    # Keep the toctree entry valid until examples/ has scripts in it; the
    # folder is build output (ignored by git), overwritten by the gallery.
    _placeholder = DOCS / "auto_examples" / "index.rst"
    _placeholder.parent.mkdir(exist_ok=True)
    _placeholder.write_text(
        "Examples\n========\n\n"
        "The gallery is built from the scripts in ``examples/``; this build "
        "found none.\n",
        encoding="utf-8",
    )

# -- HTML -------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skce {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"changelog": [], "migration": [], "performance": []}
html_show_sourcelink = False


# -- The benchmark results, when the benchmarks have been run ---------------
class BenchmarkResults(Directive):
    """Include each report of benchmarks/results/ with its figure.

    The reports are Markdown written by benchmarks/_common.py; myst-parser
    reads them where the directive stands, so each report is a section of
    the page with real tables.
    """

    has_content = False

    def run(self):
        env = self.state.document.settings.env
        results = BENCHMARKS / "results"
        reports = sorted(results.glob("*.md"))
        if not reports:
            text = (
                "No results are in this build: benchmarks/results/ is empty. "
                "Run the scripts in benchmarks/ to produce them."
            )
            return [nodes.paragraph(text=text)]
        page = str(env.doc2path(env.docname))
        here = Path(page).parent
        lines = []
        for report in reports:
            env.note_dependency(str(report))
            path = os.path.relpath(report, here).replace(os.sep, "/")
            lines += [f".. include:: {path}", "   :parser: myst_parser.sphinx_", ""]
            figure = report.with_suffix(".png")
            if figure.is_file():
                env.note_dependency(str(figure))
                uri = "/" + os.path.relpath(figure, DOCS).replace(os.sep, "/")
                lines += [f".. image:: {uri}", f"   :alt: {report.stem}", ""]
        # Inserted into the page's own input, so each report's title opens a
        # section as it would in the page itself.
        self.state_machine.insert_input(lines, page)
        return []


# -- Docstrings inherited from scikit-learn ---------------------------------
_SKLEARN_REF = re.compile(r":ref:`([^`<]+?)\s*<[^`>]+>`")


def _unlink_sklearn_refs(app, what, name, obj, options, lines):
    """Keep only the text of scikit-learn's :ref: links when they can't resolve.

    Methods such as ``score`` come from scikit-learn with links into its user
    guide; without intersphinx they would be broken references.
    """
    if intersphinx_mapping or not getattr(obj, "__module__", "").startswith("sklearn."):
        return
    lines[:] = [_SKLEARN_REF.sub(r"\1", line) for line in lines]


def setup(app):
    app.add_directive("benchmark-results", BenchmarkResults)
    app.connect("autodoc-process-docstring", _unlink_sklearn_refs)
