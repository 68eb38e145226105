"""Checkers for the exercises: run your implementation next to ``bn``'s and say what differs.

Each checker draws float64 inputs of several shapes, calls your function and
``bn``'s on the same numbers, and prints one line when all agree, or which output
is wrong (``dx``, ``dgamma``, ...), for which input shape, by how much and where.
An exception in your code is reported with the shape that triggered it and the
line of your code it came from. Every checker returns a :class:`CheckResult`,
which is true when the check passed.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import norms

_BN_DIR = str(Path(__file__).resolve().parent)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of a check; ``bool(result)`` is ``result.passed``."""

    passed: bool
    message: str  # what was printed
    output: str | None = None  # the wrong output, e.g. "dx"; None if all are right
    shape: tuple[int, ...] | None = None  # the input shape where it went wrong the most
    error: float = 0.0  # worst relative error: max |yours - bn's| / max |bn's|

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"CheckResult(passed={self.passed}, output={self.output!r}, shape={self.shape})"


def _numpy(a):
    return np.asarray(a.get() if hasattr(a, "get") else a, dtype=np.float64)


def _relative_error(yours, expected):
    """Largest difference over the largest expected magnitude, and the index of it."""
    if not np.all(np.isfinite(yours)):
        return math.inf, np.unravel_index(np.argmin(np.isfinite(yours)), yours.shape)
    diff = np.abs(yours - expected)
    index = np.unravel_index(np.argmax(diff), diff.shape) if diff.size else ()
    return float(diff.max(initial=0.0) / max(np.abs(expected).max(initial=0.0), 1e-12)), index


def _your_line(err):
    """'file:line: code' of the innermost frame outside NumPy, CuPy and bn, if any."""
    frames = [
        f
        for f in traceback.extract_tb(err.__traceback__)
        if not f.filename.startswith(_BN_DIR) and "-packages" not in f.filename
    ]
    if not frames:
        return ""
    f = frames[-1]
    return f"\n  at {f.filename}, line {f.lineno}: {(f.line or '').strip()}"


def _as_outputs(result, count):
    if count == 1 and not isinstance(result, (tuple, list)):
        return (result,)
    if not isinstance(result, (tuple, list)) or len(result) != count:
        got = (
            f"{len(result)} values" if isinstance(result, (tuple, list)) else type(result).__name__
        )
        raise _Wrong(f"expected {count} outputs, got {got}")
    return tuple(result)


class _Wrong(Exception):
    """A structural problem with the outputs (count, None, shape)."""


def _compare(got, expected, names, where):
    """Errors per output name; raises _Wrong for a missing output or a wrong shape."""
    errors = {}
    for name, yours, ref in zip(names, _as_outputs(got, len(names)), expected, strict=True):
        if yours is None:
            raise _Wrong(f"{name} is None {where}")
        try:
            yours, ref = _numpy(yours), _numpy(ref)
        except (TypeError, ValueError) as err:
            raise _Wrong(
                f"{name} is not an array of numbers ({type(yours).__name__}) {where}"
            ) from err
        if yours.shape != ref.shape:
            raise _Wrong(f"{name} has shape {yours.shape} {where}; expected {ref.shape}")
        errors[name] = (*_relative_error(yours, ref), yours, ref)
    return errors


def _mutated(case, before):
    for name, value in case.items():
        if name in before and not np.array_equal(_numpy(value), before[name]):
            return name
    return None


def _run_case(fn, reference, case, outputs, where):
    """Return ({output: (error, index, yours, ref)}, problem message or None)."""
    expected = _as_outputs(reference(*case.values()), len(outputs))
    before = {k: _numpy(v).copy() for k, v in case.items() if hasattr(v, "shape")}
    try:
        got = fn(*case.values())
    except Exception as err:  # noqa: BLE001 -- the reader's code: report any error, never crash
        return {}, f"raised {type(err).__name__}: {str(err).strip()} {where}{_your_line(err)}"
    changed = _mutated(case, before)
    if changed:
        return {}, f"changed its input {changed} in place {where}"
    try:
        return _compare(got, expected, outputs, where), None
    except _Wrong as err:
        return {}, str(err)


