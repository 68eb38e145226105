"""The book's table of contents and its stored notebooks are consistent."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("toc_notebooks", ROOT / "book" / "toc_notebooks.py")
toc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toc)

TOC_NOTEBOOKS = toc.toc_notebooks()


def test_every_toc_entry_exists():
    import yaml

    entries = list(toc.toc_files(yaml.safe_load((ROOT / "_toc.yml").read_text())))
    assert entries, "the table of contents is empty"
    for entry in entries:
        assert any((ROOT / (entry + suffix)).exists() for suffix in (".md", ".ipynb")), entry


def test_every_notebook_in_the_book_is_in_the_toc_and_so_tested_by_nbval():
    found = {
        str(p.relative_to(ROOT))
        for p in (ROOT / "book").rglob("*.ipynb")
        if ".ipynb_checkpoints" not in p.parts
    }
    assert found == set(TOC_NOTEBOOKS)


@pytest.mark.parametrize("path", TOC_NOTEBOOKS)
def test_notebook_is_stored_executed_top_to_bottom(path):
    notebook = json.loads((ROOT / path).read_text())
    code = [
        c for c in notebook["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()
    ]
    counts = [c["execution_count"] for c in code]
    assert None not in counts, f"{path}: cells without stored output"
    assert counts == list(range(1, len(counts) + 1)), f"{path}: not run top to bottom once"
    errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"{path}: an error output is stored"


def _code_cells(path):
    notebook = json.loads((ROOT / path).read_text())
    return [c for c in notebook["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", TOC_NOTEBOOKS)
def test_notebook_imports_the_shared_helpers_instead_of_defining_its_own(path):
    # One home for what the notebooks share: bn.book (the glue helpers and the figure style).
    pattern = re.compile(r"^\s*def (glue_\w*|use_\w*style)\(|rcParams", re.M)
    offending = [
        "".join(c["source"]).splitlines()[0] for c in _code_cells(path)
        if pattern.search("".join(c["source"]))
    ]
    assert not offending, f"{path}: defines a glue or style helper of its own: {offending}"


@pytest.mark.parametrize("path", TOC_NOTEBOOKS)
def test_set_up_cell_is_folded_on_the_website(path):
    first = _code_cells(path)[0]
    assert "bn.book" in "".join(first["source"]), f"{path}: the first cell does not use bn.book"
    assert "hide-input" in first["metadata"].get("tags", []), f"{path}: set-up cell not folded"
