"""The book's Matplotlib settings, so every chapter's figures look alike."""

from __future__ import annotations


def use_book_style() -> None:
    """Opaque white figures at a modest resolution.

    A transparent figure puts black axis labels on the website's dark background,
    where they vanish; a white one reads the same in the light and dark themes.
    Matplotlib is imported here, not by ``bn``, which needs only NumPy.
    """
    import matplotlib

    matplotlib.rcParams.update(
        {
            "figure.facecolor": "white",
            "savefig.facecolor": "white",
            "savefig.transparent": False,
            "figure.dpi": 100,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
