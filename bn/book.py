"""What the book's notebooks share: the figure style and the helpers that glue numbers.

A number glued into the prose must read the same on every reader's machine (the
README's section on the notebooks), so each helper says how much of a number is
shown:

- :func:`glue_bound` for rounding-level quantities: ``"below 1e-10"``, never digits;
- :func:`glue_stat` for training outcomes over seeds: mean and spread, at the
  precision the spread supports;
- :func:`glue_float` and :func:`glue_sci` for values that do not hang on the last bits
  (an exact count, a condition number of a fixed matrix), rounded to a few digits.

The ``glue_*`` helpers return None, so that a cell ending in one shows no output.
Matplotlib and myst-nb are imported when a helper is called, not by ``import bn``,
which needs only NumPy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def use_book_style() -> None:
    """Opaque white figures at a modest resolution, without top and right spines.

    A transparent figure puts black axis labels on the website's dark background,
    where they vanish; a white one reads the same in the light and dark themes.
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


def setup() -> None:
    """What every chapter's first cell does: the figure style and NumPy's print options.

    Four digits and no scientific notation for small values keep printed arrays short.
    """
    use_book_style()
    np.set_printoptions(precision=4, suppress=True)


def _glue(name: str, value: object) -> None:
    from myst_nb import glue

    glue(name, value, display=False)


def _real(where: str, name: str, value: object) -> float:
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: expected {name} to be a real number, got {value!r}") from None
    if not math.isfinite(result):
        raise ValueError(f"{where}: expected a finite {name}, got {result}")
    return result


def format_bound(value: float, bound: float) -> str:
    """``"below 1e-10"`` for a rounding-level ``value`` under ``bound``.

    Raises:
        ValueError: if ``value`` is not below ``bound``: the claim the text makes is then
            false, and printing the digits instead would hang on the last bits.
    """
    value, bound = _real("format_bound", "value", value), _real("format_bound", "bound", bound)
    if bound <= 0:
        raise ValueError(f"format_bound: expected bound > 0, got {bound}")
    if not abs(value) < bound:
        raise ValueError(f"format_bound: expected |value| below {bound:.0e}, got {value:.3e}")
    mantissa, exponent = f"{bound:.0e}".split("e")
    return f"below {mantissa}e{int(exponent)}"  # "1e-6", not "1e-06"


def glue_bound(name: str, value: float, bound: float) -> None:
    """Glue ``format_bound(value, bound)`` under ``name``."""
    _glue(name, format_bound(value, bound))


def round_significant(value: float, digits: int = 6) -> float:
    """``value`` rounded to ``digits`` significant digits, as a Python float."""
    return float(f"{_real('round_significant', 'value', value):.{digits}g}")


def glue_float(name: str, value: float, digits: int = 6) -> None:
    """Glue ``value`` rounded to ``digits`` significant digits, as a Python float.

    For values that do not depend on the last bits of a computation. A rounding-level
    quantity takes :func:`glue_bound`, a training outcome :func:`glue_stat`.
    """
    _glue(name, round_significant(value, digits))


def format_sci(value: float, digits: int = 2) -> str:
    """A number in scientific notation for the prose: ``"7.4 × 10⁶"``."""
    mantissa, exponent = f"{_real('format_sci', 'value', value):.{digits - 1}e}".split("e")
    return f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPTS)}"


def glue_sci(name: str, value: float, digits: int = 2) -> None:
    """Glue ``format_sci(value, digits)`` under ``name``."""
    _glue(name, format_sci(value, digits))


def _decimals(spread: float) -> int:
    # The decimal place of the spread's leading digit: 2.7 -> 0, 0.042 -> 2, 31 -> -1.
    return -math.floor(math.log10(spread)) if spread > 0 else 0


def format_stat(values: Sequence[float], scale: float = 1.0, min_seeds: int = 5) -> str:
    """Mean ± standard deviation over seeds, rounded where the spread says to: ``"54 ± 3"``.

    Both numbers are rounded to the decimal place of the spread's leading digit; digits
    below the spread are noise, and a reader's machine would print others.

    Args:
        values: one outcome per seed, at least ``min_seeds`` of them.
        scale: multiplies every value first, e.g. 100 for accuracies in percent.
        min_seeds: the fewest values accepted.

    Raises:
        ValueError: if there are fewer than ``min_seeds`` values, or one is not finite.
    """
    data = [_real("format_stat", "values", v) * scale for v in values]
    if len(data) < min_seeds:
        raise ValueError(f"format_stat: expected at least {min_seeds} seeds, got {len(data)}")
    mean, spread = float(np.mean(data)), float(np.std(data, ddof=1))
    decimals = max(_decimals(spread), 0)
    spread_text = f"{spread:.{decimals}f}" if spread > 0 else "0"
    return f"{mean:.{decimals}f} ± {spread_text}"


def glue_stat(name: str, values: Sequence[float], scale: float = 1.0) -> None:
    """Glue ``format_stat(values, scale)`` under ``name``."""
    _glue(name, format_stat(values, scale))
