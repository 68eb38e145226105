"""Time batch norm: readable vs fast paths vs PyTorch vs the copy floor. ``python -m bn.bench``.

For each shape it times, in one process and interleaved round by round (so that a busy
machine slows every candidate alike; the readable path in rounds of its own, see
``_median_ms``), the median of ``--repeat`` calls, each right after three untimed calls
of the same function, of:

- ``readable``: :func:`bn.norms.batchnorm_forward` (and ``_backward``,
  ``batchnorm_inference``), the book's code;
- ``fast``: the implementation ``bn.batchnorm_forward`` (``bn.batchnorm_inference``) picks
  for NumPy arrays (:func:`bn.kernels.cpu_kernels`: :mod:`bn.kernels.cpu_numba` where Numba
  is installed, :mod:`bn.kernels.cpu_numpy` otherwise; :func:`bn.kernels.inference_kernels`
  for eval mode), or the readable path on CuPy arrays;
- ``numpy``: :mod:`bn.kernels.cpu_numpy` (:mod:`bn.kernels.cpu_numpy_inference`), the fast
  path in NumPy alone, when ``fast`` is not it (on the CPU only);
- ``torch``: ``torch.nn.functional.batch_norm(x, None, None, weight, bias, training=True)``
  and its backward through autograd; in eval mode ``batch_norm(x, running_mean,
  running_var, weight, bias, training=False)``; if PyTorch is installed (otherwise a note);
- ``floor``: ``np.copyto`` streaming as many bytes as the pass must move. The forward pass
  and eval mode (``inference``) read x and write out (one copy of x); forward plus
  backward also reads dout and x and writes dx (five arrays in all: 2.5 copies, timed as
  one copy scaled by 2.5).

Ratios: fast/torch (< 1: faster than PyTorch), fast/floor (how many copies' time the pass
takes), readable/fast (the speed-up), and numpy/torch and numpy/floor for NumPy alone. ``--threads`` (default 1) sets the BLAS and
OpenMP thread counts, which NumPy reads when it is first imported, so the process
starts itself again with them set; PyTorch gets ``torch.set_num_threads``.

``--device gpu`` times the CuPy path with ``cupyx.profiler.benchmark`` (and PyTorch on
CUDA, if present). Without CuPy or a CUDA device it prints why and exits with status 1,
measuring nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

from . import kernels, norms
from .backend import to_device
from .kernels import cpu_numpy, cpu_numpy_inference

DEFAULT_SHAPES = ((64, 64, 28, 28), (256, 1024), (32, 128, 14, 14))
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
CANDIDATES = ("readable", "numpy", "fast", "torch", "floor")
# Copies of x each pass moves; "inference" is eval mode, with running statistics.
FLOOR_COPIES = {"forward": 1.0, "forward+backward": 2.5, "inference": 1.0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bn.bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--shape", action="append", type=_shape, help="e.g. 64,64,28,28 (repeat the option)"
    )
    parser.add_argument("--dtype", default="float32", choices=["float16", "float32", "float64"])
    parser.add_argument("--repeat", type=int, default=20, help="timed calls per candidate")
    parser.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP/PyTorch threads")
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--plot", metavar="PATH", help="also draw the ratios (matplotlib)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.threads < 1:
        parser.error("--repeat and --threads must be at least 1")
    args.shape = [tuple(s) for s in (args.shape or DEFAULT_SHAPES)]
    return args


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 64,64,28,28, got {text!r}") from None
    if len(shape) < 2 or min(shape) < 1 or math.prod(shape) == shape[1]:
        raise argparse.ArgumentTypeError(
            f"expected at least 2 positive sizes, more than 1 value per channel, got {text!r}"
        )
    return shape


def _restart_with_threads(threads: int, argv: list[str]) -> None:
    """Set the thread-count variables and exec this command again, unless already set."""
    wanted = str(threads)
    if all(os.environ.get(name) == wanted for name in THREAD_VARIABLES):
        return
    env = dict(os.environ, **{name: wanted for name in THREAD_VARIABLES})
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-m", "bn.bench", *argv], env)


def _import_torch(threads: int):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


WARM_CALLS = 3  # untimed calls before each timed one (see _median_ms)


def _median_ms(passes: dict[str, dict], repeat: int, clock) -> dict[str, dict[str, float]]:
    """Median times in ms of every candidate of every pass, interleaved round by round.

    Each timed call follows WARM_CALLS untimed calls of the same function, so it finds
    caches and memory as repeated calls of that function leave them. Right after another
    candidate has freed large arrays, the first two calls of a function ran up to 2x
    slower here (dirty cache lines written back, memory handed back and faulted in again).
    The readable path, with its many large temporaries, is timed in rounds of its own.
    """
    order = [name for name in CANDIDATES if name != "readable"] + ["readable"]
    times = {p: {name: [] for name in order if name in fns} for p, fns in passes.items()}
    for group in (order[:-1], order[-1:]):
        for _ in range(repeat):
            for p, fns in passes.items():
                for name in group:
                    if name in fns:
                        for _ in range(WARM_CALLS):
                            fns[name]()
                        times[p][name].append(clock(fns[name]))
    return {
        p: {name: 1e3 * float(np.median(t)) for name, t in ts.items()} for p, ts in times.items()
    }


def _wall_clock(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _bn_passes(arrays, impl, inference_impl):
    x, gamma, beta, dout, running_mean, running_var = arrays

    def forward():
        return impl.batchnorm_forward(x, gamma, beta)

    def forward_backward():
        return impl.batchnorm_backward(dout, impl.batchnorm_forward(x, gamma, beta)[1])

    def inference():
        return inference_impl.batchnorm_inference(x, gamma, beta, running_mean, running_var)

    return forward, forward_backward, inference


def _torch_passes(torch, arrays, device):
    as_tensor = (lambda a: torch.from_numpy(a)) if device == "cpu" else torch.as_tensor
    tx, tgamma, tbeta, tdout, tmean, tvar = (as_tensor(a) for a in arrays)
    leaves = [t.clone().requires_grad_() for t in (tx, tgamma, tbeta)]
    batch_norm = torch.nn.functional.batch_norm

    def forward():
        return batch_norm(tx, None, None, tgamma, tbeta, training=True, eps=1e-5)

    def forward_backward():
        out = batch_norm(leaves[0], None, None, *leaves[1:], training=True, eps=1e-5)
        return torch.autograd.grad(out, leaves, tdout)

    def inference():  # eval mode; no tensor requires a gradient, so no graph is built
        return batch_norm(tx, tmean, tvar, tgamma, tbeta, training=False, eps=1e-5)

    return forward, forward_backward, inference


def measure(shape, dtype, repeat, device="cpu", torch=None):
    """Times (ms) and ratios for one shape: a list of rows, one per pass of FLOOR_COPIES."""
    rng = np.random.default_rng(0)
    x, dout = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    gamma, beta, running_mean = (rng.standard_normal(shape[1]).astype(dtype) for _ in range(3))
    running_var = rng.uniform(0.5, 2.0, shape[1]).astype(dtype)
    arrays = [x, gamma, beta, dout, 0.1 * running_mean, running_var]
    xp, clock = np, _wall_clock
    if device == "gpu":
        xp, clock = _cupy(), _gpu_clock
        arrays = [to_device(a, "gpu") for a in arrays]
    x, copy_of_x = arrays[0], xp.empty_like(arrays[0])
    candidates = {
        "readable": _bn_passes(arrays, norms, norms),
        "fast": _bn_passes(arrays, kernels, kernels),
        "floor": (lambda: xp.copyto(copy_of_x, x),) * len(FLOOR_COPIES),
    }
    if device == "cpu" and kernels.cpu_kernels() is not cpu_numpy:
        candidates["numpy"] = _bn_passes(arrays, cpu_numpy, cpu_numpy_inference)
    if torch is not None:
        candidates["torch"] = _torch_passes(torch, arrays, device)
    passes = {
        p: {name: fns[i] for name, fns in candidates.items()} for i, p in enumerate(FLOOR_COPIES)
    }
    ms = _median_ms(passes, repeat, clock)
    rows = []
    for p, times in ms.items():
        times["floor"] *= FLOOR_COPIES[p]
        has_torch, has_numpy = "torch" in times, "numpy" in times
        ratios = {
            "fast/torch": times["fast"] / times["torch"] if has_torch else None,
            "fast/floor": times["fast"] / times["floor"],
            "readable/fast": times["readable"] / times["fast"],
            "numpy/torch": times["numpy"] / times["torch"] if has_numpy and has_torch else None,
            "numpy/floor": times["numpy"] / times["floor"] if has_numpy else None,
        }
        rows.append({"shape": list(shape), "pass": p, "ms": times, "ratios": ratios})
    return rows


def _cupy():
    try:
        import cupy
        import cupyx.profiler  # noqa: F401  (the GPU timer)
    except ImportError as err:
        raise RuntimeError(f"--device gpu needs CuPy ({err})") from err
    if not cupy.cuda.is_available():
        raise RuntimeError("--device gpu: CuPy is installed but no CUDA device is available")
    return cupy


def _gpu_clock(fn) -> float:
    import cupyx.profiler

    # GPU time of one call between CUDA events; no warm-up here, _median_ms did it.
    return float(cupyx.profiler.benchmark(fn, n_repeat=1, n_warmup=0).gpu_times[0, 0])


def format_table(rows: list[dict]) -> str:
    """The results as a fixed-width text table."""
    head = ("shape", "pass", *(f"{c} ms" for c in CANDIDATES), *rows[0]["ratios"])
    lines = [head]
    for row in rows:
        ms = [f"{row['ms'][c]:.3f}" if c in row["ms"] else "-" for c in CANDIDATES]
        ratios = [f"{r:.2f}" if r is not None else "-" for r in row["ratios"].values()]
        lines.append(("x".join(map(str, row["shape"])), row["pass"], *ms, *ratios))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(line, widths)) for line in lines)


def fast_path_name(device: str = "cpu") -> str:
    """What ``fast`` is on ``device``: a module name, with Numba's version for cpu_numba."""
    if device != "cpu":
        return "bn.norms"
    module = kernels.cpu_kernels()
    if module is cpu_numpy:
        return module.__name__
    import numba

    return f"{module.__name__} (Numba {numba.__version__})"


