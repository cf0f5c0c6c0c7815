"""The documentation's examples run, and the public docstrings follow numpydoc."""

import doctest
import inspect
import re
from pathlib import Path

import pytest

import skce

numpydoc_validate = pytest.importorskip("numpydoc.validate")
from numpydoc.docscrape import NumpyDocString  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs"
# Folders the Sphinx build writes into; their pages are not sources.
BUILD_OUTPUT = {"_build", "generated", "gen_modules", "auto_examples"}

PAGES = sorted(
    path
    for path in DOCS.rglob("*.rst")
    if not BUILD_OUTPUT.intersection(path.relative_to(DOCS).parts)
    and ">>>" in path.read_text(encoding="utf-8")
)

PUBLIC_CLASSES = [getattr(skce, name) for name in skce.__all__ if name[0].isupper()]

# RT02 asks for a bare type on a Returns line; scikit-learn names what is
# returned ("self : object"), and so does skce.
IGNORED_EVERYWHERE = {"RT02"}
# A method need not restate the class's extended summary, examples or links.
IGNORED_FOR_METHODS = {"ES01", "SA01", "EX01"}

# Problems already reported, as (object, rule). Fix the docstring, then delete
# its entry here: test_known_docstring_issues_are_current fails until you do.
# A word ending in "_" outside backticks is a hyperlink reference in
# reStructuredText ("shape (n_features_in_,)" breaks the Sphinx build).
_LITERAL = re.compile(r":\w+:`[^`]*`|``.*?``|`[^`]*`")
_BARE_REFERENCE = re.compile(r"(?<![\w`*])[A-Za-z]\w*_(?![\w`])")


def _public_objects():
    """Each public class and the public methods skce itself defines on it."""
    for cls in PUBLIC_CLASSES:
        name = f"skce.{cls.__name__}"
        yield name, cls
        for method_name, method in inspect.getmembers(cls, inspect.isfunction):
            if method_name.startswith("_"):
                continue
            if method.__module__.startswith("skce"):
                yield f"{name}.{method_name}", method


OBJECTS = dict(_public_objects())


def _bare_references(obj):
    """Words of a docstring's prose that reStructuredText reads as references."""
    doc = NumpyDocString(inspect.getdoc(obj) or "")
    texts = list(doc["Summary"]) + list(doc["Extended Summary"]) + list(doc["Notes"])
    for section in ("Parameters", "Returns", "Yields", "Attributes", "Raises"):
        for entry in doc[section]:
            texts.append(entry.type)
            texts.extend(entry.desc)
    return sorted(
        {m for text in texts for m in _BARE_REFERENCE.findall(_LITERAL.sub("", text))}
    )


def _docstring_errors(name):
    """(rule, message) pairs for one object, minus the rules that do not apply."""
    is_method = name.count(".") == 2
    errors = set()
    for code, message in numpydoc_validate.validate(name)["errors"]:
        if code in IGNORED_EVERYWHERE or (is_method and code in IGNORED_FOR_METHODS):
            continue
        errors.add((code, message))
    references = _bare_references(OBJECTS[name])
    if references:
        errors.add(
            (
                "RST01",
                f"Words read as hyperlink references: {references}; put them in "
                "double backticks (or single ones inside a type).",
            )
        )
    return errors


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_doc_page_examples(page):
    """Guards that the >>> examples in the documentation pages give what they show."""
    result = doctest.testfile(
        str(page),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        raise_on_error=False,
        verbose=False,
    )
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} example(s) failed in {page.name}"


def test_doc_pages_found():
    """Guards that the doctest collection still finds the pages with examples."""
    assert {p.name for p in PAGES} >= {"sparse_crossentropy.rst", "getting_started.rst"}


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_numpydoc_docstring(name):
    """Guards the numpydoc format of each public class and method docstring."""
    new = {(code, message) for code, message in _docstring_errors(name)}
    assert not new, "\n".join(f"{name}: {code} {message}" for code, message in new)