def _finish(result, verbose):
    if verbose:
        print(result.message)
    return result


def check_function(
    fn: Callable,
    reference: Callable,
    cases: Sequence[dict[str, object]],
    outputs: Sequence[str],
    name: str | None = None,
    rtol: float = 1e-6,
    verbose: bool = True,
) -> CheckResult:
    """Call ``fn`` and ``reference`` on each case and compare their outputs.

    Args:
        fn: the implementation to check.
        reference: the trusted implementation, same signature.
        cases: argument dicts, passed positionally in their order; the first
            entry names the shape in the report, e.g. ``{"x": x, "gamma": gamma}``.
        outputs: names of the outputs, e.g. ``("dx", "dgamma", "dbeta")``; with
            one name, ``fn`` returns one array, otherwise a tuple.
        name: what to call ``fn`` in the report (default: its ``__name__``).
        rtol: largest relative error accepted.
        verbose: print the report.
    """
    name = name or getattr(fn, "__name__", "your function")
    worst, shapes, problems = {}, [], []
    for case in cases:
        first, value = next(iter(case.items()))
        shape = tuple(value.shape)
        shapes.append(shape)
        errors, problem = _run_case(fn, reference, case, outputs, f"for {first} of shape {shape}")
        if problem:
            problems.append((shape, f"Problem: {name} {problem}"))
        for out, (error, index, yours, ref) in errors.items():
            if out not in worst or error > worst[out][0]:
                worst[out] = (error, shape, index, float(yours[index]), float(ref[index]))
    return _finish(_summary(name, worst, shapes, problems, first, rtol), verbose)


def _summary(name, worst, shapes, problems, first, rtol):
    wrong = sorted((o for o in worst if not worst[o][0] <= rtol), key=lambda o: -worst[o][0])
    if not wrong and not problems:
        top = max(worst, key=lambda o: worst[o][0])
        shown = ", ".join(map(str, shapes))
        message = (
            f"All good: {name} matches bn for {first} of shapes {shown} "
            f"(worst relative error {worst[top][0]:.1e}, in {top})."
        )
        return CheckResult(True, message, error=worst[top][0])
    lines = [_wrong_values(worst, wrong, first)] if wrong else []
    lines += [problem for _, problem in problems]
    if wrong:
        return CheckResult(
            False, "\n".join(lines), wrong[0], worst[wrong[0]][1], worst[wrong[0]][0]
        )
    return CheckResult(False, "\n".join(lines), None, problems[0][0], math.inf)


def _wrong_values(worst, wrong, first):
    out = wrong[0]
    error, shape, index, yours, ref = worst[out]
    message = (
        f"Problem: {out} differs from bn's: relative error {error:.2e} for {first} of shape "
        f"{shape}, worst at index {tuple(int(i) for i in index)}: yours {yours:.6g}, "
        f"bn's {ref:.6g}."
    )
    right = [o for o in worst if o not in wrong]
    if len(wrong) > 1:
        message += f" Also wrong: {', '.join(wrong[1:])}."
    if right:
        message += f" Right: {', '.join(right)}."
    return message


BATCHNORM_SHAPES = ((4, 3), (10, 5), (2, 3, 4, 5))
LAYERNORM_SHAPES = ((4, 5), (2, 3, 4, 5))


def _norm_cases(shapes, param_shape, eps, seed, with_dout):
    rng = np.random.default_rng(seed)
    cases = []
    for shape in shapes:
        case = {"x": rng.standard_normal(shape) * 2.0 + 1.5}  # a mean and a scale to remove
        case["gamma"] = rng.standard_normal(param_shape(shape))
        case["beta"] = rng.standard_normal(param_shape(shape))
        if with_dout:
            case["dout"] = rng.standard_normal(shape)
        cases.append({**case, "eps": eps})
    return cases


def _out_only(forward):
    """Your forward may return ``out`` or ``(out, cache)``; keep ``out``."""

    def out(x, gamma, beta, eps):
        result = forward(x, gamma, beta, eps)
        return result[0] if isinstance(result, (tuple, list)) else result

    return out