def plot(rows: list[dict], path: str) -> None:
    """Bar chart of fast/torch and fast/floor per shape and pass, saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{'x'.join(map(str, r['shape']))}\n{r['pass']}" for r in rows]
    positions = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(rows)), 4))
    for offset, key in [(-0.2, "fast/torch"), (0.2, "fast/floor")]:
        values = [r["ratios"][key] or 0.0 for r in rows]
        ax.bar(positions + offset, values, width=0.4, label=key)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(positions, labels, fontsize=8)
    ax.set_ylabel("time ratio (lower is faster)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    _restart_with_threads(args.threads, argv)
    torch = _import_torch(args.threads)
    if torch is not None and args.device == "gpu" and not torch.cuda.is_available():
        torch = None
    rows = []
    try:
        for shape in args.shape:
            rows += measure(shape, np.dtype(args.dtype), args.repeat, args.device, torch)
    except RuntimeError as err:
        print(f"bn.bench: {err}; nothing was measured", file=sys.stderr)
        return 1
    print(f"{args.device}, {args.dtype}, {args.threads} thread(s), median of {args.repeat} calls")
    print(f"fast = {fast_path_name(args.device)}")
    print(format_table(rows))
    if torch is None:
        print("PyTorch is not installed (or has no CUDA here): its column is skipped.")
    if args.json:
        info = {"device": args.device, "dtype": args.dtype, "threads": args.threads}
        info |= {"repeat": args.repeat, "numpy": np.__version__}
        info["fast"] = fast_path_name(args.device)
        info["torch"] = None if torch is None else torch.__version__
        with open(args.json, "w") as f:
            json.dump({**info, "results": rows}, f, indent=1)
    if args.plot:
        plot(rows, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
