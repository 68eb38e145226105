"""Sphinx additions for the book: MathJax served offline, and author-year bibliographies.

Offline MathJax: serve it from the built site itself, so no page loads a script from a CDN.
MathJax 3.2.2 comes from the ``django-static-mathjax`` package on PyPI (pinned in
requirements.txt). Only the combined component ``tex-mml-chtml.js``, its woff-v2 fonts
and the TeX extensions it autoloads are copied, into ``_build/html/_static/mathjax/``:
the script finds the others relative to its own location. They are copied after the
build rather than placed in a ``_static`` source folder, because Jupyter Book adds every
``*.js`` found there as a script tag, and MathJax would load twice.
"""

from __future__ import annotations

import importlib.util
import pathlib
import shutil

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError

SCRIPT = "tex-mml-chtml.js"
FONTS = pathlib.Path("output", "chtml", "fonts", "woff-v2")
# TeX extensions that the combined component loads on demand (\boldsymbol, \cancel, ...).
EXTENSIONS = pathlib.Path("input", "tex", "extensions")
TARGET = "mathjax"  # under _static


def _mathjax_es5() -> pathlib.Path:
    spec = importlib.util.find_spec("mathjax")  # the package's import name; nothing is imported
    if spec is None or not spec.submodule_search_locations:
        raise ExtensionError(
            "offline_mathjax: expected the 'django-static-mathjax' package (pip install -r "
            "requirements.txt), got no 'mathjax' package"
        )
    es5 = pathlib.Path(next(iter(spec.submodule_search_locations)), "static", "mathjax", "es5")
    if not (es5 / SCRIPT).is_file():
        raise ExtensionError(f"offline_mathjax: expected {es5 / SCRIPT}, got no such file")
    return es5


def _configure(app: Sphinx) -> None:
    _mathjax_es5()  # fail early, before any page is written, if MathJax is missing
    app.config.mathjax_path = f"{TARGET}/{SCRIPT}"  # relative: resolved under _static


def _copy(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    es5 = _mathjax_es5()
    target = pathlib.Path(app.outdir, "_static", TARGET)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(es5 / SCRIPT, target / SCRIPT)
    shutil.copytree(es5 / FONTS, target / FONTS, dirs_exist_ok=True)
    shutil.copytree(es5 / EXTENSIONS, target / EXTENSIONS, dirs_exist_ok=True)


def _last_name(person) -> str:
    return str(Text.from_latex(" ".join(person.last_names)))


def _author_year(entry) -> str:
    """'Ioffe and Szegedy, 2015', 'Santurkar et al., 2018', or the organization's name."""
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    if not persons:
        who = entry.fields.get("organization") or entry.fields.get("title", entry.key)
        who = str(Text.from_latex(who))
    elif len(persons) == 1:
        who = _last_name(persons[0])
    elif len(persons) == 2:
        who = f"{_last_name(persons[0])} and {_last_name(persons[1])}"
    else:
        who = f"{_last_name(persons[0])} et al."
    return f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabels(BaseLabelStyle):
    """Bibliography labels that match the author-year citations in the text."""

    def format_labels(self, sorted_entries):
        labels = [_author_year(entry) for entry in sorted_entries]
        for label in labels:  # two works of the same authors and year: 2018a, 2018b
            count = labels.count(label)
            if count > 1:
                index = [i for i, other in enumerate(labels) if other == label]
                for letter, i in zip("abcdefghijklmnopqrstuvwxyz", index):
                    labels[i] = f"{label}{letter}"
        yield from labels


class BookStyle(UnsrtStyle):
    """The unsrt entry format, author-year labels, sorted by author and year."""

    default_label_style = "author_year_labels"
    default_sorting_style = "author_year_title"


register_plugin("pybtex.style.labels", "author_year_labels", AuthorYearLabels)
register_plugin("pybtex.style.formatting", "book", BookStyle)


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    # sphinx-thebe registers its inline script twice under Jupyter Book; the second
    # copy (filename None, not "", so Sphinx does not see it as the same asset)
    # redeclares `const THEBE_JS_URL`, which is a page error in the browser.
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (str(script.filename or ""), tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app: Sphinx) -> dict[str, object]:
    app.connect("builder-inited", _configure)
    app.connect("html-page-context", _dedupe_scripts)
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
