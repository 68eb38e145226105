"""Print the notebooks listed in _toc.yml, one per line: the files nbval re-executes."""

import pathlib

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent


def toc_files(node):
    """Yield every ``file:`` entry (and the root) of a Jupyter Book table of contents."""
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node:
                yield node[key]
        for value in node.values():
            yield from toc_files(value)
    elif isinstance(node, list):
        for item in node:
            yield from toc_files(item)


def toc_notebooks():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [f + ".ipynb" for f in toc_files(toc) if (ROOT / (f + ".ipynb")).exists()]


if __name__ == "__main__":
    print("\n".join(toc_notebooks()))
