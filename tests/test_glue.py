"""bn.book: the helpers the notebooks share to glue numbers that hold on any machine."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from bn import book


@pytest.fixture
def glued(monkeypatch):
    """Record what would be glued, without a notebook kernel."""
    store = {}
    monkeypatch.setattr(book, "_glue", lambda name, value: store.__setitem__(name, value))
    return store


def test_bound_names_the_bound_not_the_digits(glued):
    assert book.glue_bound("res", 7.4e-12, 1e-10) is None  # a cell ending in it prints nothing
    assert glued == {"res": "below 1e-10"}
    assert book.format_bound(-3e-7, 1e-6) == "below 1e-6"  # not "1e-06"
    assert book.format_bound(0.0, 5e-3) == "below 5e-3"


def test_bound_that_does_not_hold_is_an_error_not_digits():
    with pytest.raises(ValueError, match=r"expected \|value\| below 1e-10, got 2\.000e-10"):
        book.format_bound(2e-10, 1e-10)
    with pytest.raises(ValueError, match="expected a finite value, got nan"):
        book.format_bound(float("nan"), 1e-10)
    with pytest.raises(ValueError, match="expected bound > 0, got 0.0"):
        book.format_bound(0.0, 0.0)
    with pytest.raises(TypeError, match="expected value to be a real number, got 'x'"):
        book.format_bound("x", 1e-3)


def test_float_is_rounded_to_significant_digits(glued):
    book.glue_float("kappa", np.float64(2108.234567891), digits=3)
    assert glued["kappa"] == 2110.0 and type(glued["kappa"]) is float  # NumPy scalars warn
    assert book.round_significant(0.000123456, 2) == 0.00012


def test_sci_uses_superscripts(glued):
    book.glue_sci("big", 7.449e6)
    assert book.format_sci(3.2e-5, digits=1) == "3 × 10⁻⁵"
    assert glued["big"] == "7.4 × 10⁶"


def test_stat_is_rounded_at_the_spread(glued):
    values = [0.5432, 0.5011, 0.5587, 0.5213, 0.5398]
    expected_mean, expected_std = np.mean(values) * 100, np.std(values, ddof=1) * 100
    assert round(expected_std) == 2  # spread 2.2 points: whole percents
    book.glue_stat("acc", values, scale=100)
    assert glued["acc"] == f"{expected_mean:.0f} ± {expected_std:.0f}" == "53 ± 2"
    assert book.format_stat([1.01, 1.02, 1.03, 1.04, 1.05]) == "1.03 ± 0.02"  # std 0.016


def test_stat_needs_five_seeds():
    with pytest.raises(ValueError, match="expected at least 5 seeds, got 3"):
        book.format_stat([0.1, 0.2, 0.3])
    assert book.format_stat([2.0] * 5) == "2 ± 0"


def test_import_bn_imports_neither_myst_nb_nor_matplotlib():
    code = (
        "import sys, bn, bn.book; "
        "print(sorted(m for m in ('myst_nb', 'matplotlib') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_setup_sets_the_style_and_print_options():
    matplotlib = pytest.importorskip("matplotlib")
    before = np.get_printoptions()
    try:
        book.setup()
        assert matplotlib.rcParams["figure.facecolor"] == "white"
        assert not matplotlib.rcParams["axes.spines.top"]
        assert np.get_printoptions()["precision"] == 4
    finally:
        np.set_printoptions(**before)
