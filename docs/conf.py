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
from docutils.statemachine import StringList

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
    """Render each report of benchmarks/results/ with its figure.

    The reports are Markdown written by benchmarks/_common.py: a title, lines
    about the run, bold captions over pipe tables, and bullet notes. They are
    turned into reStructuredText (tables become list-tables) and parsed, so
    the page shows real tables, not Markdown source.
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
        lines = []
        for report in reports:
            env.note_dependency(str(report))
            lines += markdown_report_to_rst(report.read_text(encoding="utf-8"))
            figure = report.with_suffix(".png")
            if figure.is_file():
                env.note_dependency(str(figure))
                uri = "/" + os.path.relpath(figure, DOCS).replace(os.sep, "/")
                lines += ["", f".. image:: {uri}", f"   :alt: {report.stem}", ""]
        container = nodes.container()
        self.state.nested_parse(StringList(lines), self.content_offset, container)
        return container.children


def _inline(text):
    """Markdown inline code to reStructuredText's double backticks."""

    def literal(match):
        # reST ends an inline literal only before a space or punctuation:
        # "`tf.function`s" needs an escaped space after the literal.
        after = text[match.end() : match.end() + 1]
        return f"``{match.group(1)}``" + ("\\ " if after.isalnum() else "")

    return re.sub(r"(?<!`)`([^`]+)`(?!`)", literal, text)


def markdown_report_to_rst(text):
    """The subset of Markdown the benchmark reports use, as reST lines."""
    out, table = [], []

    def flush_table():
        if not table:
            return
        rows = [
            [_inline(cell.strip()) for cell in row.strip().strip("|").split("|")]
            for row in table
            if not set(row.replace("|", "").strip()) <= set("-: ")
        ]
        out.extend(["", ".. list-table::", "   :header-rows: 1", ""])
        for row in rows:
            out.append(f"   * - {row[0]}".rstrip())
            out.extend(f"     - {cell}".rstrip() for cell in row[1:])
        out.append("")
        table.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush_table()
        if line.startswith("# "):
            out.extend(["", f".. rubric:: {line[2:].strip()}", ""])
        elif line.startswith("**") and line.rstrip().endswith("**"):
            out.extend(["", f"**{_inline(line.strip().strip('*'))}**", ""])
        elif line.endswith("  "):
            out.extend([f"| {_inline(line.strip())}"])
        else:
            if out and out[-1].startswith("| "):
                out.append("")  # a line block ends with a blank line
            out.append(_inline(line))
    flush_table()
    return out


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