def _through(forward, backward):
    """``backward(dout, cache)`` with the cache of ``forward(x, gamma, beta, eps)``."""

    def gradients(x, gamma, beta, dout, eps):
        result = forward(x, gamma, beta, eps)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise TypeError(
                f"expected {getattr(forward, '__name__', 'forward')} to return (out, cache), "
                f"got {type(result).__name__}"
            )
        return backward(dout, result[1])

    return gradients


_NORMS = {  # forward, backward, parameter shape for an input shape
    "batchnorm": (norms.batchnorm_forward, norms.batchnorm_backward, lambda s: s[1:2]),
    "layernorm": (norms.layernorm_forward, norms.layernorm_backward, lambda s: s[1:]),
}


def _check_norm_forward(kind, fn, shapes, eps, seed, verbose):
    forward, _, param_shape = _NORMS[kind]
    cases = _norm_cases(shapes, param_shape, eps, seed, with_dout=False)
    name = getattr(fn, "__name__", "your forward")
    return check_function(_out_only(fn), _out_only(forward), cases, ["out"], name, verbose=verbose)


def _check_norm_backward(kind, backward, forward, shapes, eps, seed, verbose):
    ref_forward, ref_backward, param_shape = _NORMS[kind]
    cases = _norm_cases(shapes, param_shape, eps, seed, with_dout=True)
    yours = _through(forward or ref_forward, backward)
    name = getattr(backward, "__name__", "your backward")
    outputs = ["dx", "dgamma", "dbeta"]
    return check_function(
        yours, _through(ref_forward, ref_backward), cases, outputs, name, verbose=verbose
    )


def check_batchnorm_forward(
    fn: Callable, shapes=BATCHNORM_SHAPES, eps: float = 1e-5, seed: int = 0, verbose: bool = True
) -> CheckResult:
    """Check ``fn(x, gamma, beta, eps)`` (returning ``out`` or ``(out, cache)``) against
    :func:`bn.batchnorm_forward`, for x of each shape in ``shapes`` and gamma, beta (C,)."""
    return _check_norm_forward("batchnorm", fn, shapes, eps, seed, verbose)


def check_batchnorm_backward(
    backward: Callable,
    forward: Callable | None = None,
    shapes=BATCHNORM_SHAPES,
    eps: float = 1e-5,
    seed: int = 0,
    verbose: bool = True,
) -> CheckResult:
    """Check ``backward(dout, cache) -> (dx, dgamma, dbeta)`` against :func:`bn.batchnorm_backward`.

    The cache comes from ``forward(x, gamma, beta, eps) -> (out, cache)``: your own
    forward pass, or, if ``forward`` is None, :func:`bn.batchnorm_forward` (whose
    cache has the fields ``x_hat``, ``inv_std``, ``gamma`` ...).
    """
    return _check_norm_backward("batchnorm", backward, forward, shapes, eps, seed, verbose)


def check_layernorm_forward(
    fn: Callable, shapes=LAYERNORM_SHAPES, eps: float = 1e-5, seed: int = 0, verbose: bool = True
) -> CheckResult:
    """Check ``fn(x, gamma, beta, eps)`` against :func:`bn.layernorm_forward`, with gamma
    and beta of shape ``x.shape[1:]`` (each sample normalized over all its features)."""
    return _check_norm_forward("layernorm", fn, shapes, eps, seed, verbose)


def check_layernorm_backward(
    backward: Callable,
    forward: Callable | None = None,
    shapes=LAYERNORM_SHAPES,
    eps: float = 1e-5,
    seed: int = 0,
    verbose: bool = True,
) -> CheckResult:
    """Check ``backward(dout, cache) -> (dx, dgamma, dbeta)`` against :func:`bn.layernorm_backward`;
    the cache comes from ``forward`` as in :func:`check_batchnorm_backward`."""
    return _check_norm_backward("layernorm", backward, forward, shapes, eps, seed, verbose)
